"""``resilience models ...``: the model orchestrator runbook's commands over :mod:`resilience_core.hub`.

::

    resilience models status --catalog catalog.toml --critical-only
    resilience models verify --all --report-only
    resilience models mark-corrupted --model-list /tmp/corrupted-models.txt
    resilience models ensure --force-redownload --model-list /tmp/corrupted-models.txt
    resilience models gc --aggressive
    resilience models report --daily

A model is ``repo_id@revision``. The models come from ``--only`` or ``--model-list``, else from the catalog
(``--catalog``) plus every revision found in the cache. Exit status: 0 all well; 1 a model failed (verify,
ensure) ; 2 bad input, one line naming the fix.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience_core.hub.catalog import Catalog, ModelRef

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``models`` command group to the ``resilience`` parser."""
    models = subparsers.add_parser("models", help="status, verify, ensure, gc and reports of the model cache")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    def action(name: str, text: str, *, select: bool = True) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        cmd.add_argument("--catalog", default=None, help="the models this installation needs (.toml/.json)")
        cmd.add_argument("--cache-dir", default=None, help="the model cache (default: the catalog's, else HF's)")
        cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if select:
            cmd.add_argument("--only", default=None, help="comma-separated repo_id@revision list")
            cmd.add_argument("--model-list", default=None, help="a file of repo_id@revision lines")
            cmd.add_argument("--critical-only", action="store_true", help="only the catalog's critical models")
        return cmd

    status = action("status", "each model's state on disk (sizes only; no hashing)")
    status.add_argument("--failed-only", action="store_true", help="only models not complete")
    status.set_defaults(func=_status)
    verify = action("verify", "hash every file against the hub's published hashes")
    verify.add_argument("--all", action="store_true", help="every model of the catalog and the cache")
    verify.add_argument("--report-only", action="store_true", help="report; do not mark failed models corrupted")
    verify.set_defaults(func=_verify)
    mark = action("mark-corrupted", "declare models unusable until they are ensured again")
    mark.add_argument("--reason", default="marked by an operator", help="kept with the mark")
    mark.set_defaults(func=_mark)
    ensure = action("ensure", "download what is missing or corrupt, verified")
    ensure.add_argument("--all", action="store_true", help="every model of the catalog")
    ensure.add_argument("--force-redownload", action="store_true", help="drop the models' bytes first")
    ensure.add_argument("--source", action="append", default=None, help="hub or mirror URL (repeatable)")
    ensure.add_argument("--timeout", type=float, default=30.0, help="seconds per network operation")
    ensure.set_defaults(func=_ensure)
    gc = action("gc", "remove orphaned partials, unheld locks and (aggressive) unreferenced blobs", select=False)
    mode = gc.add_mutually_exclusive_group()
    mode.add_argument("--auto", action="store_true", help="safe cleanup: temp files older than an hour (default)")
    mode.add_argument("--aggressive", action="store_true", help="also resumable partials and unreferenced blobs")
    gc.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    gc.set_defaults(func=_gc)
    report = action("report", "the daily report or the storage report", select=False)
    kind = report.add_mutually_exclusive_group(required=True)
    kind.add_argument("--daily", action="store_true", help="states, failures, marks, the last day's alerts")
    kind.add_argument("--storage", action="store_true", help="bytes per repository and free space")
    report.add_argument("--db", default=None, help="the monitor's metrics database (alerts for --daily)")
    report.set_defaults(func=_report)


def _catalog(args: argparse.Namespace) -> Catalog:
    import dataclasses
    from pathlib import Path

    from resilience_core.hub.catalog import Catalog

    catalog = Catalog.load(args.catalog) if args.catalog else Catalog(source="defaults")
    if args.cache_dir:
        catalog = dataclasses.replace(catalog, cache_dir=Path(args.cache_dir))
    return catalog


