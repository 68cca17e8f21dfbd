"""Source fallback: after repeated failures on one endpoint, switch ``params["endpoint"]`` to the next mirror.

The mirrors come from ``recovery.alternative_sources``. Each call keeps its own list of tried endpoints, so a
switch in one call never moves another call off its mirror.

>>> from resilience_core.recovery.clock import FakeClock
>>> from resilience_core.recovery.runtime import Runtime
>>> seen = []
>>> def fetch(endpoint):
...     seen.append(endpoint)
...     if endpoint == "http://a":
...         raise ConnectionRefusedError(111, "Connection refused")
...     return endpoint
>>> rt = Runtime(strategies=[SourceFallbackStrategy(["http://a", "http://b"], switch_after_failures=1)],
...              clock=FakeClock())
>>> rt.run(fetch, params={"endpoint": "http://a"})
'http://b'
"""

from __future__ import annotations

from collections.abc import Iterable

from resilience_core.recovery.strategies.base import Attempt
from resilience_core.recovery.taxonomy import ErrorContext, FailureType, RecoveryResult

__all__ = ["SourceFallbackStrategy"]

_HANDLES = frozenset(
    {
        FailureType.NETWORK_CONNECTIVITY_LOSS,
        FailureType.NETWORK_TIMEOUT,
        FailureType.BANDWIDTH_LIMITATION,
        FailureType.HTTP_ERROR,
        FailureType.MODEL_DOWNLOAD_FAILURE,
        FailureType.DEPENDENCY_INSTALL_FAILURE,
    }
)


def _norm(url: str) -> str:
    return url.rstrip("/")


class SourceFallbackStrategy:
    """Switch the call's ``param`` (default ``"endpoint"``) to the next source after ``switch_after_failures``.

    Below the threshold it hands over to the next strategy (normally ``retry``) and the call stays put. An
    endpoint that is not one of ``sources`` is never switched away from.
    """

    name = "source"
    failure_types = _HANDLES

    def __init__(
        self,
        sources: Iterable[str],
        *,
        param: str = "endpoint",
        switch_after_failures: int = 2,
        handles: Iterable[FailureType] = _HANDLES,
    ) -> None:
        self.sources = tuple(_norm(s) for s in sources)
        self.param = param
        self.switch_after_failures = max(1, switch_after_failures)
        self.handles = frozenset(handles)
        # Frozen, so one result serves every call without the parameter (the common case for non-download steps).
        self._no_param_for = param
        self._no_param = RecoveryResult(False, self.name, message=f"the call has no {param!r} parameter to switch")

    def can_handle(self, ctx: ErrorContext) -> bool:
        return (
            bool(self.sources) and ctx.failure_type in self.handles and ctx.details.get("retryable", True) is not False
        )

    def recover(self, ctx: ErrorContext, attempt: Attempt) -> RecoveryResult:
        current = attempt.params.get(self.param)
        if not isinstance(current, str):
            if self._no_param_for != self.param:  # the attribute was changed after construction
                self._no_param_for = self.param
                self._no_param = RecoveryResult(
                    False, self.name, message=f"the call has no {self.param!r} parameter to switch"
                )
            return self._no_param
        if attempt.attempts_left <= 0:
            return RecoveryResult(False, self.name, message="no attempts left to try another source")
        here = _norm(current)
        if here not in self.sources:
            # The caller chose this endpoint deliberately (a local hub, a private mirror): never leave it for
            # a public one it did not list.
            return RecoveryResult(False, self.name, message=f"{current} is not one of the alternative sources")
        state = attempt.scratch.setdefault(self.name, {"failures": 0, "tried": [here]})
        state["failures"] += 1
        if state["failures"] < self.switch_after_failures:
            return RecoveryResult(
                False,
                self.name,
                message=f"staying on {current} ({state['failures']} of {self.switch_after_failures} failures)",
            )
        tried: list[str] = state["tried"]
        candidates = [s for s in self.sources if s not in tried]
        if not candidates:
            return RecoveryResult(False, self.name, message=f"every source was tried: {', '.join(tried)}")
        # Prefer the mirror listed after the current one, wrapping around, so the configured order is kept.
        index = self.sources.index(here)
        ordered = [*self.sources[index + 1 :], *self.sources[:index]]
        candidates = [s for s in ordered if s not in tried] or candidates
        nxt = candidates[0]
        tried.append(nxt)
        state["failures"] = 0
        attempt.set_param(self.param, nxt)
        return RecoveryResult(True, self.name, message=f"switched {self.param} from {current} to {nxt}")
