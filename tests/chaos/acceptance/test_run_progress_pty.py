"""`resilience run` on a real terminal (a pty): the progress bar shows, and pytest's output stays intact."""

from __future__ import annotations

import fcntl
import os
import pathlib
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.acceptance

pyte = pytest.importorskip("pyte", reason="pyte (dev extra) reads the screen the pty shows: pip install pyte")

COLUMNS, ROWS = 120, 40
# Every well-formed escape sequence a terminal understands here: CSI (colours, cursor moves, erase), OSC, and
# the two-byte ones; what is left after removing them is text a person would see.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78MDEc]")
SCENARIO = """
import pytest

@pytest.mark.chaos(trials=12, min_recovery_rate=0.0)
def test_flaky(chaos):
    assert chaos.index % 4
"""


def _run_in_pty(args: list[str], cwd: pathlib.Path, timeout_s: float = 120.0) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "NO_COLOR", "CI"))}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    process = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
    finally:
        os.close(master)
    return process.wait(timeout=30), output


def test_progress_bar_on_a_pty_leaves_no_stray_escape_sequences(tmp_path: pathlib.Path) -> None:
    """Under a pty the bar draws, every escape sequence is well formed, and pytest's row of results is one line
    of F and . (not one line per character, not literal colour codes)."""
    (tmp_path / "test_tiny.py").write_text(SCENARIO)
    command = [sys.executable, "-m", "chaos.cli", "run", "test_tiny.py", "--seed", "1", "--report", "rep"]
    status, raw = _run_in_pty(command, tmp_path)
    assert status == 0, raw.decode(errors="replace")[-3000:]
    text = raw.decode("utf-8", errors="replace")
    assert "━" in text, "the progress bar never drew (was the pty a terminal?)"
    visible = ESCAPES.sub("", text)
    assert "\x1b" not in visible, repr(visible[visible.index("\x1b") - 40 :][:120])
    assert not re.search(r"\[(?:\d+;)*\d+m", visible), "a colour code was printed as text"
    screen = pyte.Screen(COLUMNS, 500)
    pyte.ByteStream(screen).feed(raw)  # the pty already turned each newline into CR LF, as a terminal needs
    lines = [line.rstrip() for line in screen.display if line.strip()]
    results = [line for line in lines if line.startswith("test_tiny.py ")]
    assert len(results) == 1, lines[:20]
    assert re.fullmatch(r"test_tiny\.py x\.\.\.x\.\.\.x\.\.\. +\[100%\]", results[0]), results[0]
    assert not [line for line in lines if line in (".", "F")], "a result printed on a line of its own"
    assert any("BASELINE test_tiny.py::test_flaky" in line for line in lines)
    assert (tmp_path / "rep" / "report.html").exists()
