"""Test tiers from folders, and a unit tier that cannot reach a server, a subprocess or a real sleep.

Every test lives under a folder named for its tier (``unit/``, ``integration/``, ``acceptance/``); the folder
gives it the marker, so ``-m unit`` selects exactly the fast tier and ``-m "not integration"`` starts no server.
A test outside a tier folder is a collection error.

While a unit test runs (setup, call and teardown), opening an IP socket, starting a subprocess or forking, and
sleeping for real raise :class:`TierViolation`. With ``-m unit`` the same guards hold for the whole session,
collection included, so an import that starts a server is caught too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

TIERS = ("unit", "integration", "acceptance")
_TESTS_ROOT = Path(__file__).parent


class TierViolation(RuntimeError):
    """A unit-tier test reached for something only integration tests may use."""


def tier_of(path: Path) -> str | None:
    """The tier folder a test file sits under, or None."""
    try:
        parts = path.resolve().relative_to(_TESTS_ROOT).parts
    except ValueError:
        return None
    return next((part for part in parts[:-1] if part in TIERS), None)


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TierViolation(f"unit tests may not {what}; move the test under an integration/ folder")

    return refuse


_real_socket_init = socket.socket.__init__
_real_sleep = time.sleep


def _guarded_socket_init(self: socket.socket, family: int = -1, *args: Any, **kwargs: Any) -> None:
    # AF_UNIX stays allowed: asyncio's event loop and multiprocessing's pipes use socketpair() internally.
    if family in (socket.AF_INET, socket.AF_INET6) or (family == -1 and not args and "fileno" not in kwargs):
        raise TierViolation("unit tests may not open IP sockets; move the test under an integration/ folder")
    _real_socket_init(self, family, *args, **kwargs)


def _guarded_sleep(seconds: float) -> None:
    if seconds > 0:
        raise TierViolation(
            f"unit tests may not sleep ({seconds} s); use resilience_core.FakeClock or poll with a condition"
        )
    _real_sleep(0)


@contextlib.contextmanager
def unit_guards() -> Iterator[None]:
    """Block IP sockets, subprocesses, fork and real sleeps for the duration of the block."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(socket.socket, "__init__", _guarded_socket_init)
        mp.setattr(subprocess.Popen, "__init__", _refuse("start subprocesses"))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            if hasattr(os, name):
                mp.setattr(os, name, _refuse("start processes"))
        mp.setattr(time, "sleep", _guarded_sleep)
        yield
    finally:
        mp.undo()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the tier of its folder; a test outside any tier folder is an error."""
    untiered: list[str] = []
    for item in items:
        tier = tier_of(Path(item.path))
        if tier is None:
            untiered.append(item.nodeid)
            continue
        item.add_marker(getattr(pytest.mark, tier))
    if untiered:
        shown = ", ".join(untiered[:3]) + (" ..." if len(untiered) > 3 else "")
        raise pytest.UsageError(f"{len(untiered)} test(s) outside a unit/, integration/ or acceptance/ folder: {shown}")


_SESSION_GUARDS: list[contextlib.ExitStack] = []


def _unit_only(config: pytest.Config) -> bool:
    return (config.option.markexpr or "").strip() == "unit"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m unit``, the other tiers' modules are not even imported (their imports may probe the machine)."""
    if _unit_only(config) and collection_path.suffix == ".py" and tier_of(collection_path) not in (None, "unit"):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    """With ``-m unit``, guard the whole session, collection included."""
    is_worker = hasattr(config, "workerinput")
    spawns_workers = bool(getattr(config.option, "numprocesses", None)) and not is_worker
    if _unit_only(config) and not spawns_workers:
        stack = contextlib.ExitStack()
        stack.enter_context(unit_guards())
        _SESSION_GUARDS.append(stack)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _SESSION_GUARDS:
        _SESSION_GUARDS.pop().close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


def _guarded(item: pytest.Item) -> Generator[None, None, None]:
    if item.get_closest_marker("unit") is None or _SESSION_GUARDS:
        return (yield)
    with unit_guards():
        return (yield)


@pytest.fixture(scope="session", autouse=True)
def _journals_follow_the_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session, every ``journal.json`` a test wrote under its temp dirs (serial or per xdist worker)
    validates against the journal@1 schema (chaos/report/journal.schema.json); files that are not JSON or claim
    another schema are left to the tests that wrote them on purpose."""
    yield
    import json

    from chaos.report.journal import SCHEMA
    from chaos.report.schema import journal_errors

    invalid = []
    for path in tmp_path_factory.getbasetemp().rglob("journal.json"):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # hostile inputs other tests wrote on purpose
            continue
        if isinstance(document, dict) and document.get("schema") == SCHEMA and (errors := journal_errors(document)):
            invalid.append(f"{path}: {errors[0]}")
    if invalid:
        pytest.fail(f"{len(invalid)} journal(s) break the journal@1 schema: " + "; ".join(invalid[:5]), pytrace=False)
