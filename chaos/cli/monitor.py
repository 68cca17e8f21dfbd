"""``resilience monitor serve|check|status``: the health endpoint, one or more monitoring ticks, the store's view.

::

    resilience monitor serve --monitoring monitoring.toml --catalog catalog.toml      # 127.0.0.1:8000
    curl -f http://127.0.0.1:8000/health
    resilience monitor check --monitoring monitoring.toml --count 3 --interval 1
    resilience monitor status --monitoring monitoring.toml

``serve`` binds loopback unless ``--allow-remote`` is given, and ticks the monitor every
``check_interval_seconds`` in the background (``--no-ticks`` to only answer). ``check`` prints one JSON line
per tick (samples, alerts raised and resolved, deliveries).
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import TYPE_CHECKING, Any

from chaos.cli.serving import StopRequested, check_bind_host, parse_port, report_stopped, wait_for_stop

if TYPE_CHECKING:
    from resilience_core.config.reliability import ReliabilityConfig
    from resilience_core.monitor.settings import MonitorSettings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``monitor`` command group to the ``resilience`` parser."""
    monitor = subparsers.add_parser("monitor", help="metrics, alerts and the /health endpoint")
    actions = monitor.add_subparsers(dest="monitor_command", required=True, metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        cmd.add_argument("--config", default=None, help="reliability config (thresholds; default: built-in)")
        cmd.add_argument("--monitoring", default=None, help="monitoring settings (.json/.toml; default: built-in)")
        return cmd

    serve = action("serve", "answer /health, /health/models and /metrics")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=parse_port, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    serve.add_argument("--catalog", default=None, help="models whose verify status /health includes")
    serve.add_argument("--no-ticks", action="store_true", help="do not run the monitor in the background")
    serve.set_defaults(func=_serve, serves=True)  # stops like every resilience server (chaos.cli.serving)
    check = action("check", "run monitoring ticks now: sample, store, evaluate, alert")
    check.add_argument("--count", type=int, default=1, help="how many ticks (default 1)")
    check.add_argument("--interval", type=float, default=0.0, help="seconds between ticks")
    check.add_argument("--instance", default="", help="this machine's name in alerts")
    check.set_defaults(func=_check)
    status = action("status", "the newest samples and the active alerts in the store")
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.set_defaults(func=_status)


def _load(args: argparse.Namespace) -> tuple[ReliabilityConfig, MonitorSettings]:
    from resilience_core.config.reliability import load_config
    from resilience_core.monitor.settings import MonitorSettings

    config = load_config(args.config)
    return config, MonitorSettings.load(args.monitoring, config=config)


def _serve(args: argparse.Namespace) -> int:
    from resilience_core.hub.catalog import Catalog, ModelWatch
    from resilience_core.monitor.health import HealthService
    from resilience_core.monitor.prometheus import exposition
    from resilience_core.monitor.server import HealthServer

    check_bind_host(args.host, allow_remote=args.allow_remote)  # before anything is created: no database left behind
    config, settings = _load(args)
    store = settings.store()
    watch = ModelWatch(Catalog.load(args.catalog)) if args.catalog else None
    service = HealthService.from_config(config, disk_paths=settings.disk_paths, models=watch, store=store)
    server = HealthServer(
        service, host=args.host, port=args.port, allow_remote=args.allow_remote, metrics=lambda: exposition(store)
    )
    stop = threading.Event()
    with server:
        ticker = None
        if settings.enabled and not args.no_ticks:
            monitor = settings.build()
            ticker = threading.Thread(
                target=monitor.run, args=(settings.check_interval_s,), kwargs={"stop": stop}, daemon=True
            )
            ticker.start()
        print(f"monitor serving on {server.url} (/health, /health/models, /metrics)", flush=True)
        signum = wait_for_stop()
        stop.set()
        if ticker is not None:
            ticker.join(5)
    report_stopped("monitor", signum)
    raise StopRequested(signum)


def _check(args: argparse.Namespace) -> int:
    import time

    from resilience_core.errors import ConfigError

    if args.count < 1 or args.interval < 0:
        raise ConfigError(
            f"--count={args.count} must be >= 1 and --interval={args.interval} >= 0",
            field="count",
            value=args.count,
            source="argument",
            allowed="count >= 1, interval >= 0",
        )
    _config, settings = _load(args)
    monitor = settings.build(instance=args.instance)
    for index in range(args.count):
        if index:
            time.sleep(args.interval)
        result = monitor.tick()
        if settings.pushgateway is not None:
            from resilience_core.monitor.prometheus import push

            push(monitor.store, settings.pushgateway["url"], job=settings.pushgateway["job"])
        line = {
            "tick": index,
            "at": result.at,
            "samples": result.samples,
            "raised": [a.to_dict() for a in result.raised],
            "resolved": [a.to_dict() for a in result.resolved],
            "delivered": [list(d) for d in result.delivered],
            "failed_deliveries": [list(f) for f in result.failed_deliveries],
            "collector_errors": list(result.collector_errors),
        }
        print(json.dumps(line, sort_keys=True), flush=True)
    return 0


def _status(args: argparse.Namespace) -> int:
    _config, settings = _load(args)
    store = settings.store()
    latest = [
        {"name": s.name, "value": s.value, "unit": s.unit, "ts": s.ts, "tags": dict(s.tags)} for s in store.latest()
    ]
    active = [a.to_dict() for a in store.active_alerts()]
    if args.json:
        print(json.dumps({"latest": latest, "active_alerts": active}, indent=2, sort_keys=True))
        return 0
    for sample in store.latest():
        tags = ",".join(f"{k}={v}" for k, v in sorted(sample.tags.items()))
        print(f"{sample.name}{'{' + tags + '}' if tags else ''} = {sample.value:g} {sample.unit}")
    print(f"active alerts: {len(active)}")
    for alert in active:
        print(f"  [{alert['level'].upper()}] {alert['message']}")
    return 0
