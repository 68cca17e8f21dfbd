"""The chaos plugin manager: built-in fault families, third-party packages and conftest.py files, all as pluggy
plugins.

Every fault family is a plugin module declared under the entry-point group ``chaos.plugins``; the built-in
ones are declared by this distribution's own ``pyproject.toml`` exactly as a third-party package declares its
own::

    [project.entry-points."chaos.plugins"]
    network = "chaos.faults.network"

Built-ins always load; a built-in that cannot be imported is a packaging bug and raises ChaosError. Third-party
entry points load unless ``CHAOS_NO_PLUGINS=1``. A ``conftest.py`` that defines ``chaos_*`` functions is
registered by the pytest plugin through :meth:`ChaosManager.register_module`; such functions need no decorator.

Precedence is pluggy's call order: built-in ``chaos_add_faults`` implementations are ``trylast``, so every other
plugin's run first, the latest registered first, and the registry keeps the first class registered under a
name. A plugin's fault therefore replaces a built-in one of the same name, and never the reverse.

>>> manager = ChaosManager.build(third_party=False)
>>> manager.validate("network.latency", {"latency_ms": 50}).values["latency_ms"]
50
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import re
import types
from typing import Any

import pluggy

from chaos import hookspecs
from chaos.errors import ChaosError
from chaos.fault import Fault, FaultRegistry
from chaos.hookspecs import PROJECT, hookimpl

__all__ = ["DISTRIBUTION", "ENTRY_POINT_GROUP", "ChaosManager", "hookimpl", "plugins_disabled"]

ENTRY_POINT_GROUP = "chaos.plugins"
DISTRIBUTION = "resilience-chaos"
"""The distribution whose ``chaos.plugins`` entry points are the built-in fault families."""
_HOOK_PREFIX = "chaos_"


def plugins_disabled() -> bool:
    """True when ``CHAOS_NO_PLUGINS`` asks to skip third-party plugins (built-ins always load)."""
    return os.environ.get("CHAOS_NO_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _entry_points() -> tuple[list[importlib.metadata.EntryPoint], list[importlib.metadata.EntryPoint]]:
    """(built-in, third-party) entry points of the ``chaos.plugins`` group, each list in a stable order."""
    builtin: list[importlib.metadata.EntryPoint] = []
    third_party: list[importlib.metadata.EntryPoint] = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        ours = dist is not None and _canonical(dist.name) == DISTRIBUTION
        (builtin if ours else third_party).append(entry_point)
    return sorted(builtin, key=lambda ep: ep.name), sorted(third_party, key=lambda ep: ep.name)


_HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith(_HOOK_PREFIX))


class _PluginManager(pluggy.PluginManager):
    """Accepts undecorated functions named like a hook too, so a conftest.py can define hooks without imports.

    Only the hook names count: a conftest's ``chaos_*`` fixtures (``chaos_hub_spec``) are not hooks.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in _HOOK_NAMES and callable(getattr(plugin, name, None)):
            method = getattr(plugin, name)
            if inspect.isroutine(method):
                return {
                    "wrapper": False,
                    "hookwrapper": False,
                    "optionalhook": False,
                    "tryfirst": False,
                    "trylast": False,
                    "specname": None,
                }
        return opts


class _DefaultFactory:
    """The last-resort ``chaos_make_fault``: build the registered class with the given params."""

    def __init__(self, registry: FaultRegistry) -> None:
        self._registry = registry

    @hookimpl(trylast=True)
    def chaos_make_fault(self, name: str, params: dict[str, Any]) -> Fault:
        return self._registry.get(name)(**params)


