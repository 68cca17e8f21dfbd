"""What every `resilience` command shares: --version, one metavar, one-line errors naming the right help, exit 2."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from chaos.cli import build_parser, main
from chaos.cli.proxy import serve_address


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def _exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _groups(parser: argparse.ArgumentParser, path: str = "resilience") -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:  # argparse keeps no public list of subparser groups
        if isinstance(action, argparse._SubParsersAction):
            found.append((path, action))
            for name, sub in action.choices.items():
                found.extend(_groups(sub, f"{path} {name}"))
    return found


def test_version_prints_the_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`resilience --version` prints the installed version and exits 0."""
    from importlib.metadata import version

    assert _exit_status(["--version"]) == 0
    assert capsys.readouterr().out == f"resilience {version('resilience-chaos')} (resilience-chaos)\n"


def test_every_command_group_uses_the_same_metavar() -> None:
    """The top level and every group (faults, report, proxy, hub, index) show COMMAND, never ACTION/SUBCOMMAND."""
    groups = _groups(build_parser())
    assert {path for path, _ in groups} >= {
        "resilience",
        "resilience faults",
        "resilience report",
        "resilience proxy",
        "resilience hub",
        "resilience index",
    }
    assert {path: action.metavar for path, action in groups} == dict.fromkeys((p for p, _ in groups), "COMMAND")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bogus"], "resilience: error: argument COMMAND: invalid choice: 'bogus'"),
        (["hub"], "resilience hub: error: the following arguments are required: COMMAND; see 'resilience hub --help'"),
        (["proxy", "serve", "-bogus"], "see 'resilience proxy serve --help'"),
        (["hub", "serve", "--spec", "x.toml", "--frobnicate"], "see 'resilience hub serve --help'"),
        (["faults", "list", "--yaml"], "resilience faults list: error: unrecognized arguments: --yaml"),
        (["proxy", "serve", "--port", "70000"], "port='70000' must be an integer in 0..65535"),
        (["proxy", "serve", "-port", "-1"], "resilience proxy serve: error: argument --port/-port"),
        (["proxy", "serve", "-port", "\uff18\uff14"], "must be an integer in 0..65535"),  # full-width digits
        (["hub", "serve", "--spec", "x.toml", "--port", "70000"], "port='70000' must be an integer in 0..65535"),
        (["hub", "serve", "--spec", "x.toml", "--cdn-port", "1e3"], "port='1e3' must be an integer"),
        (["index", "serve", "--port", "65536"], "port='65536' must be an integer in 0..65535"),
    ],
)
def test_usage_errors_are_one_line_pointing_at_the_right_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    """A bad command, flag or port is one line on stderr, exit 2, naming the help of the command being parsed."""
    assert _exit_status(argv) == 2
    assert expected in _error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["hub", "serve", "--spec", "x.toml", "--host", "0.0.0.0"],
        ["hub", "serve", "--spec", "x.toml", "--host", "192.0.2.7"],
        ["index", "serve", "--host", "::"],
        ["proxy", "serve", "-host", "0.0.0.0", "-port", "0"],
        ["proxy", "serve", "--host=example.com"],
    ],
)
def test_every_server_refuses_a_non_loopback_host_without_allow_remote(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """hub serve, index serve and proxy serve all refuse a non-loopback --host unless --allow-remote is given."""
    assert _exit_status(argv) == 2
    line = _error_line(capsys)
    assert "is not loopback" in line
    assert "--allow-remote" in line


def test_toxiproxy_single_dash_flags_parse_like_the_double_dash_ones(tmp_path: Path) -> None:
    """-host, -port, -config, -seed and -proxy-metrics (toxiproxy-server's spellings) set the same options."""
    config = tmp_path / "p.json"
    single = build_parser().parse_args(
        ["proxy", "serve", "-host", "127.0.0.1", "-port=8475", "-config", str(config), "-seed", "3", "-proxy-metrics"]
    )
    double = build_parser().parse_args(
        [
            "proxy",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "8475",
            "--config",
            str(config),
            "--seed=3",
            "--proxy-metrics",
        ]
    )
    keys = ("host", "port", "config", "seed", "proxy_metrics")
    assert [getattr(single, k) for k in keys] == [getattr(double, k) for k in keys]
    assert (single.host, single.port, single.config, single.seed) == ("127.0.0.1", 8475, config, 3)


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ((None, None), {}, ("127.0.0.1", 8474, "--host")),
        ((None, None), {"TOXIPROXY_URL": "http://127.0.0.1:9000"}, ("127.0.0.1", 9000, "env:TOXIPROXY_URL")),
        ((None, None), {"TOXIPROXY_URL": "http://localhost:9000/"}, ("localhost", 9000, "env:TOXIPROXY_URL")),
        ((None, None), {"TOXIPROXY_URL": "http://[::1]:9001"}, ("::1", 9001, "env:TOXIPROXY_URL")),
        ((None, 7000), {"TOXIPROXY_URL": "http://127.0.0.2:9000"}, ("127.0.0.2", 7000, "env:TOXIPROXY_URL")),
        (("127.0.0.1", None), {"TOXIPROXY_URL": "http://10.0.0.1:9000"}, ("127.0.0.1", 9000, "--host")),
        (("127.0.0.1", 1), {"TOXIPROXY_URL": "not a url"}, ("127.0.0.1", 1, "--host")),
    ],
)
def test_toxiproxy_url_gives_the_default_listen_address(
    flags: tuple[str | None, int | None], env: dict[str, str], expected: tuple[str, int, str]
) -> None:
    """TOXIPROXY_URL (where clients look) is where serve listens unless -host/-port say otherwise."""
    assert serve_address(*flags, environ=env) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1:8474", "scheme must be http://"),
        ("http://", "names no host"),
        ("http://127.0.0.1:99999", "not a URL"),
        ("http://127.0.0.1:8474/api", "has a path"),
        ("127.0.0.1:8474", "scheme must be http://"),
    ],
)
def test_a_bad_toxiproxy_url_is_one_line_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    """A TOXIPROXY_URL that cannot say where to listen exits 2 naming env:TOXIPROXY_URL and the fix."""
    monkeypatch.setenv("TOXIPROXY_URL", url)
    assert _exit_status(["proxy", "serve"]) == 2
    line = _error_line(capsys)
    assert "env:TOXIPROXY_URL=" in line
    assert problem in line
    assert "fix:" in line


