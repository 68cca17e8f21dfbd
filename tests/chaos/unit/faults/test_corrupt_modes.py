"""file.corrupt: every mode damages real bytes at seeded offsets, records what it changed, leaves no residue."""

from __future__ import annotations

import hashlib
import json
import pathlib
import random
import threading

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from chaos.errors import FaultParamError
from chaos.fault import FaultContext
from chaos.faults.corrupt import MODES, CorruptFile, corrupt_file


def _weights(path: pathlib.Path) -> bytes:
    safetensors.numpy.save_file({"w": np.arange(4096, dtype=np.float32)}, str(path))
    return path.read_bytes()


def _ctx(tmp_path: pathlib.Path, seed: int = 7, **target: object) -> FaultContext:
    return FaultContext.for_seed(seed, tmp_path, target=dict(target))


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_changes_the_file_and_records_it(tmp_path: pathlib.Path, mode: str) -> None:
    """Each mode really changes the file's bytes (or removes it) and records offset, length and both sha256."""
    path = tmp_path / "model.safetensors"
    original = _weights(path)
    change = corrupt_file(path, mode, random.Random(1))
    assert change is not None
    assert change.sha256_before == hashlib.sha256(original).hexdigest()
    if mode == "delete":
        assert not path.exists()
        return
    damaged = path.read_bytes()
    assert damaged != original
    assert change.sha256_after == hashlib.sha256(damaged).hexdigest()
    assert change.size_after == len(damaged)
    assert 0 <= change.offset <= len(original)


@pytest.mark.parametrize("mode", [m for m in MODES if m not in {"bitflip", "zero_range", "delete"}])
def test_structural_modes_are_detected_by_safetensors_on_open(tmp_path: pathlib.Path, mode: str) -> None:
    """Size and header damage make safetensors refuse the file on open (reference fault-backends §4)."""
    path = tmp_path / "model.safetensors"
    _weights(path)
    corrupt_file(path, mode, random.Random(3))
    with pytest.raises(safetensors.SafetensorError):
        safetensors.numpy.load_file(str(path))


def test_same_seed_damages_the_same_bytes(tmp_path: pathlib.Path) -> None:
    """A replay with the same seed flips the same bits: offsets come from the rng only."""
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    payload = random.Random(0).randbytes(100_000)
    first.write_bytes(payload)
    second.write_bytes(payload)
    one = corrupt_file(first, "bitflip", random.Random(42), flips=3)
    two = corrupt_file(second, "bitflip", random.Random(42), flips=3)
    assert one is not None
    assert two is not None
    assert (one.offset, one.length) == (two.offset, two.length)
    assert first.read_bytes() == second.read_bytes() != payload


def test_bad_json_never_parses(tmp_path: pathlib.Path) -> None:
    """bad_json always yields a document json cannot parse, whatever the seed."""
    path = tmp_path / "config.json"
    for seed in range(50):
        path.write_text(json.dumps({"hidden_size": 64, "layers": [1, 2, 3], "name": "tiny"}))
        corrupt_file(path, "bad_json", random.Random(seed))
        with pytest.raises(ValueError):  # JSONDecodeError or UnicodeDecodeError: both ValueError
            json.loads(path.read_bytes())


def test_lfs_pointer_names_the_original_content(tmp_path: pathlib.Path) -> None:
    """lfs_pointer writes a git-LFS pointer carrying the original sha256 and size."""
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x01" * 1000)
    change = corrupt_file(path, "lfs_pointer", random.Random(0))
    assert change is not None
    text = path.read_text()
    assert text.startswith("version https://git-lfs.github.com/spec/v1\n")
    assert f"oid sha256:{change.sha256_before}" in text
    assert "size 1000" in text


def test_empty_file_cannot_be_bitflipped(tmp_path: pathlib.Path) -> None:
    """Modes that need content return None on an empty file, so the fault is not counted as triggered."""
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert corrupt_file(path, "bitflip", random.Random(0)) is None
    assert corrupt_file(path, "truncate", random.Random(0)) is None


