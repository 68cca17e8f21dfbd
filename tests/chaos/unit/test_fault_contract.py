"""The fault contract: typed parameters, validation messages, the registry."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import Fault, FaultContext, FaultParamError, FaultRegistry, Param
from chaos.fault import REQUIRED


class Demo(Fault):
    name = "demo.fault"
    summary = "a demo"
    params = (
        Param("after_bytes", int, 0, "bytes first", minimum=0, maximum=1 << 20),
        Param("mode", str, "bitflip", "how", choices=("bitflip", "truncate")),
        Param("delay_s", float, REQUIRED, "wait"),
        Param("hosts", tuple, (), "names"),
        Param("leak", bool, False, "leave residue"),
    )

    @contextlib.contextmanager
    def _armed(self) -> Iterator[Fault]:
        self.triggered = True
        yield self

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed()

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        return ["leaked"] if self.values["leak"] else []


def test_params_are_coerced_and_defaulted() -> None:
    """Strings coerce to the declared types and missing optional params take their defaults."""
    fault = Demo(after_bytes="4_096", delay_s="0.5", hosts="a.example, b.example", leak="yes")
    assert fault.values == {
        "after_bytes": 4096,
        "mode": "bitflip",
        "delay_s": 0.5,
        "hosts": ("a.example", "b.example"),
        "leak": True,
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"delay_s": 1, "after_byte": 3},
            "demo.fault.after_byte=3 is not a parameter of demo.fault; fix: did you mean 'after_bytes'?",
        ),
        ({}, "demo.fault.delay_s is required; fix: pass delay_s=... (wait)"),
        (
            {"delay_s": 1, "mode": "trunc"},
            "demo.fault.mode='trunc' must be one of 'bitflip', 'truncate'; fix: use 'truncate'",
        ),
        ({"delay_s": 1, "after_bytes": -1}, "demo.fault.after_bytes=-1 must be >= 0; fix: pass at least 0"),
        ({"delay_s": 1, "after_bytes": 1 << 21}, "demo.fault.after_bytes=2097152 must be <= 1.04858e+06"),
        ({"delay_s": True}, "demo.fault.delay_s=True must be a number; fix: pass a number, not a boolean"),
        ({"delay_s": 1, "after_bytes": "many"}, "demo.fault.after_bytes='many' must be an integer"),
        ({"delay_s": 1, "leak": "maybe"}, "demo.fault.leak='maybe' must be a boolean"),
    ],
)
def test_bad_params_raise_one_clear_message(params: dict[str, Any], message: str) -> None:
    """Each bad parameter raises FaultParamError naming the fault, the field, the value and the fix."""
    with pytest.raises(FaultParamError) as caught:
        Demo(**params)
    assert str(caught.value).startswith(message)


def test_describe_is_the_journal_entry(tmp_path: pathlib.Path) -> None:
    """describe() gives name, JSON-ready params, triggered and backend after the fault ran."""
    fault = Demo(delay_s=1, hosts=["x"])
    with fault.inject(FaultContext.for_seed(1, tmp_path)):
        pass
    assert fault.describe() == {
        "name": "demo.fault",
        "params": {"after_bytes": 0, "mode": "bitflip", "delay_s": 1.0, "hosts": ["x"], "leak": False},
        "triggered": True,
        "backend": "",
    }


def test_param_describe_line() -> None:
    """Param.describe() shows type, default, bounds and doc on one line for `faults list`."""
    line = Demo.params[0].describe()
    assert line == "after_bytes: int = 0 (>= 0, <= 1.04858e+06) bytes first"
    assert Demo.params[2].describe().startswith("delay_s: float required")


def test_registry_suggests_the_closest_name() -> None:
    """An unknown fault name raises FaultParamError suggesting the closest registered one."""
    registry = FaultRegistry()
    registry.register(Demo)
    assert registry.get("demo.fault") is Demo
    assert registry.names() == ["demo.fault"]
    with pytest.raises(FaultParamError, match=r"did you mean 'demo.fault'\?"):
        registry.get("demo.faul")


def test_registry_rejects_non_faults_and_bad_names() -> None:
    """Only Fault subclasses named 'family.fault' can be registered."""
    registry = FaultRegistry()
    with pytest.raises(FaultParamError, match="must be a Fault subclass"):
        registry.register(object)  # type: ignore[arg-type]  # the wrong type is the point of the test

    class Nameless(Demo):
        name = "nameless"

    with pytest.raises(FaultParamError, match=r"must be 'family\.fault'"):
        registry.register(Nameless)


def test_plugin_fault_replaces_builtin_but_never_the_reverse() -> None:
    """A plugin fault overrides a built-in one of the same name regardless of registration order."""

    class Builtin(Demo):
        pass

    Builtin.__module__ = "chaos.faults.demo"

    class Plugin(Demo):
        pass

    for order in ((Builtin, Plugin), (Plugin, Builtin)):
        registry = FaultRegistry()
        for cls in order:
            registry.register(cls)
        assert registry.get("demo.fault") is Plugin


def test_context_note_records_events(tmp_path: pathlib.Path) -> None:
    """FaultContext.note appends JSON-ready events and for_seed seeds the rng reproducibly."""
    ctx = FaultContext.for_seed(5, tmp_path)
    ctx.note("armed", at_bytes=3)
    assert ctx.events == [{"event": "armed", "at_bytes": 3}]
    assert ctx.rng.random() == FaultContext.for_seed(5, tmp_path).rng.random()
