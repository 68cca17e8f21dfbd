"""The outcome rule of a command trial and the routing environment (pure functions: no process runs here)."""

from __future__ import annotations

import os

import pytest

from chaos.command import CommandFailed, CommandResult, outcome, proxy_url, routed_env, settle
from chaos.trials import Trial, classify
from resilience_core.recovery.taxonomy import Outcome


def _result(returncode: int, stderr: str = "", *, timed_out: bool = False) -> CommandResult:
    return CommandResult(("sh", "install.sh"), returncode, 0.1, "", stderr, timed_out, False, ())


@pytest.mark.parametrize(
    ("result", "problems", "expected"),
    [
        (_result(0), [], Outcome.RECOVERED),
        (_result(0), ["leftover file: w.bin.incomplete"], Outcome.FAILED_DIRTY),
        (_result(1, "error: no space left; free 2 GB\n"), [], Outcome.FAILED_CLEAN),
        (_result(1, "error: reset\n"), ["w.bin does not match"], Outcome.FAILED_DIRTY),
        (_result(1, "  \n"), [], Outcome.FAILED_DIRTY),  # no message for the user
        (_result(-9, "partial output\n", timed_out=True), [], Outcome.FAILED_DIRTY),  # a hang
    ],
)
def test_outcome_rule(result: CommandResult, problems: list[str], expected: Outcome) -> None:
    assert outcome(result, problems) == expected
    assert result.outcome(problems) == expected


def test_settle_maps_onto_the_plugin_classification() -> None:
    """What settle leaves on the trial, classify turns into the same outcome: no special case needed."""
    for result, problems, expected in [
        (_result(0), [], Outcome.RECOVERED),
        (_result(2, "error: the hub is down; retry later\n"), [], Outcome.FAILED_CLEAN),
        (_result(2, "error\n"), ["lock still held: x.lock"], Outcome.FAILED_DIRTY),
        (_result(3), [], Outcome.FAILED_DIRTY),
    ]:
        trial = Trial("s", 0, 1)
        trial.marked_triggered = True
        error: BaseException | None = None
        try:
            assert settle(trial, result, problems) == Outcome.RECOVERED
        except CommandFailed as failed:
            error = failed
        assert classify(trial, body_error=error) == expected
    assert issubclass(CommandFailed, AssertionError)  # a failed body, never a harness error (ChaosError)
    trial = Trial("s", 0, 1)
    with pytest.raises(CommandFailed, match="retry later"):
        settle(trial, _result(2, "warning: slow\nerror: the hub is down; retry later\n"))
    assert trial.user_message == "error: the hub is down; retry later"
    assert trial.events[-1]["event"] == "command.verify"


def test_routed_env_isolates_pip_and_the_hub_cache() -> None:
    base = {
        "PATH": "/bin",
        "PIP_EXTRA_INDEX_URL": "https://elsewhere/simple",
        "PIP_FIND_LINKS": "/wheels",
        "HF_HUB_CACHE": "/home/me/.cache/hub",
        "HF_TOKEN": "hf_secret",
        "NO_PROXY": "corp.example",
    }
    env = routed_env(base, hub_url="http://127.0.0.1:5000/", index_url="http://127.0.0.1:6000/simple/", hf_home="/t/hf")
    assert env["PATH"] == "/bin"
    assert [key for key in env if key.startswith("PIP_")] == [
        "PIP_INDEX_URL",
        "PIP_TRUSTED_HOST",
        "PIP_NO_CACHE_DIR",
        "PIP_CONFIG_FILE",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_INPUT",
    ]
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_TRUSTED_HOST"] == "127.0.0.1"
    assert env["HF_ENDPOINT"] == "http://127.0.0.1:5000"
    assert env["HF_HOME"] == "/t/hf"
    assert "HF_HUB_CACHE" not in env
    assert "HF_TOKEN" not in env
    assert env["NO_PROXY"].split(",")[:2] == ["corp.example", "127.0.0.1"]
    assert routed_env(base, hub_url=None, index_url=None, hf_home="/t", extra={"X": "1"}) == {**base, "X": "1"}


def test_proxy_url_dials_a_wildcard_on_loopback() -> None:
    assert proxy_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert proxy_url("0.0.0.0:81", path="/simple/") == "http://127.0.0.1:81/simple/"
    assert proxy_url("[::1]:82") == "http://[::1]:82"


def test_output_tails_drop_terminal_escapes() -> None:
    """Colours, titles and control bytes a CLI writes (the hf CLI's grey hint line) never reach the journal, and
    the last stderr line is the words the user saw."""
    from chaos.command import _Tail

    tail = _Tail(200)
    tail.add(b"\x1b[90mHint: set HF_DEBUG=1\x1b[0m\n\x1b]0;title\x07done\x08 \x1b(B\n")
    text = tail.text()
    assert text == "Hint: set HF_DEBUG=1\ndone \n"
    result = CommandResult(
        argv=("x",),
        returncode=1,
        duration_s=0.1,
        stdout_tail="",
        stderr_tail=text,
        timed_out=False,
        killed=False,
        fired=(),
    )
    assert result.message == "done"
