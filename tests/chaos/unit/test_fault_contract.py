"""The fault contract: typed parameters, validation messages, arm() written once, capabilities, the registry."""

from __future__ import annotations

import contextlib
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chaos import Fault, FaultArmError, FaultContext, FaultParamError, FaultRegistry, Param
from chaos.fault import REQUIRED
from chaos.manager import ChaosManager


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

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        self.triggered = True
        yield

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


def test_registry_keeps_the_first_class_and_lists_the_shadowed() -> None:
    """The registry keeps the first registration of a name (the plugin manager calls in precedence order)."""

    class First(Demo):
        pass

    class Second(Demo):
        pass

    registry = FaultRegistry()
    registry.register(First)
    registry.register(Second)
    registry.register(Second)
    assert registry.get("demo.fault") is First
    assert registry.shadowed("demo.fault") == [Second]
    registry.clear()
    assert len(registry) == 0


def test_registry_rejects_classes_that_break_the_contract() -> None:
    """No arm()/inject(), a wrap_command without wraps_command (or the reverse), a non-bool capability."""

    class NoArm(Fault):
        name = "demo.noarm"

        def verify_reverted(self, ctx: FaultContext) -> list[str]:
            return []

    class Wraps(Demo):
        name = "demo.wraps"

        def wrap_command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
            return ["wrapper", *argv], env

    class Claims(Demo):
        name = "demo.claims"
        wraps_command = True

    class Vague(Demo):
        name = "demo.vague"
        needs_proxy = "yes"  # type: ignore[assignment]  # the wrong type is the point of the test

    cases = [
        (NoArm, "demo.noarm defines neither arm() nor inject(); fix: write arm(self, ctx) as a generator"),
        (Wraps, "demo.wraps overrides wrap_command but declares wraps_command=False; fix: set it True"),
        (Claims, "demo.claims declares wraps_command=True without a wrap_command(); fix: implement it"),
        (Vague, "demo.vague.needs_proxy must be True or False; fix: declare it as a bool class attribute"),
    ]
    for cls, message in cases:
        with pytest.raises(FaultParamError) as caught:
            FaultRegistry().register(cls)
        assert str(caught.value) == message
    Wraps.wraps_command = True
    assert FaultRegistry().register(Wraps) is Wraps


def test_a_fault_overriding_inject_itself_still_works(tmp_path: pathlib.Path) -> None:
    """The template is the default: a plugin that writes inject() directly registers and runs unchanged."""

    class Direct(Demo):
        name = "demo.direct"

        @contextlib.contextmanager
        def _block(self) -> Iterator[Fault]:
            self.triggered = True
            yield self

        def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
            return self._block()

    assert FaultRegistry().register(Direct) is Direct
    fault = Direct(delay_s=1)
    with fault.inject(FaultContext.for_seed(1, tmp_path)) as armed:
        assert armed is fault
    assert fault.triggered


class Fragile(Demo):
    """Arms by opening a file that may not exist; counts reverts."""

    name = "demo.fragile"
    params = (*Demo.params, Param("path", str, "", "file opened while arming"))

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.reverts = 0

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        with open(self.values["path"], "rb"):
            pass
        try:
            yield
        finally:
            self.reverts += 1


def test_arm_is_the_context_manager_and_reverts_on_error(tmp_path: pathlib.Path) -> None:
    """inject() runs arm() up to its yield, returns the fault, and reverts also when the block raises; the
    block's own error reaches the caller unchanged."""
    present = tmp_path / "present"
    present.write_bytes(b"")
    fault = Fragile(delay_s=1, path=str(present))
    seen: list[Fault] = []

    def body() -> None:
        with fault.inject(FaultContext.for_seed(1, tmp_path)) as armed:
            seen.append(armed)
            raise KeyError("from the block")

    with pytest.raises(KeyError, match="from the block"):
        body()
    assert seen == [fault]
    assert fault.armed
    assert fault.reverts == 1


def test_an_os_error_while_arming_is_a_fault_arm_error(tmp_path: pathlib.Path) -> None:
    """A missing target while arming raises FaultArmError naming the fault (indeterminate), not a bare OSError."""
    fault = Fragile(delay_s=1, path=str(tmp_path / "missing"))
    with pytest.raises(FaultArmError) as caught, fault.inject(FaultContext.for_seed(1, tmp_path)):
        pass
    assert str(caught.value).startswith("demo.fragile could not be armed: FileNotFoundError: ")
    assert caught.value.fault == "demo.fragile"
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert not fault.armed
    assert fault.reverts == 0


def test_param_to_json_is_structured() -> None:
    """Param.to_json gives name, type, default, required, bounds, choices, unit and doc as data."""
    assert Demo.params[0].to_json() == {
        "name": "after_bytes",
        "type": "int",
        "default": 0,
        "required": False,
        "minimum": 0,
        "maximum": 1 << 20,
        "choices": None,
        "unit": "bytes",
        "doc": "bytes first",
    }
    assert Demo.params[1].to_json()["choices"] == ["bitflip", "truncate"]
    assert Demo.params[2].to_json() | {"doc": ""} == {
        "name": "delay_s",
        "type": "float",
        "default": None,
        "required": True,
        "minimum": None,
        "maximum": None,
        "choices": None,
        "unit": "s",
        "doc": "",
    }
    assert Demo.params[3].to_json()["default"] == []
    assert Param("loss_rate", float).unit == ""
    assert Param("rate", int, unit="kbps").unit == "kbps"


def test_capabilities_default_to_false() -> None:
    """A fault declares only the capabilities it has; the rest read False."""
    assert Demo.capabilities() == {
        "needs_proxy": False,
        "checks_disk": False,
        "wraps_command": False,
        "targets_process": False,
    }


def test_no_fault_name_prefix_branching_outside_the_registry() -> None:
    """The harness reads capabilities: no module outside chaos/fault.py tests a fault name's family prefix."""
    root = pathlib.Path(__file__).resolve().parents[3]
    families = sorted({name.split(".", 1)[0] for name in ChaosManager.build(third_party=False).registry.names()})
    alternatives = "|".join(families)
    pattern = re.compile(r"""startswith\(\s*\(?\s*["'](?:""" + alternatives + r""")\.""")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for top in ("chaos", "scenarios", "plugins")
        for path in sorted((root / top).rglob("*.py"))
        if path.name != "fault.py" or path.parent.name != "chaos"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
    assert pattern.search('if name.startswith("network."):')


def test_context_note_records_events(tmp_path: pathlib.Path) -> None:
    """FaultContext.note appends JSON-ready events and for_seed seeds the rng reproducibly."""
    ctx = FaultContext.for_seed(5, tmp_path)
    ctx.note("armed", at_bytes=3)
    assert ctx.events == [{"event": "armed", "at_bytes": 3}]
    assert ctx.rng.random() == FaultContext.for_seed(5, tmp_path).rng.random()
