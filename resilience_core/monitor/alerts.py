"""The monitor's loop body: take samples, store them, judge the rules, raise and resolve alerts, deliver them.

Alerts are deduplicated in the store (one active alert per rule and series, across processes): a breach that
persists raises one alert, not one per tick; an escalation from warning to critical raises a new one; an alert
resolves as soon as its rule is satisfied again. Every new alert is queued for every channel and delivered
until that channel accepts it (``max_delivery_attempts`` ticks at most), so a receiver that is down for a
while still gets it.

>>> import tempfile, pathlib, time
>>> from resilience_core.monitor.samples import Sample
>>> from resilience_core.monitor.rules import ThresholdRule
>>> from resilience_core.monitor.store import MetricsStore
>>> store = MetricsStore(pathlib.Path(tempfile.mkdtemp()) / "metrics.db")
>>> readings = iter([97.0, 98.0, 99.0])
>>> monitor = Monitor(store, [lambda now: [Sample("disk_usage_percent", next(readings), ts=now)]],
...                   [ThresholdRule("disk_usage_percent", critical=95.0, min_occurrences=2)])
>>> start = time.time()
>>> [len(monitor.tick(now=start + t).raised) for t in (1.0, 2.0, 3.0)]  # two breaches raise it, once
[0, 1, 0]
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from resilience_core.monitor.channels import AlertChannel
from resilience_core.monitor.rules import Breach, ThresholdRule, evaluate_rules
from resilience_core.monitor.samples import Collector, Sample
from resilience_core.monitor.store import Alert, MetricsStore

__all__ = ["Monitor", "TickResult"]

_log = logging.getLogger("resilience_core.monitor")


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one :meth:`Monitor.tick` did."""

    at: float
    samples: int
    raised: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()
    delivered: tuple[tuple[str, str], ...] = ()
    failed_deliveries: tuple[tuple[str, str, str], ...] = ()
    collector_errors: tuple[str, ...] = field(default_factory=tuple)


def _message(breach: Breach, level: str) -> str:
    rule = breach.rule
    series = ", ".join(f"{k}={v}" for k, v in sorted(breach.tags.items()))
    where = f" ({series})" if series else ""
    verb = rule.comparison.replace("_", " ")
    return (
        f"{rule.metric}{where} is {breach.value:g}, {verb} the {level} threshold {rule.threshold_of(level):g} "
        f"({breach.occurrences} time(s) in {rule.window_s:g} s)"
    )


class Monitor:
    """Collectors, a store, rules and channels; :meth:`tick` does one round, :meth:`run` repeats it.

    ``instance`` names this machine in alerts; ``now`` (wall clock, Unix seconds) is injectable.
    """

    def __init__(
        self,
        store: MetricsStore,
        collectors: Iterable[Collector] = (),
        rules: Iterable[ThresholdRule] = (),
        channels: Iterable[AlertChannel] = (),
        *,
        instance: str = "",
        max_delivery_attempts: int = 10,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.collectors = list(collectors)
        self.rules = list(rules)
        self.channels = {channel.name: channel for channel in channels}
        self.instance = instance
        self.max_delivery_attempts = max_delivery_attempts
        self._now = now or time.time

    def collect(self, now: float) -> tuple[list[Sample], list[str]]:
        """Every collector's samples (a collector that raises is reported, not fatal)."""
        samples: list[Sample] = []
        errors: list[str] = []
        for collector in self.collectors:
            try:
                samples.extend(collector(now))
            except Exception as error:  # noqa: BLE001 -- one broken probe must not stop the others
                name = getattr(collector, "__qualname__", repr(collector))
                errors.append(f"{name}: {type(error).__name__}: {error}")
                _log.warning("collector %s failed: %s", name, error)
        return samples, errors

    def evaluate(self, now: float) -> tuple[list[Alert], list[Alert]]:
        """Judge every rule; returns (alerts raised, alerts resolved) by this call."""
        raised: list[Alert] = []
        resolved: list[Alert] = []
        for breach in evaluate_rules(self.store, self.rules, now=now):
            if breach.level is None:
                gone = self.store.resolve_alert(breach.key, at=now)
                if gone is not None:
                    resolved.append(gone)
                continue
            alert = Alert(
                id=uuid.uuid4().hex,
                key=breach.key,
                rule=breach.rule.name,
                metric=breach.rule.metric,
                level=breach.level,
                value=float(breach.value if breach.value is not None else 0.0),
                threshold=breach.rule.threshold_of(breach.level),
                message=_message(breach, breach.level),
                tags=dict(breach.tags),
                instance=self.instance,
                raised=now,
                resolved=None,
            )
            if self.store.raise_alert(alert, sorted(self.channels)):
                raised.append(alert)
        return raised, resolved

    def deliver(self) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
        """Send every queued alert to its channel; returns (delivered, failed) as (alert id, channel[, error])."""
        delivered: list[tuple[str, str]] = []
        failed: list[tuple[str, str, str]] = []
        for alert, name in self.store.pending_deliveries(max_attempts=self.max_delivery_attempts):
            channel = self.channels.get(name)
            if channel is None:
                continue  # queued by a monitor with another channel set; that one delivers it
            try:
                channel.send(alert)
            except Exception as error:  # noqa: BLE001 -- a failed channel is retried next tick, never fatal
                text = f"{type(error).__name__}: {error}"
                self.store.record_delivery(alert.id, name, delivered_at=None, error=text)
                failed.append((alert.id, name, text))
                _log.warning("alert %s not delivered to %s: %s", alert.id, name, text)
            else:
                self.store.record_delivery(alert.id, name, delivered_at=self._now())
                delivered.append((alert.id, name))
        return delivered, failed

    def tick(self, *, now: float | None = None) -> TickResult:
        """One round: collect, store, evaluate, deliver."""
        moment = self._now() if now is None else now
        samples, errors = self.collect(moment)
        written = self.store.write([s if s.ts else Sample(s.name, s.value, s.unit, moment, s.tags) for s in samples])
        raised, resolved = self.evaluate(moment)
        delivered, failed = self.deliver()
        return TickResult(
            moment, written, tuple(raised), tuple(resolved), tuple(delivered), tuple(failed), tuple(errors)
        )

    def run(
        self, interval_s: float, *, stop: threading.Event, on_tick: Callable[[TickResult], object] | None = None
    ) -> None:
        """Tick every ``interval_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            result = self.tick()
            if on_tick is not None:
                on_tick(result)
            stop.wait(interval_s)