def _selected(args: argparse.Namespace, catalog: Catalog, *, include_cache: bool = True) -> list[ModelRef]:
    from resilience_core.hub.catalog import ModelRef, parse_model_list

    only: list[ModelRef] = []
    if getattr(args, "only", None):
        only += [ModelRef.parse(part, source="--only") for part in args.only.split(",") if part.strip()]
    if getattr(args, "model_list", None):
        only += parse_model_list(args.model_list)
    return catalog.select(only, critical_only=getattr(args, "critical_only", False), include_cache=include_cache)


def _need_selection(args: argparse.Namespace, command: str) -> None:
    from resilience_core.errors import ConfigError

    if not (args.only or args.model_list or getattr(args, "all", False) or args.catalog):
        raise ConfigError(
            f"{command} needs the models to act on; fix: pass --all, --only repo@rev[,...], --model-list FILE "
            "or --catalog FILE",
            field="models",
            value=None,
            source="argument",
            allowed="--all, --only, --model-list or --catalog",
        )


def _emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print("\n".join(lines) if lines else "(no models)")


def _status(args: argparse.Namespace) -> int:
    from resilience_core.hub.catalog import CorruptionMarks
    from resilience_core.hub.maintenance import status

    catalog = _catalog(args)
    marks = CorruptionMarks(catalog.cache_dir).marked()
    rows: list[dict[str, Any]] = []
    for ref in _selected(args, catalog):
        found = status(catalog.cache_dir, repo_id=ref.repo_id, revision=ref.revision)[0]
        state = "corrupted" if ref.label in marks else found.state.value
        rows.append(
            {
                "model": ref.label,
                "critical": ref.critical,
                "state": state,
                "files": f"{found.files_present}/{found.files_total}",
                "bytes_present": found.bytes_present,
                "bytes_total": found.bytes_total,
                "partial_bytes": found.partial_bytes,
            }
        )
    if args.failed_only:
        rows = [row for row in rows if row["state"] != "complete"]
    lines = [
        f"{r['model']:<48} {r['state'].upper():<14} {r['files']:>7} files {r['bytes_present']:>14} bytes"
        + ("  critical" if r["critical"] else "")
        for r in rows
    ]
    _emit(args, {"models": rows}, lines)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from resilience_core.hub.catalog import CorruptionMarks, health_of
    from resilience_core.hub.verify import verify_model

    _need_selection(args, "verify")
    catalog = _catalog(args)
    marks = CorruptionMarks(catalog.cache_dir)
    results = []
    for ref in _selected(args, catalog):
        verification = verify_model(ref.repo_id, ref.revision, cache_dir=catalog.cache_dir)
        results.append(health_of(ref, verification, None))
    failed = [h for h in results if not h.ok]
    if failed and not args.report_only:
        marks.mark(
            [h.ref for h in failed], reason="verify found: " + "; ".join(p for h in failed for p in h.problems)[:500]
        )
    lines = [f"{h.ref.label:<48} {'OK' if h.ok else 'FAILED':<7} {'; '.join(h.problems)}" for h in results]
    summary = {
        "checked": len(results),
        "failed": len(failed),
        "marked": [] if args.report_only else [h.ref.label for h in failed],
    }
    _emit(args, {"summary": summary, "models": [h.to_dict() for h in results]}, lines)
    return 1 if failed else 0


def _mark(args: argparse.Namespace) -> int:
    from resilience_core.errors import ConfigError
    from resilience_core.hub.catalog import CorruptionMarks

    if not (args.only or args.model_list):
        raise ConfigError(
            "mark-corrupted needs the models; fix: pass --model-list FILE or --only repo@rev[,...]",
            field="models",
            value=None,
            source="argument",
            allowed="--model-list or --only",
        )
    catalog = _catalog(args)
    labels = CorruptionMarks(catalog.cache_dir).mark(_selected(args, catalog), reason=args.reason)
    _emit(args, {"marked": labels}, [f"marked corrupted: {label}" for label in labels])
    return 0