def test_a_non_loopback_toxiproxy_url_needs_allow_remote(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remote host named by TOXIPROXY_URL is refused like --host, and the message says where it came from."""
    monkeypatch.setenv("TOXIPROXY_URL", "http://203.0.113.9:8474")
    assert _exit_status(["proxy", "serve"]) == 2
    assert "env:TOXIPROXY_URL '203.0.113.9' is not loopback" in _error_line(capsys)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe[]", "is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"),
        (b'[{"name": "a", "upstream": "x:1"}]' + b" " * (4 << 20), "over the limit"),
        (json.dumps([{"name": "a", "upstream": "x:1"}] * 2).encode()[:-1], "is not valid JSON"),
    ],
)
def test_hostile_populate_files_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    """A non-UTF-8, 100,000-deep, oversized or truncated -config file exits 2 with one line naming the file."""
    config = tmp_path / "populate.json"
    config.write_bytes(content)
    assert _exit_status(["proxy", "serve", "-port", "0", "-config", str(config)]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"resilience proxy serve: error: --config {str(config)!r}: ")
    assert expected in line


def test_a_config_under_proc_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A -config that cannot be read (a /proc file that refuses reads) is one line, not an OSError traceback."""
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc on this machine")
    assert _exit_status(["proxy", "serve", "-port", "0", "-config", "/proc/self/mem"]) == 2
    assert "cannot be read" in _error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["hub", "serve", "--spec", "{spec}", "--root", "/proc/self/chaos-hub"],
        ["index", "serve", "--root", "/proc/self/chaos-index"],
    ],
)
def test_a_root_under_proc_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A --root where nothing can be written (under /proc) is one line naming the root and the fix."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this machine")
    spec = tmp_path / "repos.toml"
    spec.write_text('[[repos]]\nrepo_id = "a/b"\n[[repos.files]]\npath = "config.json"\n')
    assert _exit_status([arg.replace("{spec}", str(spec)) for arg in argv]) == 2
    line = _error_line(capsys)
    assert "/proc/self/chaos-" in line
    assert "writable root" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"), (b"\xff{}", "is not UTF-8 text")],
)
def test_a_hostile_journal_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    """`resilience report merge` over a 100,000-deep or non-UTF-8 journal exits 2 with one line."""
    journal = tmp_path / "journal.json"
    journal.write_bytes(content)
    assert _exit_status(["report", "merge", str(journal), "--out", str(tmp_path / "out")]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"resilience report merge: error: journal {journal}: cannot read it")
    assert expected in line
