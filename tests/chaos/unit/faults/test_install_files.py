"""install.orphan_partial and the file kinds of install.stale_lock: HF cache layout, aging, cleanup, residue."""

from __future__ import annotations

import pathlib
import time

import pytest

from chaos.errors import FaultArmError, FaultParamError
from chaos.fault import FaultContext
from chaos.faults.install import OrphanPartial, StaleLock, repo_folder


def _ctx(tmp_path: pathlib.Path) -> FaultContext:
    return FaultContext.for_seed(3, tmp_path, target={"hf_cache": str(tmp_path / "hub")})


def test_orphan_partial_lands_where_huggingface_hub_2x_leaves_it(tmp_path: pathlib.Path) -> None:
    """The partial blob is blobs/<etag>.<8hex>.incomplete under the repo folder, aged, and removed on exit."""
    fault = OrphanPartial(repo_id="acme/tiny-model", etag="e" * 64, size_bytes=4096, age_s=600)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        path = fault.path
        assert path is not None
        assert path.parent == tmp_path / "hub" / "models--acme--tiny-model" / "blobs"
        name = path.name
        assert name.startswith("e" * 64 + ".")
        assert name.endswith(".incomplete")
        assert len(name.split(".")[1]) == 8
        assert path.stat().st_size == 4096
        assert time.time() - path.stat().st_mtime == pytest.approx(600, abs=5)
    assert fault.triggered
    assert fault.backend == "hf-cache-2.x"
    assert not path.exists()
    assert fault.cleaned_by == "fault"
    assert fault.verify_reverted(ctx) == []


def test_orphan_partial_1x_style_and_seeded_etag(tmp_path: pathlib.Path) -> None:
    """style=1.x names the file <etag>.incomplete; an empty etag is a seeded 64-hex value."""
    fault = OrphanPartial(style="1.x", size_bytes=10)
    with fault.inject(_ctx(tmp_path)):
        assert fault.path is not None
        etag, suffix = fault.path.name.split(".", 1)
        assert suffix == "incomplete"
        assert len(etag) == 64
        int(etag, 16)


def test_target_cleaning_the_orphan_is_recorded(tmp_path: pathlib.Path) -> None:
    """When the target removes the partial itself, cleaned_by says so and nothing is residue."""
    fault = OrphanPartial(size_bytes=10)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        assert fault.path is not None
        fault.path.unlink()  # what `hf cache prune` or the runtime's gc does
    assert fault.cleaned_by == "target"
    assert {"event": "install.orphan_partial.revert", "path": str(fault.path), "cleaned_by": "target"} in ctx.events
    assert fault.verify_reverted(ctx) == []


def test_leaky_orphan_is_residue(tmp_path: pathlib.Path) -> None:
    """cleanup=False with a target that ignores the orphan leaves residue that verify_reverted reports."""
    fault = OrphanPartial(size_bytes=10, cleanup=False)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        pass
    assert fault.path is not None
    residue = fault.verify_reverted(ctx)
    assert len(residue) == 1
    assert str(fault.path) in residue[0]


def test_replaced_file_belongs_to_the_target(tmp_path: pathlib.Path) -> None:
    """A file the target re-created at the same path (new inode) is the target's, not ours: left alone."""
    fault = StaleLock(kind="flock", etag="a" * 64)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        assert fault.path is not None
        fault.path.unlink()
        fault.path.write_bytes(b"")  # huggingface_hub creates its own 0-byte lock file and never deletes it
    assert fault.path.exists()
    assert fault.cleaned_by == "target"
    assert fault.verify_reverted(ctx) == []


def test_stale_flock_file_layout(tmp_path: pathlib.Path) -> None:
    """kind=flock leaves a 0-byte, aged <etag>.lock under .locks/<repo folder>, removed on exit."""
    fault = StaleLock(kind="flock", repo_id="acme/tiny-model", etag="b" * 64, age_s=7200)
    ctx = _ctx(tmp_path)
    with fault.inject(ctx):
        assert fault.path == tmp_path / "hub" / ".locks" / repo_folder("acme/tiny-model") / ("b" * 64 + ".lock")
        assert fault.path.read_bytes() == b""
        assert time.time() - fault.path.stat().st_mtime == pytest.approx(7200, abs=5)
    assert not fault.path.exists()
    assert fault.verify_reverted(ctx) == []


def test_bad_repo_id_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    """A repo_id without exactly one slash names the field and an example fix."""
    fault = OrphanPartial(repo_id="tiny-model")
    with (
        pytest.raises(FaultParamError, match=r"repo_id='tiny-model' must look like 'org/name'"),
        fault.inject(_ctx(tmp_path)),
    ):
        pass


def test_existing_file_is_not_overwritten(tmp_path: pathlib.Path) -> None:
    """Planting over an existing file is refused: the fault never destroys real cache content."""
    existing = tmp_path / "hub" / ".locks" / "l.lock"
    existing.parent.mkdir(parents=True)
    existing.write_text("real")
    fault = StaleLock(kind="flock", lock_path=".locks/l.lock")
    with pytest.raises(FaultArmError, match="already exists"), fault.inject(_ctx(tmp_path)):
        pass
    assert existing.read_text() == "real"