def _ensure(args: argparse.Namespace) -> int:
    from resilience_core.errors import RecoveryFailed
    from resilience_core.hub.catalog import CorruptionMarks, remove_revision
    from resilience_core.hub.ensure import ensure_model

    _need_selection(args, "ensure")
    catalog = _catalog(args)
    sources = args.source or list(catalog.sources) or None
    marks = CorruptionMarks(catalog.cache_dir)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    rows: list[dict[str, Any]] = []
    for ref in _selected(args, catalog, include_cache=False):
        removed = remove_revision(ref, catalog.cache_dir) if args.force_redownload else 0
        try:
            result = ensure_model(
                ref.repo_id, ref.revision, sources=sources, cache_dir=catalog.cache_dir, timeout_s=args.timeout
            )
        except RecoveryFailed as error:
            rows.append(
                {"model": ref.label, "ok": False, "error": error.user_message, "steps": list(error.actionable_steps)}
            )
            continue
        marks.clear([ref])
        rows.append(
            {
                "model": ref.label,
                "ok": True,
                "commit": result.commit,
                "downloaded_bytes": result.downloaded_bytes,
                "reused_bytes": result.reused_bytes,
                "repaired": list(result.repaired),
                "removed_bytes": removed,
            }
        )
    lines = [
        f"{r['model']:<48} " + (f"OK downloaded {r['downloaded_bytes']} bytes" if r["ok"] else f"FAILED {r['error']}")
        for r in rows
    ]
    _emit(args, {"models": rows}, lines)
    return 0 if all(r["ok"] for r in rows) else 1


def _gc(args: argparse.Namespace) -> int:
    from resilience_core.hub.maintenance import gc

    catalog = _catalog(args)
    if args.aggressive:
        report = gc(catalog.cache_dir, keep_partials=False, unreferenced_blobs=True, dry_run=args.dry_run)
    else:
        report = gc(catalog.cache_dir, keep_partials=True, older_than_s=3600.0, dry_run=args.dry_run)
    data: dict[str, Any] = {
        "mode": "aggressive" if args.aggressive else "auto",
        "dry_run": report.dry_run,
        "removed": [str(p) for p in report.removed],
        "freed_bytes": report.freed_bytes,
        "skipped_locked": [str(p) for p in report.skipped_locked],
    }
    verb = "would free" if report.dry_run else "freed"
    _emit(args, data, [*(f"removed {p}" for p in data["removed"]), f"{verb} {report.freed_bytes} bytes"])
    return 0


def _report(args: argparse.Namespace) -> int:
    import time

    from resilience_core.hub.catalog import ModelWatch, daily_report, storage_report

    catalog = _catalog(args)
    if args.storage:
        data = storage_report(catalog.cache_dir)
        lines = [f"{r['repo_id']:<48} {r['blob_bytes']:>14} bytes  partial {r['partial_bytes']}" for r in data["repos"]]
        lines.append(f"total {data['total_bytes']} bytes; filesystem {data['filesystem']['used_percent']}% used")
        _emit(args, data, lines)
        return 0
    alerts: list[dict[str, Any]] = []
    if args.db:
        from resilience_core.monitor.store import MetricsStore

        alerts = [a.to_dict() for a in MetricsStore(args.db).alerts(since=time.time() - 86400)]
    health = ModelWatch(catalog).check(catalog.select())
    data = daily_report(catalog, health, alerts=alerts)
    lines = [
        f"models: {data['models']} {data['states']}",
        f"critical failed: {', '.join(data['critical_failed']) or 'none'}",
        f"marked corrupted: {', '.join(data['marked_corrupted']) or 'none'}",
        f"alerts in the last 24 h: {len(alerts)}",
        (
            f"storage: {data['storage']['total_bytes']} bytes, "
            f"filesystem {data['storage']['filesystem']['used_percent']}% used"
        ),
    ]
    _emit(args, data, lines)
    return 0
