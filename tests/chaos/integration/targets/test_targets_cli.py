"""`resilience hub serve` and `resilience index serve` as real processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parents[4] / "scenarios"


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, list[str]]]:
    """Start `resilience ARGS`, yield (url, lines printed before it), then SIGTERM it: it dies of SIGTERM."""
    command = [sys.executable, "-m", "chaos.cli", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            lines: list[str] = []
            for line in process.stdout:
                lines.append(line)
                if "serving on" in line:
                    break
            match = re.search(r"serving on (http://127\.0\.0\.1:\d+\S*?)[;\s]", lines[-1] if lines else "")
            assert match, "".join(lines)
            yield match.group(1), lines
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(timeout=10) == -signal.SIGTERM
            finally:
                process.kill()


def test_hub_serve_prints_url_and_serves_the_spec(tmp_path: Path) -> None:
    """`resilience hub serve --spec` lists repos with commits, binds loopback, and answers resolve requests."""
    spec = SCENARIOS / "hub_repos.toml"
    with serving("hub", "serve", "--spec", str(spec), "--root", str(tmp_path), "--cdn-port", "0") as (url, lines):
        assert any("wan-ai/wan-mini-t2v @ main,v1.0 = " in line for line in lines)
        assert "(cdn http://127.0.0.1:" in lines[-1]
        request = urllib.request.Request(f"{url}/wan-ai/wan-mini-t2v/resolve/main/config.json", method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert len(response.headers["X-Repo-Commit"]) == 40
    assert (tmp_path / "models" / "wan-ai" / "wan-mini-t2v").is_dir()


def test_index_serve_prints_url_and_serves_wheels(tmp_path: Path) -> None:
    """`resilience index serve --spec` serves the simple index of the generated wheels."""
    spec = SCENARIOS / "index_packages.toml"
    with serving("index", "serve", "--spec", str(spec), "--root", str(tmp_path)) as (url, lines):
        assert url.endswith("/simple/")
        assert any("tiny-tensor 1.3.0" in line for line in lines)
        with urllib.request.urlopen(url + "wan-app/", timeout=10) as response:
            assert "wan_app-1.0.0-py3-none-any.whl" in response.read().decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hub", "serve", "--spec", "/nonexistent/repos.toml"], "hub spec '/nonexistent/repos.toml' does not exist"),
        (["index", "serve", "--spec", "/nonexistent/p.toml"], "index spec '/nonexistent/p.toml' does not exist"),
        (["hub", "serve", "--spec", "x.toml", "--port", "70000"], "port='70000' must be an integer in 0..65535"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    """A bad spec path or port exits 2 with one clear line on stderr and no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_spec_content_names_the_field(tmp_path: Path) -> None:
    """A spec with a bad field makes `hub serve` exit 2 naming the file, field, value and fix."""
    spec = tmp_path / "repos.toml"
    spec.write_text('[[repos]]\nrepo_id = "acme/x"\n[[repos.files]]\npath = "m.safetensors"\nsize_bytes = 10\n')
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "hub", "serve", "--spec", str(spec), "--root", str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"resilience hub serve: error: {spec}: repos[0].files[0].size_bytes=10 must be >= 1024 for a safetensors file"
    ]
    assert not (tmp_path / "root").exists()  # nothing half-written
