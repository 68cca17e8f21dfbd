"""The pytest plugin as a user runs it: trials, rates, intervals, exit status, replay, header, settings."""

from __future__ import annotations

import json
import random
import re
import shlex

import pytest

from chaos.trials import trial_seed, wilson_interval

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance

FLAKY = """
import random
import pytest

@pytest.mark.chaos(trials=20, min_recovery_rate={rate})
def test_flaky(chaos):
    # a seeded flaky target: it recovers in about 70 % of trials
    assert random.Random(chaos.seed).random() < 0.7, "target gave up"
"""

CONFTEST_FAULTS = """
import contextlib
from chaos import Fault, Param

LEAKS = []

class Toggle(Fault):
    name = "demo.toggle"
    summary = "fires when told to; can leak"
    params = (Param("fire", bool, True), Param("leak", bool, False))

    @contextlib.contextmanager
    def _armed(self, ctx):
        self.triggered = self.values["fire"]
        self.backend = "conftest"
        yield self
        if self.values["leak"]:
            LEAKS.append(ctx.seed)

    def inject(self, ctx):
        return self._armed(ctx)

    def verify_reverted(self, ctx):
        return [f"leaked {ctx.seed}"] if ctx.seed in LEAKS else []

def chaos_add_faults(registry):
    registry.register(Toggle)

def chaos_report(journal, outdir):
    path = outdir / "extra.txt"
    path.write_text(str(len(journal["trials"])))
    return [path]
"""


def _expected_successes(seed: int, scenario: str, trials: int) -> int:
    return sum(random.Random(trial_seed(seed, scenario, i)).random() < 0.7 for i in range(trials))


def test_flaky_target_gets_the_right_rate_interval_and_exit_status(pytester: pytest.Pytester) -> None:
    """20 seeded trials give exactly the rate the seeds imply, its Wilson interval, exit 0 at min 0.5."""
    pytester.makepyfile(test_scenario=FLAKY.format(rate=0.5))
    result = pytester.runpytest("--chaos-seed=7", "--chaos-report=out", "-p", "no:cacheprovider")
    successes = _expected_successes(7, "test_scenario.py::test_flaky", 20)
    assert 0 < successes < 20
    outcomes = result.parseoutcomes()  # threshold met: the closing line counts failing trials as tolerated
    assert (outcomes["passed"], outcomes.get("tolerated", 0), outcomes.get("failed", 0)) == (
        successes,
        20 - successes,
        0,
    )
    assert result.ret == pytest.ExitCode.OK
    journal = json.loads((pytester.path / "out" / "journal.json").read_text())
    (scenario,) = journal["scenarios"]
    assert scenario["recovery_rate"] == successes / 20
    assert scenario["interval"] == pytest.approx(list(wilson_interval(successes, 20, 0.95)), abs=1e-6)
    assert scenario["outcomes"]["failed_clean"] == 20 - successes
    assert scenario["passed"] is True
    assert journal["run"]["seed"] == 7
    result.stdout.fnmatch_lines(["chaos: --chaos-seed=7", "PASS test_scenario.py::test_flaky: *"])
    assert sorted(path.name for path in (pytester.path / "out").iterdir()) == [
        "journal.json",
        "junit.xml",
        "report.html",
        "summary.md",
    ]


def test_missed_threshold_fails_and_replay_reproduces_the_trial(pytester: pytest.Pytester) -> None:
    """A missed threshold exits 1; a failing trial's report ends with a command that replays it exactly."""
    pytester.makepyfile(test_scenario=FLAKY.format(rate=0.95))
    result = pytester.runpytest("--chaos-seed=11", "--chaos-tracebacks", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["FAIL test_scenario.py::test_flaky: *", "  why: recovery rate * < min_recovery_rate 0.95"]
    )
    text = result.stdout.str()
    section = re.search(r"-+ chaos replay -+\noutcome: failed_clean\nreplay: (pytest .+)\n", text)
    assert section is not None
    argv = shlex.split(section.group(1))
    assert argv[0] == "pytest"
    failing_value = re.search(r"assert (0\.\d+) < 0\.7", text)
    assert failing_value is not None
    replay = pytester.runpytest(*argv[1:], "-p", "no:cacheprovider")
    replay.assert_outcomes(failed=1)
    assert f"assert {failing_value.group(1)} < 0.7" in replay.stdout.str()


