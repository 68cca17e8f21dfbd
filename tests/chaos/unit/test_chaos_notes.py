"""Trial notes: what chaos.note and the faults' ctx.note record reaches the trial's journal record, JSON-safe."""

from __future__ import annotations

import contextlib
import enum
import json
import pathlib
from collections.abc import Iterator

from chaos import Fault, FaultContext, FaultRegistry, Outcome
from chaos.inject import Chaos
from chaos.trials import MAX_NOTES, Trial, json_safe


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Noter(Fault):
    """Notes a path when armed and again while verify_reverted checks."""

    name = "demo.noter"

    @contextlib.contextmanager
    def _armed(self, ctx: FaultContext) -> Iterator[Fault]:
        self.triggered = True
        ctx.note("demo.noter.armed", file=ctx.workdir / "w.bin", offset=ctx.rng.randrange(100))
        yield self

    def inject(self, ctx: FaultContext) -> contextlib.AbstractContextManager[Fault]:
        return self._armed(ctx)

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        ctx.note("demo.noter.checked", clean=True)
        return []


def test_record_carries_notes_as_plain_json() -> None:
    """Trial.record() has a notes list of {event, fault, data}; paths, enums, sets, bytes, NaN and objects become
    JSON values or text."""
    trial = Trial(scenario="s", index=0, seed=1, outcome=Outcome.RECOVERED)
    trial.note("install", {"path": pathlib.Path("/m/w.bin"), "tags": {"b", "a"}, "sizes": (1, 2)})
    trial.note("odd", {"colour": Colour.RED, "level": Level.HIGH, "raw": b"\x00", "ratio": float("nan"), "x": object})
    trial.note("file.corrupt", {"offset": 7, "sha256": "ab"}, fault="file.corrupt")
    notes = json.loads(json.dumps(trial.record(replay="r")["notes"], allow_nan=False))
    assert notes == [
        {"event": "install", "fault": None, "data": {"path": "/m/w.bin", "tags": ["a", "b"], "sizes": [1, 2]}},
        {
            "event": "odd",
            "fault": None,
            "data": {"colour": "Colour.RED", "level": 3, "raw": "b'\\x00'", "ratio": "nan", "x": "<class 'object'>"},
        },
        {"event": "file.corrupt", "fault": "file.corrupt", "data": {"offset": 7, "sha256": "ab"}},
    ]
    assert Trial(scenario="s", index=0, seed=1).record()["notes"] == []


def test_notes_are_bounded() -> None:
    """A trial keeps at most MAX_NOTES notes plus one saying how many were dropped; long text is cut."""
    trial = Trial(scenario="s", index=0, seed=1)
    for index in range(MAX_NOTES + 5):
        trial.note("tick", {"i": index})
    notes = trial.record()["notes"]
    assert len(notes) == MAX_NOTES + 1
    assert notes[-1] == {"event": "chaos.notes_truncated", "fault": None, "data": {"dropped": 5, "max_notes": 200}}
    assert len(json_safe("x" * 10_000)) == 2003


def test_handle_records_scenario_and_fault_notes_in_order(tmp_path: pathlib.Path) -> None:
    """chaos.note lands with fault null; a fault's ctx.note (also from verify_reverted) lands with its name."""
    registry = FaultRegistry()
    registry.register(Noter)
    trial = Trial(scenario="s", index=0, seed=5)
    chaos = Chaos(trial, workdir=tmp_path, make_fault=lambda name, params: registry.get(name)(**params))
    chaos.note("before", where=tmp_path)
    with chaos.inject("demo.noter"):
        pass
    notes = trial.record()["notes"]
    assert [(note["event"], note["fault"]) for note in notes] == [
        ("before", None),
        ("demo.noter.armed", "demo.noter"),
        ("demo.noter.checked", "demo.noter"),
    ]
    assert notes[0]["data"] == {"where": str(tmp_path)}
    assert notes[1]["data"]["file"] == str(tmp_path / "w.bin")
