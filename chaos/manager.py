"""The chaos plugin manager: built-in faults, third-party packages and conftest.py files, all as pluggy plugins.

Built-in fault modules register exactly like a third-party package would: each is a plugin module whose
``chaos_add_faults`` hook (``trylast=True``) fills the registry. Third-party packages declare an entry point
in the group ``chaos.plugins``; set ``CHAOS_NO_PLUGINS=1`` to skip them. A ``conftest.py`` that defines
``chaos_*`` functions is registered by the pytest plugin through :meth:`ChaosManager.register_module`;
such functions need no decorator.

>>> manager = ChaosManager.build(load_entry_points=False)
>>> fault = manager.make_fault("network.down", {})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import types
from typing import Any

import pluggy

from chaos import hookspecs
from chaos.errors import ChaosError
from chaos.fault import Fault, FaultRegistry
from chaos.hookspecs import PROJECT, hookimpl

__all__ = ["BUILTIN_MODULES", "ENTRY_POINT_GROUP", "ChaosManager", "hookimpl", "plugins_disabled"]

ENTRY_POINT_GROUP = "chaos.plugins"
BUILTIN_MODULES = (
    "chaos.faults.network",
    "chaos.faults.disk",
    "chaos.faults.vram",
    "chaos.faults.corrupt",
    "chaos.faults.process",
    "chaos.faults.install",
)
_HOOK_PREFIX = "chaos_"


def plugins_disabled() -> bool:
    """True when ``CHAOS_NO_PLUGINS`` asks to skip third-party plugins (built-ins always load)."""
    return os.environ.get("CHAOS_NO_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


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
        self.builtin_missing: list[str] = []
        self._filled = False

    @classmethod
    def build(cls, *, load_entry_points: bool = True) -> ChaosManager:
        """A manager with the built-in fault modules and (unless ``CHAOS_NO_PLUGINS``) entry-point plugins."""
        manager = cls()
        for module_name in BUILTIN_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name not in (module_name, "chaos.faults"):
                    raise  # the module exists but one of its own imports is missing: a real bug
                manager.builtin_missing.append(module_name)
                continue
            manager.register(module, name=module_name)
        if load_entry_points and not plugins_disabled():
            manager.load_entry_points()
        manager.fill_registry()
        return manager

    def load_entry_points(self) -> list[str]:
        """Import and register every plugin of the ``chaos.plugins`` entry-point group; returns their names."""
        loaded = []
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.has_plugin(entry_point.name) or self.pm.is_blocked(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                message = (
                    f"chaos plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                    f"{type(error).__name__}: {error}; fix: repair or uninstall it, or set CHAOS_NO_PLUGINS=1"
                )
                raise ChaosError(message) from error
            self.register(plugin, name=entry_point.name)
            loaded.append(entry_point.name)
        return loaded

    def register(self, plugin: object, name: str | None = None) -> bool:
        """Register ``plugin`` (a module or object with ``chaos_*`` hooks); False when it was already there.

        Once the registry has been filled, a newly registered plugin's ``chaos_add_faults`` runs at once.
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
        return True

    def register_module(self, module: types.ModuleType) -> bool:
        """Register a module (a conftest.py) if it defines any chaos hook function; True when registered."""
        if not any(name in _HOOK_NAMES and callable(value) for name, value in vars(module).items()):
            return False
        return self.register(module, name=f"conftest:{module.__file__ or module.__name__}")

    def fill_registry(self) -> None:
        """Run ``chaos_add_faults`` for all plugins now and for every plugin registered later (historic)."""
        if not self._filled:
            self._filled = True
            self.pm.hook.chaos_add_faults.call_historic(kwargs={"registry": self.registry})

    def make_fault(self, name: str, params: dict[str, Any]) -> Fault:
        """Build a fault through ``chaos_make_fault`` (plugins first, then the registry)."""
        fault: Fault = self.pm.hook.chaos_make_fault(name=name, params=dict(params))
        return fault

    @property
    def hook(self) -> Any:
        """The hook relay (``manager.hook.chaos_trial_end(trial=..., outcome=...)``)."""
        return self.pm.hook

    def plugin_names(self) -> list[str]:
        """Names of every registered plugin, for diagnostics."""
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)