def test_threshold_missed_although_every_trial_passed(pytester: pytest.Pytester) -> None:
    """Trials that all pass but never trigger their fault make the scenario fail: exit status 1."""
    pytester.makeconftest(CONFTEST_FAULTS)
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=3, min_recovery_rate=0.5)
        def test_never_fires(chaos):
            with chaos.inject("demo.toggle", fire=False):
                pass
        """
    )
    result = pytester.runpytest("--chaos-seed=1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["  why: no trial triggered its fault"])


def test_residue_fails_a_passing_trial_as_failed_dirty(pytester: pytest.Pytester) -> None:
    """A fault that is not reverted fails its trial (failed_dirty) and the scenario, even at min rate 0: it is
    the harness's (or a plugin's) bug, not the target's behaviour, so the journal marks it ``leaked``."""
    pytester.makeconftest(CONFTEST_FAULTS)
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=2, min_recovery_rate=0.0)
        def test_leaky(chaos):
            with chaos.inject("demo.toggle", leak=chaos.index == 1):
                pass
        """
    )
    result = pytester.runpytest("--chaos-seed=1", "--chaos-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*chaos: trial left residue (failed_dirty):*", "*demo.toggle: leaked *"])
    journal = json.loads((pytester.path / "out" / "journal.json").read_text())
    assert [trial["outcome"] for trial in journal["trials"]] == ["recovered", "failed_dirty"]
    assert [bool(trial.get("leaked")) for trial in journal["trials"]] == [False, True]
    assert journal["scenarios"][0]["verdict"] == "fail"
    assert journal["trials"][0]["faults"][0] == {
        "name": "demo.toggle",
        "params": {"fire": True, "leak": False},
        "triggered": True,
        "backend": "conftest",
    }
    assert (pytester.path / "out" / "extra.txt").read_text() == "2"  # the conftest's chaos_report hook


def test_sessions_without_chaos_tests_are_untouched(pytester: pytest.Pytester) -> None:
    """No chaos-marked test: only the seed line in the header, no summary, normal exit status."""
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # the seed line is printed before collection in every session (a run killed midway keeps it); nothing else
    chaos_lines = [line for line in result.stdout.lines if line.startswith("chaos")]
    assert len(chaos_lines) == 1
    assert chaos_lines[0].startswith("chaos: --chaos-seed=")
    assert "= chaos =" not in result.stdout.str()


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [(["--chaos-seed=3"], {"CHAOS_SEED": "2"}, 3), ([], {"CHAOS_SEED": "2"}, 2), ([], {}, 1)],
)
def test_seed_precedence_cli_env_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: dict[str, str], expected: int
) -> None:
    """The seed comes from the command line, else $CHAOS_SEED, else the chaos_seed ini key."""
    monkeypatch.delenv("CHAOS_SEED", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makeini("[pytest]\nchaos_seed = 1\n")
    pytester.makepyfile(test_scenario=FLAKY.format(rate=0.0))
    result = pytester.runpytest(*cli, "-p", "no:cacheprovider", "--chaos-trials=1")
    result.stdout.fnmatch_lines([f"chaos: --chaos-seed={expected}"])


def test_bad_settings_are_one_line_usage_errors(pytester: pytest.Pytester) -> None:
    """A bad ini value and a bad option each stop the run with exit 4 and one clear line."""
    pytester.makeini("[pytest]\nchaos_trials = zero\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini chaos_trials='zero' must be an integer >= 1; fix: set e.g. chaos_trials = 1 *"]
    )
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--chaos-shard=0/2")
    result.stderr.fnmatch_lines(["ERROR: --chaos-shard='0/2' must be I/N with 1 <= I <= N; fix: *"])


def test_bad_marker_values_are_clear_collection_errors(pytester: pytest.Pytester) -> None:
    """A marker with a bad value fails collection with the test id, the value and the fix."""
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=0)
        def test_x(chaos):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*test_scenario.py::test_x: trials=0 must be an integer >= 1 or 'auto'; fix: e.g. trials=20*"]
    )


def test_shards_partition_the_trials(pytester: pytest.Pytester) -> None:
    """--chaos-shard 1/2 and 2/2 run disjoint sets of trials that together are all of them."""
    pytester.makepyfile(test_scenario=FLAKY.format(rate=0.0))
    ran = []
    for shard in ("1/2", "2/2"):
        result = pytester.runpytest("--chaos-seed=5", f"--chaos-shard={shard}", "-p", "no:cacheprovider", "-v")
        ran.append(set(re.findall(r"test_flaky\[(trial\d+)\] (?:PASSED|FAILED|XFAIL)", result.stdout.str())))
    assert ran[0].isdisjoint(ran[1])
    assert ran[0] | ran[1] == {f"trial{i}" for i in range(20)}


def test_merged_shard_journals_equal_the_full_run(pytester: pytest.Pytester) -> None:
    """`resilience report merge` over the shards' journals gives the scenarios of one unsharded run."""
    from chaos.cli import main

    pytester.makepyfile(test_scenario=FLAKY.format(rate=0.5))
    pytester.runpytest("--chaos-seed=5", "--chaos-report=full", "-p", "no:cacheprovider")
    for index in (1, 2):
        pytester.runpytest(
            "--chaos-seed=5", f"--chaos-shard={index}/2", f"--chaos-report=s{index}", "-p", "no:cacheprovider"
        )
    shards = [str(pytester.path / f"s{index}" / "journal.json") for index in (1, 2)]
    assert main(["report", "merge", *shards, "--out", str(pytester.path / "merged")]) == 0
    full = json.loads((pytester.path / "full" / "journal.json").read_text())
    merged = json.loads((pytester.path / "merged" / "journal.json").read_text())
    assert merged["scenarios"] == full["scenarios"]

    def timeless(trials: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{key: value for key, value in trial.items() if key != "duration_s"} for trial in trials]

    assert timeless(merged["trials"]) == timeless(full["trials"])  # wall times differ from run to run
