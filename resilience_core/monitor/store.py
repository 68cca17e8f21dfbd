"""The metrics and alerts store: one SQLite file (stdlib ``sqlite3``, WAL), safe for many processes at once.

Every write is one transaction, so a process killed mid-write (SIGKILL included) leaves either all of its
batch or none of it; readers never block writers (WAL). Retention is bounded twice: samples older than
``retention_s`` and rows beyond ``max_rows`` are pruned, at most once a minute per store object.

>>> import tempfile, pathlib, time
>>> store = MetricsStore(pathlib.Path(tempfile.mkdtemp()) / "metrics.db")
>>> from resilience_core.monitor.samples import Sample
>>> now = time.time()
>>> store.write([Sample("disk_usage_percent", 97.0, "percent", ts=now, tags={"path": "/data"})])
1
>>> [(s.name, s.value, dict(s.tags)) for s in store.query("disk_usage_percent", since=now - 60)]
[('disk_usage_percent', 97.0, {'path': '/data'})]

Alerts live beside the samples: at most one *active* alert per key (a unique index guarantees it across
processes), and a delivery row per channel until that channel has it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience_core.monitor.samples import Sample

if TYPE_CHECKING:
    import sqlite3

__all__ = ["Alert", "MetricsStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
    unit TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '{}', instance TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS metrics_name_ts ON metrics (name, ts);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, rule TEXT NOT NULL, metric TEXT NOT NULL, level TEXT NOT NULL,
    value REAL NOT NULL, threshold REAL NOT NULL, message TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '{}',
    instance TEXT NOT NULL DEFAULT '', raised REAL NOT NULL, resolved REAL);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_active ON alerts (key) WHERE resolved IS NULL;
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL, channel TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    delivered REAL, last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY (alert_id, channel));
"""
_PRUNE_EVERY_S = 60.0
_SQL_ACTIVE = (
    "SELECT id, key, rule, metric, level, value, threshold, message, tags, instance, raised, resolved "
    "FROM alerts WHERE resolved IS NULL ORDER BY raised"
)
_SQL_SINCE = (
    "SELECT id, key, rule, metric, level, value, threshold, message, tags, instance, raised, resolved "
    "FROM alerts WHERE raised >= ? ORDER BY raised"
)
_SQL_ACTIVE_KEY = (
    "SELECT id, key, rule, metric, level, value, threshold, message, tags, instance, raised, resolved "
    "FROM alerts WHERE key = ? AND resolved IS NULL"
)
_SQL_INSERT = (
    "INSERT INTO alerts (id, key, rule, metric, level, value, threshold, message, tags, instance, raised, resolved) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
)
_SQL_PENDING = (
    "SELECT a.id, a.key, a.rule, a.metric, a.level, a.value, a.threshold, a.message, a.tags, a.instance, a.raised, "
    "a.resolved, d.channel FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
    "WHERE d.delivered IS NULL AND d.attempts < ? ORDER BY a.raised, d.channel"
)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored; ``resolved`` is None while it is active."""

    id: str
    key: str
    rule: str
    metric: str
    level: str
    value: float
    threshold: float
    message: str
    tags: dict[str, str]
    instance: str
    raised: float
    resolved: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the shape channels send."""
        return {
            "id": self.id,
            "key": self.key,
            "rule": self.rule,
            "metric": self.metric,
            "level": self.level,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "tags": dict(self.tags),
            "instance": self.instance,
            "raised": self.raised,
            "resolved": self.resolved,
        }


