"""The built-in fault modules: registration through the hook, typed params, clear errors, toxic JSON."""

from __future__ import annotations

import pytest

from chaos.errors import FaultParamError
from chaos.fault import Fault, FaultRegistry
from chaos.faults import corrupt, disk, install, network, process, vram
from chaos.faults.network import NetworkDown, NetworkFault

EXPECTED = {
    "network.down",
    "network.reset_peer",
    "network.timeout",
    "network.latency",
    "network.bandwidth",
    "network.slicer",
    "network.limit_data",
    "network.slow_close",
    "network.corrupt",
    "network.slow_open",
    "network.loss",
    "network.noop",
    "disk.full",
    "vram.exhaust",
    "file.corrupt",
    "process.kill",
    "install.stale_lock",
    "install.orphan_partial",
}


def _registry() -> FaultRegistry:
    registry = FaultRegistry()
    for module in (network, disk, vram, corrupt, process, install):
        module.chaos_add_faults(registry)
    return registry


def test_every_builtin_registers_through_its_hook() -> None:
    """Each module's chaos_add_faults registers exactly the DESIGN §4.4 names (plus slow_open, loss and noop)."""
    assert set(_registry().names()) == EXPECTED


def test_hooks_are_trylast_so_plugins_can_override() -> None:
    """Built-in hook implementations are trylast (STYLE 5)."""
    for module in (network, disk, vram, corrupt, process, install):
        assert module.chaos_add_faults.chaos_impl["trylast"] is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fault_documents_itself_and_builds_with_defaults(name: str) -> None:
    """Every fault has a summary, documented params and builds from defaults; describe() is JSON-ready."""
    cls = _registry().get(name)
    assert cls.summary
    assert all(param.doc for param in cls.params)
    fault: Fault = cls()
    described = fault.describe()
    assert described["name"] == name
    assert described["triggered"] is False
    assert cls.availability() is None or isinstance(cls.availability(), str)


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("network.latency", {"latency_ms": -1}, r"network\.latency\.latency_ms=-1 must be >= 0"),
        ("network.reset_peer", {"stream": "sideways"}, r"network\.reset_peer\.stream='sideways' must be one of"),
        ("network.loss", {"loss_rate": 2}, r"loss_rate=2 must be <= 1"),
        ("disk.full", {"backend": "tmpfs"}, r"disk\.full\.backend='tmpfs' must be one of"),
        ("disk.full", {"free_bytes": "lots"}, r"free_bytes='lots' must be an integer"),
        ("vram.exhaust", {"free_bytes": 2, "total_bytes": 1}, r"free_bytes=2 must be <= total_bytes=1"),
        ("process.kill", {"min_s": 2, "max_s": 1}, r"max_s=1\.0 must be >= min_s=2\.0"),
        ("process.kill", {"signal": "SIGSTOP"}, r"signal='SIGSTOP' must be one of"),
        ("install.stale_lock", {"kind": "held_forever"}, r"kind='held_forever'.*fix: use 'held'"),
        ("install.orphan_partial", {"siez_bytes": 1}, r"did you mean 'size_bytes'"),
    ],
)
def test_bad_params_raise_one_clear_error(name: str, params: dict[str, object], pattern: str) -> None:
    """A bad value names the fault, the field, the value and the fix."""
    with pytest.raises(FaultParamError, match=pattern):
        _registry().get(name)(**params)


def test_toxic_specs_carry_units_mapped_to_toxiproxy_attributes() -> None:
    """Params with units (latency_ms, rate_kbps, limit_bytes) become Toxiproxy's attribute names."""
    spec = NetworkFault.for_name("network.latency")(latency_ms=250, jitter_ms=5, stream="upstream").toxic_spec("t")
    assert spec.to_json() == {
        "name": "t",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {"latency": 250, "jitter": 5},
    }
    assert NetworkFault.for_name("network.bandwidth")(rate_kbps=10).toxic_spec("b").attributes == {"rate": 10}
    assert NetworkFault.for_name("network.limit_data")(limit_bytes=7).toxic_spec("l").attributes == {"bytes": 7}
    assert NetworkFault.for_name("network.loss")().toxic_spec("p").type == "packet_loss"
    reset = NetworkFault.for_name("network.reset_peer")(after_bytes=65536).toxic_spec("r")
    assert reset.attributes == {"timeout": 0, "after_bytes": 65536}
    assert NetworkDown().values == {"proxy": ""}


def test_capabilities_are_declared_where_the_harness_needs_them() -> None:
    """needs_proxy for network.*, checks_disk for disk.full, wraps_command for disk.full and vram.exhaust,
    targets_process for process.kill."""
    declared = {cls.name: sorted(name for name, value in cls.capabilities().items() if value) for cls in _registry()}
    assert {name for name, caps in declared.items() if "needs_proxy" in caps} == {
        name for name in EXPECTED if name.startswith("network.")
    }
    assert {name for name, caps in declared.items() if "checks_disk" in caps} == {"disk.full"}
    assert {name for name, caps in declared.items() if "wraps_command" in caps} == {"disk.full", "vram.exhaust"}
    assert {name for name, caps in declared.items() if "targets_process" in caps} == {"process.kill"}


def test_command_order_puts_the_disk_namespace_before_the_vram_shim() -> None:
    """chaos.run applies wrap_command in ascending command_order: disk namespace, then the VRAM shim."""
    from chaos.fault import ORDER_ENV, ORDER_NAMESPACE

    orders = {cls.name: cls.command_order for cls in _registry() if cls.wraps_command}
    assert orders == {"disk.full": ORDER_NAMESPACE, "vram.exhaust": ORDER_ENV}
    assert ORDER_NAMESPACE < ORDER_ENV
