"""``resilience report show JOURNAL``: a journal as a terminal summary (rich).

The verdict first, then each failed scenario with why and its failing trials' replay commands, the scenario
table (failed first, baselines marked), and one line saying what the columns mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaos.report.view import OUTCOME_SHORT, OUTCOMES, ScenarioView, build_view

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["show_journal"]

_STYLES = {"pass": "green", "fail": "red", "baseline": "grey62", "undecided": "yellow", "incomplete": "yellow"}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.3g}ms" if value < 1 else f"{value:.3g}s"


def _outcomes(scenario: ScenarioView) -> str:
    return " ".join(f"{OUTCOME_SHORT[name]}={scenario.outcomes[name]}" for name in OUTCOMES if scenario.outcomes[name])


def show_journal(journal: Mapping[str, Any], console: Console, *, replays: int | None = 5) -> None:
    """Print ``journal`` to ``console``; ``replays`` caps the replay commands per failed scenario (None: all)."""
    from rich import box
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    view = build_view(journal)
    run = view.run
    style = _STYLES.get(view.verdict, "yellow")
    facts = f"run {run.id}" + (f" · seed {run.seed}" if run.seed is not None else "") + f" · {run.started}"
    if run.duration_s is not None:
        facts += f" · {run.duration_s:.0f} s"
    banner = f"[bold]{view.verdict.upper()}[/bold]  {escape(view.headline)}\n[dim]{escape(facts)}[/dim]"
    console.print(Panel(banner, border_style=style, expand=False))
    for scenario in view.failed:
        console.print(f"[red bold]FAIL[/] {escape(scenario.id)}")
        console.print(f"  why: {escape(scenario.reason or 'failed')}")
        bad = scenario.bad_trials
        for trial in bad if replays is None else bad[:replays]:
            console.print(f"  trial {trial.index} [bold]{trial.outcome}[/]: {escape(trial.error_line)}", soft_wrap=True)
            console.print(f"    [cyan]{escape(trial.replay)}[/]", soft_wrap=True)
        if replays is not None and len(bad) > replays:
            console.print(f"  ... {len(bad) - replays} more failing trial(s): pass --all, or see summary.md")
    table = Table(
        title=f"{len(view.scenarios)} scenarios (test names; full ids in summary.md)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("verdict", no_wrap=True)
    table.add_column("scenario (test name)", overflow="fold", ratio=1, min_width=20)
    table.add_column("trials", justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("Wilson", justify="right", no_wrap=True)
    table.add_column("min", justify="right", no_wrap=True)
    table.add_column("outcomes", overflow="fold", max_width=24)
    table.add_column("ttr p50/p95", justify="right", no_wrap=True)
    for scenario in view.scenarios:
        colour = _STYLES.get(scenario.verdict, "yellow")
        lo, hi = scenario.interval
        table.add_row(
            f"[{colour}]{scenario.verdict.upper()}[/]",
            escape(scenario.name),
            str(scenario.trials),
            _pct(scenario.recovery_rate),
            f"{lo * 100:.0f}-{hi * 100:.0f}%",
            "-" if scenario.baseline else f"{scenario.threshold:g}",
            _outcomes(scenario),
            f"{_seconds(scenario.time_to_recover['p50'])}/{_seconds(scenario.time_to_recover['p95'])}",
            style="dim" if scenario.verdict == "baseline" else None,
        )
    console.print(table)
    console.print(
        "[dim]rate = (rec+degr)/(trials-n/t); Wilson = its interval at the scenario's confidence; min = "
        "min_recovery_rate; rec recovered, degr recovered_degraded, fail failed_clean, dirty failed_dirty, indet "
        "indeterminate, n/t not_triggered; BASELINE rows are measured, not gated.[/]"
    )