class MetricsStore:
    """Samples and alerts in the SQLite file ``path`` (created with its folder on first use).

    ``retention_s`` (default 30 days, the seed's ``metrics_retention_days``) and ``max_rows`` bound the
    samples kept; ``busy_timeout_s`` is how long a writer waits for another process's transaction.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_s: float = 30 * 86400.0,
        max_rows: int = 1_000_000,
        busy_timeout_s: float = 30.0,
        instance: str = "",
    ) -> None:
        self.path = Path(path)
        self.retention_s = retention_s
        self.max_rows = max_rows
        self.busy_timeout_s = busy_timeout_s
        self.instance = instance
        self._last_prune = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        import sqlite3

        # One connection per operation: fork- and thread-safe, and cheap next to a monitor's tick.
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process kill
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back on an exception."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- samples -------------------------------------------------------------------------------------------------

    def write(self, samples: Iterable[Sample]) -> int:
        """Store ``samples`` in one transaction; returns how many. Prunes old rows now and then."""
        rows = [
            (
                s.ts or time.time(),
                s.name,
                float(s.value),
                s.unit,
                json.dumps(dict(s.tags), sort_keys=True),
                self.instance,
            )
            for s in samples
        ]
        if not rows:
            return 0
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO metrics (ts, name, value, unit, tags, instance) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
        now = time.monotonic()
        if now - self._last_prune >= _PRUNE_EVERY_S:
            self._last_prune = now
            self.prune()
        return len(rows)

    def query(
        self, name: str, *, since: float, until: float | None = None, tags: dict[str, str] | None = None
    ) -> list[Sample]:
        """Samples of ``name`` with ``since <= ts <= until``, oldest first; ``tags`` must all match."""
        sql = "SELECT ts, name, value, unit, tags FROM metrics WHERE name = ? AND ts >= ?"
        args: list[Any] = [name, since]
        if until is not None:
            sql += " AND ts <= ?"
            args.append(until)
        with self._connect() as db:
            found = db.execute(sql + " ORDER BY ts, id", args).fetchall()
        out = [Sample(n, v, u, ts, json.loads(t)) for ts, n, v, u, t in found]
        if tags:
            out = [s for s in out if all(s.tags.get(k) == v for k, v in tags.items())]
        return out

    def latest(self, *, since: float = 0.0) -> list[Sample]:
        """The newest sample of every (name, tags) series written since ``since``."""
        sql = (
            "SELECT ts, name, value, unit, tags FROM metrics WHERE id IN "
            "(SELECT MAX(id) FROM metrics WHERE ts >= ? GROUP BY name, tags) ORDER BY name, tags"
        )
        with self._connect() as db:
            return [Sample(n, v, u, ts, json.loads(t)) for ts, n, v, u, t in db.execute(sql, (since,))]

    def count(self, name: str | None = None) -> int:
        """How many samples are kept (of ``name``, or of all)."""
        with self._connect() as db:
            if name is None:
                return int(db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
            return int(db.execute("SELECT COUNT(*) FROM metrics WHERE name = ?", (name,)).fetchone()[0])

    def prune(self, *, now: float | None = None) -> int:
        """Drop samples older than ``retention_s`` and the oldest beyond ``max_rows``; returns how many."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        with self.transaction() as db:
            gone = db.execute("DELETE FROM metrics WHERE ts < ?", (cutoff,)).rowcount
            over = int(db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]) - self.max_rows
            if over > 0:
                gone += db.execute(
                    "DELETE FROM metrics WHERE id IN (SELECT id FROM metrics ORDER BY id LIMIT ?)", (over,)
                ).rowcount
        return int(gone)

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check`` answer (``"ok"`` when the file is sound)."""
        with self._connect() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- alerts --------------------------------------------------------------------------------------------------

    @staticmethod
    def _alert(row: Sequence[Any]) -> Alert:
        alert_id, key, rule, metric, level, value, threshold, message, tags, instance, raised, resolved = row
        return Alert(
            alert_id, key, rule, metric, level, value, threshold, message, json.loads(tags), instance, raised, resolved
        )

    def active_alerts(self) -> list[Alert]:
        """Alerts not resolved yet, oldest first."""
        with self._connect() as db:
            rows = db.execute(_SQL_ACTIVE)
            return [self._alert(r) for r in rows]

    def alerts(self, *, since: float = 0.0) -> list[Alert]:
        """Every alert raised since ``since``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                _SQL_SINCE,
                (since,),
            )
            return [self._alert(r) for r in rows]

    def raise_alert(self, alert: Alert, channels: Sequence[str]) -> bool:
        """Record ``alert`` unless an active alert with its key and level exists; True when it is new.

        An active alert of the same key at another level is resolved first (an escalation or a de-escalation is
        a new alert). One delivery row per channel is queued with it, in the same transaction.
        """
        with self.transaction() as db:
            active = db.execute("SELECT level FROM alerts WHERE key = ? AND resolved IS NULL", (alert.key,)).fetchone()
            if active is not None and active[0] == alert.level:
                return False
            if active is not None:
                db.execute(
                    "UPDATE alerts SET resolved = ? WHERE key = ? AND resolved IS NULL", (alert.raised, alert.key)
                )
            db.execute(
                _SQL_INSERT,
                (
                    alert.id,
                    alert.key,
                    alert.rule,
                    alert.metric,
                    alert.level,
                    alert.value,
                    alert.threshold,
                    alert.message,
                    json.dumps(alert.tags, sort_keys=True),
                    alert.instance,
                    alert.raised,
                ),
            )
            db.executemany(
                "INSERT INTO deliveries (alert_id, channel) VALUES (?, ?)", [(alert.id, name) for name in channels]
            )
        return True

    def resolve_alert(self, key: str, *, at: float) -> Alert | None:
        """Resolve the active alert of ``key``; returns it (None when there was none)."""
        with self.transaction() as db:
            row = db.execute(
                _SQL_ACTIVE_KEY,
                (key,),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE alerts SET resolved = ? WHERE id = ?", (at, row[0]))
        return dataclasses.replace(self._alert(row), resolved=at)

    def pending_deliveries(self, *, max_attempts: int) -> list[tuple[Alert, str]]:
        """(alert, channel) pairs not delivered yet and tried fewer than ``max_attempts`` times."""
        with self._connect() as db:
            rows = db.execute(
                _SQL_PENDING,
                (max_attempts,),
            ).fetchall()
        return [(self._alert(r[:-1]), r[-1]) for r in rows]

    def record_delivery(self, alert_id: str, channel: str, *, delivered_at: float | None, error: str = "") -> None:
        """Count one delivery attempt; ``delivered_at`` None means it failed with ``error``."""
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, delivered = ?, last_error = ? "
                "WHERE alert_id = ? AND channel = ?",
                (delivered_at, error[:1000], alert_id, channel),
            )

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery row (alert id, channel, attempts, delivered time, last error)."""
        with self._connect() as db:
            rows = db.execute("SELECT alert_id, channel, attempts, delivered, last_error FROM deliveries").fetchall()
        keys = ("alert_id", "channel", "attempts", "delivered", "last_error")
        return [dict(zip(keys, row, strict=True)) for row in rows]