def test_before_corrupts_on_enter_and_notes_it(tmp_path: pathlib.Path) -> None:
    """when=before damages a matching file on entering the block and records it in ctx.note."""
    (tmp_path / "cache").mkdir()
    target = tmp_path / "cache" / "model.safetensors"
    original = _weights(target)
    (tmp_path / "cache" / "readme.txt").write_text("not matched")
    ctx = _ctx(tmp_path, root=str(tmp_path / "cache"))
    fault = CorruptFile(mode="truncate", glob="*.safetensors", when="before")
    with fault.inject(ctx):
        assert target.read_bytes() != original
    assert fault.triggered
    assert fault.backend == "in-place"
    (note,) = [e for e in ctx.events if e["event"] == "file.corrupt"]
    assert note["path"] == str(target)
    assert note["sha256_before"] == hashlib.sha256(original).hexdigest()
    assert (tmp_path / "cache" / "readme.txt").read_text() == "not matched"
    assert fault.verify_reverted(ctx) == []


def test_after_corrupts_on_exit_even_when_the_step_raised(tmp_path: pathlib.Path) -> None:
    """when=after leaves files alone inside the block and damages them on exit, also on an exception."""
    target = tmp_path / "config.json"
    target.write_text('{"a": 1}')
    fault = CorruptFile(root=str(tmp_path), glob="*.json", mode="empty", when="after")
    ctx = _ctx(tmp_path)
    seen: list[str] = []

    def failing_step() -> None:
        with fault.inject(ctx):
            seen.append(target.read_text())
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        failing_step()
    assert seen == ['{"a": 1}']
    assert target.read_bytes() == b""
    assert fault.triggered


def test_no_matching_file_is_not_triggered(tmp_path: pathlib.Path) -> None:
    """Without a matching file nothing changes and the fault says it did not fire."""
    fault = CorruptFile(root=str(tmp_path), glob="*.safetensors", when="before")
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        pass
    assert not fault.triggered
    assert any(e["event"] == "file.corrupt.not_triggered" for e in ctx.events)


def test_symlinked_snapshot_and_blob_are_one_file(tmp_path: pathlib.Path) -> None:
    """A blob reached through a snapshot symlink is damaged once, in place, so the snapshot sees it."""
    blob = tmp_path / "blobs" / "abc"
    blob.parent.mkdir()
    blob.write_bytes(bytes(range(256)) * 16)
    link = tmp_path / "snapshots" / "main" / "model.bin"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    fault = CorruptFile(root=str(tmp_path), glob="**/*", mode="zero_range", when="before", count=5)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        pass
    assert len(fault.changes) == 1
    assert link.read_bytes() == blob.read_bytes() != bytes(range(256)) * 16


def test_missing_root_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    """Without root and without a target root the error names the field and the fix."""
    fault = CorruptFile(mode="bitflip")
    with pytest.raises(FaultParamError, match=r"file\.corrupt\.root=.*fix: pass root="), fault.inject(_ctx(tmp_path)):
        pass


def test_unknown_mode_is_rejected_with_the_closest_name() -> None:
    """A misspelt mode is refused at construction, suggesting the intended one."""
    with pytest.raises(FaultParamError, match="bitflip"):
        CorruptFile(mode="bitflp")


def test_leaky_watcher_is_reported_as_residue(tmp_path: pathlib.Path) -> None:
    """verify_reverted catches a watcher thread that was left running."""
    fault = CorruptFile(root=str(tmp_path), when="during")
    stop = threading.Event()
    fault._watcher = threading.Thread(target=stop.wait, daemon=True)
    fault._watcher.start()
    try:
        assert fault.verify_reverted(_ctx(tmp_path)) == ["file.corrupt: the 'during' watcher thread is still running"]
    finally:
        stop.set()
        fault._watcher.join()
    assert fault.verify_reverted(_ctx(tmp_path)) == []
