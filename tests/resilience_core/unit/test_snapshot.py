"""StateStore round trips, sharing rules, pruning and recovery."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from resilience_core import (
    Categorizer,
    FailureType,
    RecoveryFailed,
    Rule,
    Runtime,
    Severity,
    set_testing,
)
from resilience_core import snapshot as snapshot_module
from resilience_core.errors import IntegrityError, SnapshotError
from resilience_core.recovery.strategies.rollback import RestoresSnapshots, RollbackStrategy
from resilience_core.state import _recovery as recovery_module
from resilience_core.state.snapshot import StateStore


def write(path: Path, text: str) -> None:
    """Create parents and write ``text``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def replace(path: Path, text: str) -> None:
    """Replace a file the safe way: a temp file renamed over it."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text)
    os.replace(temp, path)


def listing(root: Path) -> dict[str, str]:
    """Relative path -> content (or '->target' for symlinks, '/' for directories)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "->" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "/"
        else:
            out[rel] = path.read_text()
    return out


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A small install tree with nested dirs, an empty dir and a relative symlink."""
    root = tmp_path / "app"
    write(root / "config.json", '{"v": 1}')
    write(root / "models" / "a" / "weights.bin", "weights-1")
    (root / "empty").mkdir()
    os.symlink("models/a/weights.bin", root / "current")
    return root


def test_round_trip_restores_files_dirs_symlinks_and_state(tmp_path: Path, app: Path) -> None:
    """Deleted, replaced and added files all return to the snapshot, and the state comes back."""
    store = StateStore(tmp_path / "store")
    before = listing(app)
    snap = store.snapshot([app], state={"step": "pre", "n": [1, 2]}, label="pre-upgrade")
    assert (snap.file_count, snap.size_bytes, snap.label) == (2, len('{"v": 1}') + len("weights-1"), "pre-upgrade")
    replace(app / "config.json", '{"v": 2}')
    os.unlink(app / "models" / "a" / "weights.bin")
    write(app / "new.txt", "new")
    os.rmdir(app / "empty")
    restored = store.restore(snap.id)
    assert listing(app) == before
    assert restored.state == {"step": "pre", "n": [1, 2]}
    store.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "store"], "the replaced tree was removed"
    assert list((tmp_path / "store" / "pending").iterdir()) == []


def test_file_roots_and_absent_roots_restore(tmp_path: Path) -> None:
    """A single file comes back; a path absent at snapshot time is removed again by restore."""
    store = StateStore(tmp_path / "store")
    single = tmp_path / "settings.json"
    single.write_text("{}")
    later = tmp_path / "created-later"
    snap = store.snapshot([single, later])
    replace(single, '{"changed": true}')
    write(later / "junk", "x")
    store.restore(snap.id)
    assert single.read_text() == "{}"
    assert not later.exists()


def test_snapshot_shares_content_by_hardlink_or_reflink(tmp_path: Path, app: Path) -> None:
    """Snapshot data shares inodes with the live tree (or is a reflink): no bytes copied on the same fs."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app])
    stored = sorted((tmp_path / "store" / "snapshots" / snap.id / "data" / "0").iterdir())
    assert [p.name for p in stored] == ["0", "1"], "one flat directory of files per root"
    live = {(app / "config.json").stat().st_ino, (app / "models" / "a" / "weights.bin").stat().st_ino}
    if (app / "config.json").stat().st_nlink == 2:
        assert {p.stat().st_ino for p in stored} == live
    else:  # a reflink: separate inodes, shared extents
        assert {p.read_text() for p in stored} == {'{"v": 1}', "weights-1"}


