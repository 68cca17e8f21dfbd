"""The chaos plugin manager: built-ins and plugins from entry points, precedence, the conftest bridge,
CHAOS_NO_PLUGINS, validation."""

from __future__ import annotations

import contextlib
import importlib.metadata
import pathlib
import re
import tomllib
import types
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import ChaosError, Fault, FaultContext, FaultParamError, FaultRegistry, UnknownFaultError, hookimpl
from chaos.faults.network import NetworkDown
from chaos.manager import DISTRIBUTION, ENTRY_POINT_GROUP, ChaosManager

ROOT = pathlib.Path(__file__).resolve().parents[3]


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
    manager = ChaosManager.build(third_party=False)
    assert "demo.ping" not in manager.registry

    def chaos_add_faults(registry: FaultRegistry) -> None:
        registry.register(Ping)

    assert manager.register_module(_conftest_module(chaos_add_faults=chaos_add_faults))
    fault = manager.make_fault("demo.ping", {})
    assert isinstance(fault, Ping)


def test_modules_without_chaos_hooks_are_not_registered() -> None:
    """register_module ignores modules whose chaos_* functions are not hooks (fixtures such as chaos_hub_spec)."""
    manager = ChaosManager.build(third_party=False)
    assert not manager.register_module(_conftest_module(helper=lambda: None, chaos_hub_spec=lambda: None))


def test_hook_functions_register_beside_chaos_fixtures() -> None:
    """A conftest with a chaos_* fixture and a real hook registers; only the hook is taken."""
    manager = ChaosManager.build(third_party=False)

    def chaos_add_faults(registry: FaultRegistry) -> None:
        registry.register(Ping)

    assert manager.register_module(_conftest_module(chaos_hub_spec=lambda: None, chaos_add_faults=chaos_add_faults))
    assert "demo.ping" in manager.registry


def test_make_fault_hook_can_substitute_a_fault() -> None:
    """chaos_make_fault is firstresult: a plugin's non-None answer wins over the registry."""
    manager = ChaosManager.build(third_party=False)
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

    manager = ChaosManager.build(third_party=False)
    with pytest.raises(ChaosError, match="chaos plugin 'broken' is invalid"):
        manager.register(Broken(), name="broken")


def test_trial_hooks_reach_plugins() -> None:
    """chaos_trial_start / chaos_trial_end are called on every registered plugin."""
    seen: list[str] = []

    def chaos_trial_start(trial: Any) -> None:
        seen.append(f"start {trial}")

    def chaos_trial_end(trial: Any, outcome: Any) -> None:
        seen.append(f"end {trial} {outcome}")

    manager = ChaosManager.build(third_party=False)
    manager.register_module(_conftest_module(chaos_trial_start=chaos_trial_start, chaos_trial_end=chaos_trial_end))
    manager.hook.chaos_trial_start(trial="t")
    manager.hook.chaos_trial_end(trial="t", outcome="recovered")
    assert seen == ["start t", "end t recovered"]


def test_builtin_families_are_entry_points_of_this_distribution() -> None:
    """pyproject.toml declares every fault family module as a chaos.plugins entry point, and the manager loads
    them from the installed metadata, like any plugin (no module list in the code)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    families = sorted(
        f"chaos.faults.{path.stem}"
        for path in (ROOT / "chaos" / "faults").glob("*.py")
        if "def chaos_add_faults" in path.read_text()
    )
    assert sorted(declared.values()) == families
    installed = {
        ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.dist.name == DISTRIBUTION
    }
    assert installed == set(families)
    assert set(families) <= set(ChaosManager.build(third_party=False).plugin_names())


def test_the_documented_builtin_table_is_the_one_in_pyproject() -> None:
    """docs/fault-plugins.md shows the built-in entry-point table exactly as pyproject.toml declares it."""
    page = (ROOT / "docs" / "fault-plugins.md").read_text()
    (shown,) = [block for block in re.findall(r"```toml\n(.*?)```", page, re.DOTALL) if "chaos.faults." in block]
    assert (
        tomllib.loads(shown)["project"]["entry-points"][ENTRY_POINT_GROUP]
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    )
    assert shown in (ROOT / "pyproject.toml").read_text()


def test_missing_builtin_metadata_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without this distribution's entry points (a stale install) build() raises one line saying how to fix it."""
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    with pytest.raises(ChaosError, match=r"no built-in fault families.*fix: pip install -e \."):
        ChaosManager.build()


class _Override(NetworkDown):
    """A plugin's replacement for network.down."""


def _override_plugin() -> types.ModuleType:
    def chaos_add_faults(registry: FaultRegistry) -> None:
        registry.register(_Override)

    return _conftest_module(chaos_add_faults=chaos_add_faults)


def test_a_plugin_replaces_a_builtin_fault_registered_before_or_after_build() -> None:
    """pluggy's order decides: built-ins are trylast, so a plugin's same-named fault wins either way, and the
    replaced built-in is listed as shadowed."""
    late = ChaosManager.build(third_party=False)
    assert late.registry.get("network.down") is NetworkDown
    late.register_module(_override_plugin())
    assert late.registry.get("network.down") is _Override
    assert late.registry.shadowed("network.down") == [NetworkDown]

    early = ChaosManager()
    early.register(_override_plugin(), name="early")
    for module_name in ("chaos.faults.network",):
        early.register(importlib.import_module(module_name), name=module_name)
    early.fill_registry()
    assert early.registry.get("network.down") is _Override


def test_the_later_of_two_plugins_wins() -> None:
    """Between two non-builtin plugins defining the same fault, the one registered later is used."""

    class First(Ping):
        pass

    class Second(Ping):
        pass

    manager = ChaosManager.build(third_party=False)
    for cls in (First, Second):

        def chaos_add_faults(registry: FaultRegistry, cls: type[Fault] = cls) -> None:
            registry.register(cls)

        module = _conftest_module(chaos_add_faults=chaos_add_faults)
        module.__file__ = f"/tmp/{cls.__name__}/conftest.py"
        manager.register_module(module)
    assert manager.registry.get("demo.ping") is Second


def test_validate_builds_without_arming_and_raises_one_line() -> None:
    """validate() returns the built fault for good params and raises the usage errors for bad ones."""
    manager = ChaosManager.build(third_party=False)
    fault = manager.validate("network.reset_peer", {"after_bytes": "65536"})
    assert fault.values["after_bytes"] == 65536
    assert not fault.armed
    with pytest.raises(UnknownFaultError) as unknown:
        manager.validate("network.rest_peer", {})
    assert str(unknown.value) == "fault 'network.rest_peer' is not registered; fix: did you mean 'network.reset_peer'?"
    with pytest.raises(FaultParamError) as bad:
        manager.validate("network.reset_peer", {"after_bytes": -1})
    assert str(bad.value) == "network.reset_peer.after_bytes=-1 must be >= 0; fix: pass at least 0"
    assert "\n" not in str(bad.value)
