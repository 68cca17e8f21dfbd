"""Every hook of the chaos harness (STYLE 5): when it is called and what a return value means.

Implement a hook by decorating a function named like the spec with :data:`chaos.hookimpl` in a module that is
registered as a plugin: a module under the ``chaos.plugins`` entry-point group (the built-in fault families are
declared there too) or a ``conftest.py``::

    from chaos import hookimpl

    @hookimpl
    def chaos_trial_end(trial, outcome):
        print(trial.scenario, trial.index, outcome)
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from chaos.fault import Fault, FaultRegistry
    from chaos.trials import Trial
    from resilience_core.recovery.taxonomy import Outcome

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "chaos"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register fault classes with ``registry.register(FaultClass)``.

    Called when the plugin manager is built, and again (for every plugin, into an emptied registry) each time a
    plugin is registered later (a conftest.py): register the same classes each time. Plugins are called in
    precedence order, latest registered first, and the built-in families (``trylast=True``) last; the registry
    keeps the first class registered under a name, so a plugin fault with the same name as a built-in one
    replaces it. The return value is ignored.
    """


@hookspec(firstresult=True)
def chaos_make_fault(name: str, params: dict[str, Any]) -> Fault | None:
    """Build the fault called ``name`` with ``params``, or return None to let the next plugin (and finally the
    registry) do it.

    Called for every ``chaos.inject(name, **params)``. The first non-None result is used; use it to wrap or
    substitute a fault (e.g. a site-specific backend). The default builds ``registry.get(name)(**params)``.
    """


@hookspec
def chaos_trial_start(trial: Trial) -> None:
    """A trial is about to run its scenario body; ``trial`` has its scenario id, index and seed.

    Called in the process that runs the trial (an xdist worker under ``-n``). The return value is ignored.
    """


@hookspec
def chaos_trial_end(trial: Trial, outcome: Outcome) -> None:
    """A trial finished and was classified as ``outcome`` (faults reverted, steady-state checks done).

    Called in the process that ran the trial, before the record travels to the controller. The return value
    is ignored.
    """


@hookspec
def chaos_report(journal: dict[str, Any], outdir: pathlib.Path) -> list[pathlib.Path] | None:
    """Write extra report files from ``journal`` (the DESIGN §4.6 dict) into ``outdir``.

    Called once per session on the controller, after the built-in journal.json, junit.xml and summary.md are
    written. Return the paths written (listed in the terminal summary) or None.
    """