def test_in_place_modification_is_refused_with_the_rule(tmp_path: Path, app: Path) -> None:
    """Writing into a shared file (not replacing it) makes restore refuse and name the entry."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app])
    if (app / "config.json").stat().st_nlink == 1:
        pytest.skip("reflinks: in-place writes cannot reach the snapshot on this filesystem")
    with open(app / "config.json", "a") as stream:
        stream.write(" ")
    replace(app / "models" / "a" / "weights.bin", "other")
    with pytest.raises(IntegrityError, match=r"modified in place.*replace files") as info:
        store.restore(snap.id)
    assert info.value.entry == "config.json"
    assert (app / "models" / "a" / "weights.bin").read_text() == "other", "nothing was touched"


def test_mode_change_falls_back_to_a_private_copy(tmp_path: Path, app: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A chmod on a shared inode restores a private copy with the saved mode, and says so."""
    store = StateStore(tmp_path / "store")
    os.chmod(app / "config.json", 0o640)
    snap = store.snapshot([app])
    os.chmod(app / "config.json", 0o600)
    with caplog.at_level(logging.WARNING, logger="resilience_core.state.snapshot"):
        store.restore(snap.id)
    assert (app / "config.json").stat().st_mode & 0o777 == 0o640
    assert "mode changed after the snapshot" in caplog.text


def test_copy_restore_shares_nothing_with_the_store(tmp_path: Path, app: Path) -> None:
    """restore(copy=True) gives the tree private files: in-place writes then cannot reach the snapshot."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app])
    store.restore(snap.id, copy=True)
    assert (app / "config.json").stat().st_nlink == 1
    with open(app / "config.json", "a") as stream:
        stream.write("in place")
    store.restore(snap.id)
    assert (app / "config.json").read_text() == '{"v": 1}'


def test_hashes_are_verified_when_recorded(tmp_path: Path, app: Path) -> None:
    """With hash_files=True a same-size, same-mtime content change is caught by sha256, naming the entry."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app], hash_files=True)
    data = next(
        p for p in (tmp_path / "store" / "snapshots" / snap.id / "data" / "0").iterdir() if p.stat().st_size == 8
    )
    info = data.stat()
    with open(data, "r+b") as stream:
        stream.write(b"X")
    os.utime(data, ns=(info.st_atime_ns, info.st_mtime_ns))
    with pytest.raises(IntegrityError, match="bad checksum") as error:
        store.restore(snap.id)
    assert error.value.entry == "config.json"
    store.restore(snap.id, verify_hashes=False)  # the caller may accept it knowingly


def test_list_get_and_prune_by_count_and_age(tmp_path: Path, app: Path) -> None:
    """list() is oldest first; prune keeps the newest N and drops those older than max_age_s."""
    now = [1000.0]
    store = StateStore(tmp_path / "store", now=lambda: now[0])
    ids = []
    for step in range(4):
        now[0] += 100
        ids.append(store.snapshot([app], state={"step": step}).id)
    assert [s.id for s in store.list()] == ids
    assert store.get(ids[1]).state == {"step": 1}
    assert store.prune(keep=3) == [ids[0]]
    now[0] += 50
    assert sorted(store.prune(max_age_s=100)) == sorted(ids[1:3])
    assert [s.id for s in store.list()] == [ids[3]]
    assert store.prune() == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, app: s.restore("../../etc"), "not a snapshot id"),
        (lambda s, app: s.restore("20260101T000000000000Z-deadbeef"), "does not exist"),
        (lambda s, app: s.snapshot([]), "paths is empty"),
        (lambda s, app: s.snapshot([app, app / "models"]), "overlap"),
        (lambda s, app: s.snapshot([app], state={"obj": object()}), "not JSON"),
        (lambda s, app: s.snapshot([app], state={"nan": float("nan")}), "not JSON"),
        (lambda s, app: s.prune(keep=-1), "keep=-1"),
        (lambda s, app: s.snapshot([app], label="x" * 300), "label="),
    ],
)
def test_bad_arguments_raise_one_clear_error(tmp_path: Path, app: Path, call: object, message: str) -> None:
    """Bad ids, paths, state, labels and limits raise SnapshotError naming the value; nothing is written."""
    store = StateStore(tmp_path / "store")
    with pytest.raises(SnapshotError, match=message):
        call(store, app)  # type: ignore[operator]
    assert store.list() == []
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_store_inside_a_snapshotted_tree_is_refused(tmp_path: Path, app: Path) -> None:
    """The store may not live inside a tree it snapshots (it would snapshot itself)."""
    store = StateStore(app / ".state")
    with pytest.raises(SnapshotError, match="overlaps the store"):
        store.snapshot([app])