class ChaosManager:
    """One ``pluggy.PluginManager("chaos")`` and the fault registry it fills.

    Build one with :meth:`build`; the pytest plugin keeps one per session.
    """

    def __init__(self) -> None:
        self.pm = _PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = FaultRegistry()
        self.pm.register(_DefaultFactory(self.registry), name="chaos.default-factory")
        self._filled = False

    @classmethod
    def build(cls, *, third_party: bool = True) -> ChaosManager:
        """A manager with the built-in fault families and, unless ``third_party=False`` or ``CHAOS_NO_PLUGINS``,
        every other ``chaos.plugins`` entry point.

        Raises ChaosError when this distribution declares no built-in family (its metadata is missing or stale:
        reinstall it) or one of them fails to import.
        """
        manager = cls()
        builtin, others = _entry_points()
        if not builtin:
            message = (
                f"no built-in fault families: the {DISTRIBUTION} distribution declares no {ENTRY_POINT_GROUP!r} "
                "entry points (not installed, or installed before they were declared); "
                "fix: pip install -e . (or make venv)"
            )
            raise ChaosError(message)
        for entry_point in builtin:
            manager._load(entry_point, name=entry_point.value)
        if third_party and not plugins_disabled():
            for entry_point in others:
                manager._load(entry_point, name=entry_point.name)
        manager.fill_registry()
        return manager

    def _load(self, entry_point: importlib.metadata.EntryPoint, *, name: str) -> None:
        if self.pm.has_plugin(name) or self.pm.is_blocked(name):
            return
        try:
            plugin = entry_point.load()
        except Exception as error:
            message = (
                f"chaos plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                f"{type(error).__name__}: {error}; fix: repair or uninstall it, or set CHAOS_NO_PLUGINS=1"
            )
            raise ChaosError(message) from error
        self.register(plugin, name=name)

    def register(self, plugin: object, name: str | None = None) -> bool:
        """Register ``plugin`` (a module or object with ``chaos_*`` hooks); False when it was already there.

        Once the registry has been filled, it is filled again so the new plugin's faults take their place.
        """
        if self.pm.is_registered(plugin) or (name is not None and self.pm.has_plugin(name)):
            return False
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            message = f"chaos plugin {name or plugin!r} is invalid: {error}; fix: match chaos.hookspecs"
            raise ChaosError(message) from error
        if self._filled:
            self._refill()
        return True

    def register_module(self, module: types.ModuleType) -> bool:
        """Register a module (a conftest.py) if it defines any chaos hook function; True when registered."""
        if not any(name in _HOOK_NAMES and callable(value) for name, value in vars(module).items()):
            return False
        return self.register(module, name=f"conftest:{module.__file__ or module.__name__}")

    def fill_registry(self) -> None:
        """Run every plugin's ``chaos_add_faults`` now, and again whenever a plugin is registered later."""
        self._filled = True
        self._refill()

    def _refill(self) -> None:
        self.registry.clear()
        self.pm.hook.chaos_add_faults(registry=self.registry)

    def make_fault(self, name: str, params: dict[str, Any]) -> Fault:
        """Build a fault through ``chaos_make_fault`` (plugins first, then the registry)."""
        fault: Fault = self.pm.hook.chaos_make_fault(name=name, params=dict(params))
        return fault

    def validate(self, name: str, params: dict[str, Any]) -> Fault:
        """Build (without arming) the fault ``name`` with ``params``: the cheap check for static faults.

        Returns the fault; raises UnknownFaultError or FaultParamError (one line naming the fault, the field, the
        value and the fix), or ChaosError when a plugin's ``chaos_make_fault`` returned something else.
        """
        fault: object = self.pm.hook.chaos_make_fault(name=name, params=dict(params))
        if not isinstance(fault, Fault):
            message = f"chaos_make_fault({name!r}) returned {fault!r}, not a chaos.Fault; fix: the plugin's hook"
            raise ChaosError(message)
        return fault

    @property
    def hook(self) -> Any:
        """The hook relay (``manager.hook.chaos_trial_end(trial=..., outcome=...)``)."""
        return self.pm.hook

    def plugin_names(self) -> list[str]:
        """Names of every registered plugin, for diagnostics."""
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)
