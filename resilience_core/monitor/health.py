"""What ``/health`` answers: machine probes and the model cache's verify status, each check naming its fix.

>>> service = HealthService(disk_paths=["."], disk_usage_percent=100.0, memory_usage_percent=100.0)
>>> [c.name for c in service.checks()]
['disk[.]', 'memory']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from resilience_core.health import HealthCheck

if TYPE_CHECKING:
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.hub.catalog import ModelHealth, ModelWatch
    from resilience_core.monitor.store import MetricsStore

__all__ = ["HealthCheck", "HealthService"]


class HealthService:
    """The checks behind the health endpoint.

    ``disk_paths`` must stay below ``disk_usage_percent`` used, memory below ``memory_usage_percent``
    (the config's ``monitoring.alert_thresholds`` by :meth:`from_config`); ``models`` (a
    :class:`~resilience_core.hub.catalog.ModelWatch`) must have every critical model verified and unmarked;
    ``store`` must pass SQLite's integrity check. ``extra`` checks are callables returning a HealthCheck.
    """

    def __init__(
        self,
        *,
        disk_paths: Sequence[str | os.PathLike[str]] = (),
        disk_usage_percent: float = 95.0,
        memory_usage_percent: float = 90.0,
        models: ModelWatch | None = None,
        store: MetricsStore | None = None,
        extra: Sequence[Callable[[], HealthCheck]] = (),
    ) -> None:
        self.disk_paths = [os.fspath(p) for p in disk_paths]
        self.disk_usage_percent = disk_usage_percent
        self.memory_usage_percent = memory_usage_percent
        self.models = models
        self.store = store
        self.extra = list(extra)

    @classmethod
    def from_config(cls, config: ReliabilityConfig, **options: Any) -> HealthService:
        """Thresholds from ``monitoring.alert_thresholds``."""
        thresholds = config.monitoring.alert_thresholds
        return cls(
            disk_usage_percent=thresholds.disk_usage_percent,
            memory_usage_percent=thresholds.memory_usage_percent,
            **options,
        )

    def _disk(self, path: str) -> HealthCheck:
        import psutil

        probe = os.path.abspath(path)
        while not os.path.exists(probe) and os.path.dirname(probe) != probe:
            probe = os.path.dirname(probe)
        usage = psutil.disk_usage(probe)
        detail = f"{usage.percent:.1f}% used, {usage.free / 1e9:.2f} GB free"
        if usage.percent < self.disk_usage_percent:
            return HealthCheck(f"disk[{path}]", True, detail)
        return HealthCheck(
            f"disk[{path}]",
            False,
            detail + f" (limit {self.disk_usage_percent:g}%)",
            f"free space on the filesystem holding {path}: run `resilience models gc --aggressive`, or remove files",
        )

    def _memory(self) -> HealthCheck:
        import psutil

        memory = psutil.virtual_memory()
        detail = f"{memory.percent:.1f}% used, {memory.available / 1e9:.2f} GB available"
        if memory.percent < self.memory_usage_percent:
            return HealthCheck("memory", True, detail)
        return HealthCheck(
            "memory", False, detail + f" (limit {self.memory_usage_percent:g}%)", "close programs or add memory"
        )

    def _store(self) -> HealthCheck:
        assert self.store is not None
        try:
            answer = self.store.integrity_check()
        except Exception as error:  # noqa: BLE001 -- any failure to read the store is the finding
            answer = f"{type(error).__name__}: {error}"
        if answer == "ok":
            return HealthCheck("metrics_store", True, f"{self.store.path}: integrity ok")
        return HealthCheck(
            "metrics_store", False, f"{self.store.path}: {answer}", "move the damaged file aside; a new one is created"
        )

    def model_health(self) -> list[ModelHealth]:
        """Every catalog model's health (empty without ``models``)."""
        return self.models.check() if self.models is not None else []

    def checks(self, model_health: Sequence[ModelHealth] | None = None) -> list[HealthCheck]:
        """Run every check once."""
        out = [self._disk(path) for path in self.disk_paths]
        out.append(self._memory())
        if self.store is not None:
            out.append(self._store())
        health = self.model_health() if model_health is None and self.models is not None else (model_health or [])
        for item in health:
            if not item.ref.critical:
                continue
            detail = f"{item.state}, {item.checked_files} file(s) checked" + (
                f": {'; '.join(item.problems)}" if item.problems else ""
            )
            fix = "" if item.ok else f"run `resilience models ensure --only {item.ref.label}`"
            out.append(HealthCheck(f"model[{item.ref.label}]", item.ok, detail, fix))
        out.extend(check() for check in self.extra)
        return out

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the ``/health`` body)."""
        checks = self.checks()
        ok = all(c.ok for c in checks)
        return ok, {"status": "healthy" if ok else "unhealthy", "checks": [c.to_dict() for c in checks]}

    def models_report(self) -> tuple[bool, dict[str, Any]]:
        """(every critical model ok, the ``/health/models`` body with its ``summary``)."""
        health = self.model_health()
        states: dict[str, int] = {}
        for item in health:
            states[item.state] = states.get(item.state, 0) + 1
        ok = all(h.ok for h in health if h.ref.critical)
        summary = {
            "total": len(health),
            "healthy": sum(h.ok for h in health),
            "states": states,
            "status": "healthy" if ok else "unhealthy",
        }
        return ok, {"summary": summary, "models": [h.to_dict() for h in health]}