def test_escaping_symlink_is_refused_at_snapshot(tmp_path: Path, app: Path) -> None:
    """A symlink leaving the tree cannot be snapshotted (restore would otherwise recreate it)."""
    os.symlink("/etc/passwd", app / "evil")
    with pytest.raises(SnapshotError, match="escapes the root"):
        StateStore(tmp_path / "store").snapshot([app])


def test_restore_without_rename_exchange_rolls_forward_after_a_crash(
    tmp_path: Path, app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where renameat2 is missing, two journaled renames are used; recover() rolls a half swap forward."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app])
    before = listing(app)
    replace(app / "config.json", "changed")
    monkeypatch.setattr(snapshot_module, "exchange", lambda first, second: False)
    real_publish = snapshot_module.publish_file

    def crash_after_moving_aside(source: str, target: str, *, durable: bool = True) -> Path:
        real_publish(source, target, durable=durable)
        if ".old-" in str(target):
            raise KeyboardInterrupt("simulated kill between the two renames")
        return Path(target)

    monkeypatch.setattr(snapshot_module, "publish_file", crash_after_moving_aside)
    monkeypatch.setattr(StateStore, "_abandon", lambda self, swaps: None)  # a killed process cleans nothing
    with pytest.raises(KeyboardInterrupt):
        store.restore(snap.id)
    monkeypatch.undo()
    assert not app.exists(), "the kill landed between the two renames"
    monkeypatch.setattr(recovery_module, "pid_alive", lambda pid: False)
    actions = store.recover()
    assert any("rolled" in a for a in actions)
    assert listing(app) == before
    assert [p.name for p in app.parent.iterdir() if ".restore-" in p.name or ".old-" in p.name] == []


def test_failure_between_the_two_renames_rolls_forward_at_once(
    tmp_path: Path, app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception (not a kill) between the two renames finishes the swap instead of deleting the old tree."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app])
    before = listing(app)
    replace(app / "config.json", "changed")
    monkeypatch.setattr(snapshot_module, "exchange", lambda first, second: False)
    real_publish = snapshot_module.publish_file
    calls = []

    def fail_second_rename(source: str, target: str, *, durable: bool = True) -> Path:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(5, "simulated I/O error")
        return real_publish(source, target, durable=durable)

    monkeypatch.setattr(snapshot_module, "publish_file", fail_second_rename)
    with pytest.raises(OSError, match="simulated"):
        store.restore(snap.id)
    monkeypatch.undo()
    assert listing(app) == before, "rolled forward to the restored tree"
    assert list((tmp_path / "store" / "pending").iterdir()) == []


def test_roots_pin_what_a_store_may_snapshot(tmp_path: Path, app: Path) -> None:
    """With roots=, snapshot() accepts those trees and paths beneath them, and refuses anything else."""
    other = tmp_path / "other"
    other.mkdir()
    store = StateStore(tmp_path / "store", roots=[app])
    assert store.snapshot([app / "models", app / "config.json"]).file_count == 2
    with pytest.raises(SnapshotError, match="not one of the roots this store was opened with"):
        store.snapshot([other])
    with pytest.raises(SnapshotError, match="overlaps the store"):
        StateStore(tmp_path / "store2", roots=[tmp_path / "store2" / "inside"])
    holding = StateStore(tmp_path / "store4", roots=[tmp_path])  # an allow-list may hold the store...
    assert holding.snapshot([other]).roots == (str(other),)
    with pytest.raises(SnapshotError, match="overlaps the store"):
        holding.snapshot([tmp_path])  # ...but no snapshot path may
    with pytest.raises(SnapshotError, match="allows no tree"):
        StateStore(tmp_path / "store3", roots=[])


def test_a_store_opened_with_other_roots_refuses_the_snapshot(tmp_path: Path, app: Path) -> None:
    """A snapshot of a tree is refused by the same store reopened with roots that do not include it."""
    snap = StateStore(tmp_path / "store").snapshot([app])
    narrow = StateStore(tmp_path / "store", roots=[tmp_path / "elsewhere"])
    with pytest.raises(IntegrityError, match="not one of the roots") as info:
        narrow.restore(snap.id)
    assert info.value.entry == str(app)
    assert narrow.list() == []


def test_tampered_journal_is_removed_without_acting_on_it(tmp_path: Path, app: Path) -> None:
    """A journal naming a victim directory, unsealed or resealed with bad fields, deletes and renames nothing."""
    import hmac

    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / ".victim.old-1-deadbeef").mkdir()
    store = StateStore(tmp_path / "store")
    pending = tmp_path / "store" / "pending"
    key = (tmp_path / "store" / "key").read_bytes()
    forged = {"schema": "resilience-core/restore-journal@1", "pid": 1, "target": str(victim), "token": "1-deadbeef"}
    bodies = {
        "unsealed": json.dumps({"pid": 999999, "target": str(victim), "staging": str(victim), "old": str(victim)}),
        "huge pid": json.dumps({**forged, "pid": 10**30, "phase": "swapping"}),
        "bad token": json.dumps({**forged, "pid": 999999, "token": "../../x", "phase": "swapping"}),
        "relative target": json.dumps({**forged, "pid": 999999, "target": "victim", "phase": "swapping"}),
    }
    for name, body in bodies.items():
        raw = body.encode()
        mac = hmac.new(key, raw, "sha256").hexdigest().encode()
        sealed = raw if name == "unsealed" else b'{"hmac_sha256":"' + mac + b'","body":' + raw + b"}"
        (pending / f"restore-{name.replace(' ', '-')}.json").write_bytes(sealed)
    assert store.recover() == []
    assert victim.is_dir()
    assert (tmp_path / ".victim.old-1-deadbeef").is_dir()
    assert list(pending.iterdir()) == []


def test_recover_removes_partial_snapshots_of_dead_processes(tmp_path: Path) -> None:
    """A half-built snapshot left by a dead pid is deleted; a live process's one is kept."""
    store = StateStore(tmp_path / "store")
    dead = tmp_path / "store" / "tmp" / "20260101T000000000000Z-00000000.999999999.partial"
    live = tmp_path / "store" / "tmp" / f"20260101T000000000000Z-00000001.{os.getpid()}.partial"
    huge_pid = tmp_path / "store" / "tmp" / "20260101T000000000000Z-00000002.9999999999.partial"
    odd = tmp_path / "store" / "tmp" / "not.a.partial"
    for path in (dead, live, huge_pid, odd):
        path.mkdir()
    store.recover()
    assert not dead.exists()
    assert not huge_pid.exists(), "a pid no process can have is dead"
    assert live.exists()
    assert odd.exists(), "names recover() did not make are left alone"


class UpgradeBrokeError(Exception):
    """An upgrade step that failed half-way."""


def test_runtime_rollback_strategy_restores_through_the_state_store(tmp_path: Path, app: Path) -> None:
    """A failed, half-applied upgrade run by the Runtime is rolled back to the snapshot via StateStore."""
    store = StateStore(tmp_path / "store")
    snap = store.snapshot([app], label="known-good")
    assert isinstance(store, RestoresSnapshots)
    categorizer = Categorizer()
    name = f"{UpgradeBrokeError.__module__}.{UpgradeBrokeError.__qualname__}"
    categorizer.add_rule(Rule(FailureType.DEPENDENCY_INSTALL_FAILURE, Severity.HIGH, types=(name,), priority=99))

    def upgrade() -> None:
        replace(app / "config.json", '{"v": 2}')
        os.unlink(app / "models" / "a" / "weights.bin")
        raise UpgradeBrokeError("half-installed")

    with set_testing(True):
        runtime = Runtime(categorizer=categorizer, plan={FailureType.DEPENDENCY_INSTALL_FAILURE: ("rollback",)})
        runtime.register(RollbackStrategy(store=store, snapshot_id=snap.id))
        with pytest.raises(RecoveryFailed, match="restored to its previous state") as info:
            runtime.run(upgrade, operation="upgrade")
    assert info.value.result.system_changes["restored_snapshot"] == snap.id
    assert (app / "config.json").read_text() == '{"v": 1}'
    assert (app / "models" / "a" / "weights.bin").read_text() == "weights-1"


@pytest.mark.parametrize(
    "module",
    [
        "resilience_core.state.snapshot",
        "resilience_core.state.integrity",
        "resilience_core.state.logs",
        "resilience_core.health",
    ],
)
def test_module_docstring_examples_run(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The usage examples in the state modules' docstrings run and print what they claim."""
    import doctest
    import importlib
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
