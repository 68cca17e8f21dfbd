"""The chaos plugin manager: built-ins, entry points, the conftest bridge, CHAOS_NO_PLUGINS."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import ChaosError, Fault, FaultContext, FaultRegistry, hookimpl
from chaos.manager import ChaosManager


class Ping(Fault):
    name = "demo.ping"
    summary = "does nothing"

    @contextlib.contextmanager
    def _armed(self) -> Iterator[Fault]:
        self.triggered = True
        yield self

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        return []


def _conftest_module(**hooks: Any) -> types.ModuleType:
    module = types.ModuleType("conftest_demo")
    module.__file__ = "/tmp/demo/conftest.py"
    for name, hook in hooks.items():
        setattr(module, name, hook)
    return module


def test_undecorated_conftest_hooks_register_faults_after_build() -> None:
    """A conftest module's plain chaos_add_faults runs even when registered after the registry was filled."""
    manager = ChaosManager.build(load_entry_points=False)
    assert "demo.ping" not in manager.registry

    def chaos_add_faults(registry: FaultRegistry) -> None:
        registry.register(Ping)

    assert manager.register_module(_conftest_module(chaos_add_faults=chaos_add_faults))
    fault = manager.make_fault("demo.ping", {})
    assert isinstance(fault, Ping)


def test_modules_without_chaos_hooks_are_not_registered() -> None:
    """register_module ignores modules whose chaos_* functions are not hooks (fixtures such as chaos_hub_spec)."""
    manager = ChaosManager.build(load_entry_points=False)
    assert not manager.register_module(_conftest_module(helper=lambda: None, chaos_hub_spec=lambda: None))


def test_hook_functions_register_beside_chaos_fixtures() -> None:
    """A conftest with a chaos_* fixture and a real hook registers; only the hook is taken."""
    manager = ChaosManager.build(load_entry_points=False)

    def chaos_add_faults(registry: FaultRegistry) -> None:
        registry.register(Ping)

    assert manager.register_module(_conftest_module(chaos_hub_spec=lambda: None, chaos_add_faults=chaos_add_faults))
    assert "demo.ping" in manager.registry


def test_make_fault_hook_can_substitute_a_fault() -> None:
    """chaos_make_fault is firstresult: a plugin's non-None answer wins over the registry."""
    manager = ChaosManager.build(load_entry_points=False)
    substitute = Ping()

    class Substitutor:
        @hookimpl
        def chaos_make_fault(self, name: str, params: dict[str, Any]) -> Fault | None:
            return substitute if name == "demo.anything" else None

    manager.register(Substitutor())
    assert manager.make_fault("demo.anything", {}) is substitute


def test_entry_point_plugins_load_unless_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed example package (group chaos.plugins) registers dns.fail; CHAOS_NO_PLUGINS=1 skips it."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    monkeypatch.delenv("CHAOS_NO_PLUGINS", raising=False)
    assert "dns.fail" in ChaosManager.build().registry
    monkeypatch.setenv("CHAOS_NO_PLUGINS", "1")
    manager = ChaosManager.build()
    assert "dns.fail" not in manager.registry
    assert "dns" not in manager.plugin_names()


def test_invalid_plugin_is_reported_clearly() -> None:
    """A plugin with a misspelt hookimpl raises ChaosError naming the plugin."""

    class Broken:
        @hookimpl
        def chaos_add_fault(self, registry: FaultRegistry) -> None:  # misspelt on purpose
            """Never called."""

    manager = ChaosManager.build(load_entry_points=False)
    with pytest.raises(ChaosError, match="chaos plugin 'broken' is invalid"):
        manager.register(Broken(), name="broken")


def test_trial_hooks_reach_plugins() -> None:
    """chaos_trial_start / chaos_trial_end are called on every registered plugin."""
    seen: list[str] = []

    def chaos_trial_start(trial: Any) -> None:
        seen.append(f"start {trial}")

    def chaos_trial_end(trial: Any, outcome: Any) -> None:
        seen.append(f"end {trial} {outcome}")

    manager = ChaosManager.build(load_entry_points=False)
    manager.register_module(_conftest_module(chaos_trial_start=chaos_trial_start, chaos_trial_end=chaos_trial_end))
    manager.hook.chaos_trial_start(trial="t")
    manager.hook.chaos_trial_end(trial="t", outcome="recovered")
    assert seen == ["start t", "end t recovered"]
