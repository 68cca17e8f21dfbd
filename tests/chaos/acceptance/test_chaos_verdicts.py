"""Verdicts a user can trust, as a user runs them: sequential trials, confident gates, incomplete runs, baselines
as expected failures, and errors before trials as one line each."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from chaos.trials import sequential_rule

pytest_plugins = ("pytester",)

pytestmark = [pytest.mark.acceptance]

# A scenario whose trials fail on a fixed pattern of indices: its true rate is exactly known and every run of it
# gives the same outcomes, so the trial counts below are facts, not luck.
PATTERN = """
import pytest

@pytest.mark.chaos(trials="auto", max_trials={max_trials}, min_recovery_rate=0.95, confidence=0.95)
def test_rate(chaos):
    chaos.mark_triggered()
    assert {fails}, "the target gave up"
"""


def _journal(pytester: pytest.Pytester, out: str = "out") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / out / "journal.json").read_text())
    return data


def _sequential(pytester: pytest.Pytester, fails: str, max_trials: int) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_scenario=PATTERN.format(fails=fails, max_trials=max_trials))
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    (scenario,) = _journal(pytester)["scenarios"]
    return result, scenario


def test_a_perfect_rate_stops_early_and_passes(pytester: pytest.Pytester) -> None:
    """True rate 1.0 against 0.95: the rule passes as soon as the evidence suffices and skips the rest."""
    result, scenario = _sequential(pytester, "True", 200)
    used = scenario["sequential"]["trials_used"]
    print(f"rate 1.0 vs 0.95: passed after {used} of max 200 trials")
    assert result.ret == pytest.ExitCode.OK
    assert scenario["verdict"] == "pass"
    assert scenario["sequential"]["stop"] == "pass"
    assert used == sequential_rule(0.95, 0.95, 200).all_success_stop
    assert used < 200
    result.assert_outcomes(passed=used, skipped=200 - used)
    result.stdout.fnmatch_lines([f"PASS test_scenario.py::test_rate: *stop pass after {used} of max 200 trials*"])
    assert scenario["confident"] is True
    assert scenario["lower_bound"] >= 0.95


def test_a_rate_of_080_fails_early(pytester: pytest.Pytester) -> None:
    """True rate 0.80 against 0.95: the rule fails long before max_trials."""
    result, scenario = _sequential(pytester, "chaos.index % 5 != 4", 200)
    used = scenario["sequential"]["trials_used"]
    print(f"rate 0.80 vs 0.95: failed after {used} of max 200 trials")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert scenario["verdict"] == "fail"
    assert scenario["sequential"]["stop"] == "fail"
    assert used < 60
    assert scenario["trials"] == used
    result.stdout.fnmatch_lines([f"FAIL test_scenario.py::test_rate: *stop fail after {used} of max 200 trials*"])


def test_a_rate_at_the_threshold_runs_to_max_trials_undecided(pytester: pytest.Pytester) -> None:
    """True rate exactly 0.95: neither bound clears it, so every trial runs and the verdict is undecided."""
    result, scenario = _sequential(pytester, "chaos.index % 20 != 19", 100)
    print(f"rate 0.95 vs 0.95: {scenario['sequential']['trials_used']} of max 100 trials, {scenario['verdict']}")
    assert scenario["verdict"] == "undecided"
    assert scenario["sequential"] == {**scenario["sequential"], "stop": "undecided", "trials_used": 100}
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # undecided is not a pass
    result.stdout.fnmatch_lines(["UNDECIDED test_scenario.py::test_rate: *", "  why: max_trials=100 ran*"])


def test_a_fixed_confident_gate_needs_enough_trials(pytester: pytest.Pytester) -> None:
    """gate="confident" with 20 all-recovered trials at 0.95 is undecided (its lower bound is 0.861); 59 pass."""
    scenario = """
    import pytest

    @pytest.mark.chaos(trials={n}, min_recovery_rate=0.95, gate="confident")
    def test_rate(chaos):
        chaos.mark_triggered()
    """
    pytester.makepyfile(test_scenario=scenario.format(n=20))
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert _journal(pytester)["scenarios"][0]["verdict"] == "undecided"
    pytester.makepyfile(test_scenario=scenario.format(n=59))
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert _journal(pytester)["scenarios"][0]["verdict"] == "pass"


def test_explain_prints_the_trials_each_scenario_needs(pytester: pytest.Pytester) -> None:
    """--chaos-explain runs nothing and says, per scenario, what a confident verdict costs."""
    pytester.makepyfile(test_scenario=PATTERN.format(fails="True", max_trials=200))
    result = pytester.runpytest("--chaos-explain", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED or result.ret == pytest.ExitCode.OK
    stop = sequential_rule(0.95, 0.95, 200).all_success_stop
    result.stdout.fnmatch_lines(
        [
            (
                f"test_scenario.py::test_rate: min 0.95 at 95%: trials='auto' (max 200) stops after {stop} if every"
                " trial recovers; expected * at a true rate of 0.95; a fixed run needs 59 all-success trials to be"
                " confident"
            )
        ]
    )
    assert "passed" not in result.stdout.str()


BASELINE = """
import pytest

@pytest.mark.chaos(trials=4, min_recovery_rate=0.0)
def test_plain_client(chaos):
    chaos.mark_triggered()
    assert chaos.index % 2 == 0, "the plain client gave up"

@pytest.mark.chaos(trials=4, min_recovery_rate=0.5)
def test_runtime(chaos):
    chaos.mark_triggered()
    assert chaos.index != 1, "the runtime gave up once"
"""


def test_baseline_failures_are_expected_failures(pytester: pytest.Pytester) -> None:
    """A failing baseline trial reads x, keeps its replay command, and the run passes with no failure line."""
    pytester.makepyfile(test_scenario=BASELINE)
    result = pytester.runpytest("--chaos-seed=3", "-p", "no:cacheprovider", "-rx")
    assert result.ret == pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert outcomes["xfailed"] == 2
    assert outcomes["tolerated"] == 1  # the runtime's one failing trial, within its threshold
    assert "failed" not in outcomes  # the closing line shows no failure: every threshold is met
    assert re.search(r"test_scenario\.py xFxF", result.stdout.str()) is None
    result.stdout.fnmatch_lines(
        ["test_scenario.py .x.x.F..*", "XFAIL *test_plain_client[[]trial1[]] - baseline trial*"]
    )
    assert "replay: pytest 'test_scenario.py::test_plain_client[trial1]' --chaos-seed=3" in result.stdout.str()
    # the failing trial within a met threshold: one line and its replay command, no traceback
    failure = result.stdout.str().split("_ test_runtime[trial1] _")[1].split("=====")[0]
    assert "Traceback" not in failure
    assert "def test_runtime" not in failure
    assert "chaos: failed_clean: AssertionError: the runtime gave up once" in failure


DIRTY_BASELINE = """
import pytest

@pytest.mark.chaos(trials=4, min_recovery_rate=0.0)
def test_other_installer(chaos, chaos_trial_index, tmp_path):
    chaos.mark_triggered()
    chaos.watch(tmp_path)
    if chaos_trial_index % 2:
        (tmp_path / "model.bin.part").write_bytes(b"half")  # what a plain installer leaves when it dies
        raise AssertionError("the installer died mid-file")
"""


def test_a_baseline_that_leaves_half_written_installs_is_measured_not_failed(pytester: pytest.Pytester) -> None:
    """An installer no one here wrote leaves partial files in half its trials: the row is a baseline that says
    so (failed_dirty counted, reason names it), its trials read x, and the run passes."""
    pytester.makepyfile(test_scenario=DIRTY_BASELINE)
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["xfailed"], "failed" in outcomes) == (2, 2, False)
    (scenario,) = _journal(pytester)["scenarios"]
    assert scenario["verdict"] == "baseline"
    assert scenario["outcomes"]["failed_dirty"] == 2
    assert "2 trial(s) left a half-written install (failed_dirty)" in scenario["reason"]
    # the same row with a threshold is gated, and a dirty trial fails it
    pytester.makepyfile(test_scenario=DIRTY_BASELINE.replace("min_recovery_rate=0.0", "min_recovery_rate=0.25"))
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert _journal(pytester)["scenarios"][0]["verdict"] == "fail"


def test_stopping_at_the_first_failure_leaves_scenarios_incomplete(pytester: pytest.Pytester) -> None:
    """-x stops the run after one failing trial: the scenarios it cut short are incomplete and the run fails."""
    pytester.makepyfile(test_scenario=BASELINE.replace("min_recovery_rate=0.0", "min_recovery_rate=0.25"))
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-x", "-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    verdicts = {s["id"]: s["verdict"] for s in _journal(pytester)["scenarios"]}
    assert verdicts == {
        "test_scenario.py::test_plain_client": "incomplete",
        "test_scenario.py::test_runtime": "incomplete",
    }
    result.stdout.fnmatch_lines(["INCOMPLETE test_scenario.py::test_plain_client: *", "INCOMPLETE *test_runtime: *"])
    assert "scenarios met their thresholds" not in result.stdout.str()


XDIST_STOP = """
import time

import pytest

@pytest.mark.chaos(trials=5, min_recovery_rate=0.5)  # the largest scenario: xdist's scope scheduler sends it first
def test_a_first(chaos):
    raise AssertionError("fails at once")

""" + "".join(
    f"""
@pytest.mark.chaos(trials=3, min_recovery_rate=0.5)
def test_later_{n}(chaos):
    chaos.mark_triggered()
    time.sleep(0.2)
"""
    for n in range(10)
)


def test_stopping_at_the_first_failure_under_xdist_lists_every_scenario(pytester: pytest.Pytester) -> None:
    """-x under two xdist workers: the controller collects nothing itself, yet every collected scenario is in
    the journal, and those that ran no trial before the stop are incomplete rather than missing."""
    pytester.makepyfile(test_scenario=XDIST_STOP)
    result = pytester.runpytest("-p", "xdist", "-n", "2", "-x", "--chaos-seed=3", "--chaos-report=out")
    assert result.ret != pytest.ExitCode.OK  # xdist reports a -x stop as INTERRUPTED
    journal = _journal(pytester)
    verdicts = {s["id"]: s["verdict"] for s in journal["scenarios"]}
    expected = {"test_scenario.py::test_a_first"} | {f"test_scenario.py::test_later_{n}" for n in range(10)}
    assert set(verdicts) == expected, result.stdout.str()
    ran = {str(trial["scenario"]) for trial in journal["trials"]}
    assert ran < expected  # the stop came before some scenario's first trial: the case under test
    assert all(verdicts[s] == "incomplete" for s in expected - ran), verdicts
    assert "scenarios met their thresholds" not in result.stdout.str()


def test_a_keyword_selection_leaves_a_scenario_incomplete(pytester: pytest.Pytester) -> None:
    """-k picking some of a scenario's trials: it is incomplete, never a pass, and the exit status says so."""
    pytester.makepyfile(test_scenario=BASELINE)
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-k", "test_runtime and trial0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, deselected=7)
    (scenario,) = _journal(pytester)["scenarios"]
    assert scenario["verdict"] == "incomplete"
    assert "not every planned trial ran" in scenario["reason"]


def _lines_with(result: pytest.RunResult, text: str) -> list[str]:
    """Lines of the plugin's own output holding `text`. Pytest's short test summary (`FAILED id - msg`, `ERROR id -
    msg`) repeats each message once more, cut to the terminal's width, so whether it holds `text` depends on COLUMNS:
    those lines are pytest's, not ours, and are left out."""
    summary = ("FAILED ", "ERROR ")
    return [line for line in result.stdout.lines if text in line and not line.startswith(summary)]


def test_an_unknown_fault_is_one_failure_per_scenario(pytester: pytest.Pytester) -> None:
    """A misspelt fault name fails the scenario once, in one line; its other trials do not run."""
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=5, min_recovery_rate=0.9)
        def test_x(chaos):
            with chaos.inject("network.latencyy", proxy="hub", latency_ms=10):
                pass
        """
    )
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1, skipped=4)
    assert "Traceback" not in result.stdout.str()
    assert "chaos/inject.py" not in result.stdout.str()
    failure = _lines_with(result, "chaos: UnknownFaultError: fault 'network.latencyy' is not registered")
    assert len(failure) == 1, result.stdout.str()
    assert "network.latency" in failure[0]  # the closest registered name
    (scenario,) = _journal(pytester)["scenarios"]
    assert scenario["verdict"] == "fail"
    assert scenario["reason"].startswith("UnknownFaultError: fault 'network.latencyy' is not registered")


def test_a_bad_fault_parameter_is_one_failure_per_scenario(pytester: pytest.Pytester) -> None:
    """A parameter out of range: one line naming the fault, the field, the value and the fix; trials skipped."""
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=5, min_recovery_rate=0.9)
        def test_x(chaos):
            with chaos.inject("network.latency", proxy="hub", latency_ms=-5):
                pass
        """
    )
    result = pytester.runpytest("--chaos-seed=3", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=4)
    lines = _lines_with(result, "latency_ms=-5")
    assert len([line for line in lines if line.startswith("chaos: ")]) == 1, result.stdout.str()
    assert "fix:" in lines[0]
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_proxy_is_indeterminate_and_named(pytester: pytest.Pytester) -> None:
    """A proxy name that does not exist: every trial indeterminate with a reason naming it (real embedded proxy),
    out of the rate, and the scenario fails over max_indeterminate; the journal keeps the proxy name."""
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=3, min_recovery_rate=0.9)
        def test_x(chaos, chaos_proxy):
            with chaos.inject("network.down", proxy="svc"):
                pass
        """
    )
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    journal = _journal(pytester)
    (scenario,) = journal["scenarios"]
    assert scenario["outcomes"]["indeterminate"] == 3
    assert scenario["recovery_rate"] is None
    assert scenario["verdict"] == "fail"
    assert "3 of 3 trials indeterminate" in scenario["reason"]
    assert "proxy 'svc' does not exist" in scenario["reason"]
    assert all(trial["faults"][0]["params"]["proxy"] == "svc" for trial in journal["trials"])
    lines = _lines_with(result, "proxy 'svc' does not exist")
    assert lines
    assert all(line.startswith(("chaos: indeterminate:", "  why:")) for line in lines), lines
    assert "ApiError" not in result.stdout.str()
    assert "failed_dirty" not in result.stdout.str()


def test_bad_scenario_keys_are_one_line_each(pytester: pytest.Pytester) -> None:
    """trials='auto' at a threshold of 1.0 can never be confident: one clear collection error line."""
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials="auto", min_recovery_rate=1.0)
        def test_x(chaos):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    lines = _lines_with(result, "min_recovery_rate=1.0 can never be shown with confidence")
    assert len(lines) == 1, result.stdout.str()
    assert "fix: e.g. min_recovery_rate=0.95, or gate='point'" in lines[0]


SPLIT = """
import pytest

@pytest.mark.chaos(trials="auto", max_trials=120, min_recovery_rate=0.9, confidence=0.9)
def test_auto(chaos):
    chaos.mark_triggered()

@pytest.mark.chaos(trials=6, min_recovery_rate=0.5)
def test_fixed(chaos):
    chaos.mark_triggered()
"""


@pytest.mark.slow
def test_auto_scenarios_stay_on_one_worker_under_xdist(pytester: pytest.Pytester) -> None:
    """Under -n 2 an auto scenario's trials run on one worker (its xdist group) and stop where a serial run does."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_scenario=SPLIT)
    serial = pytester.runpytest_subprocess("--chaos-seed=4", "--chaos-report=serial", "-p", "no:cacheprovider")
    assert serial.ret == pytest.ExitCode.OK
    parallel = pytester.runpytest_subprocess(
        "--chaos-seed=4", "--chaos-report=parallel", "-p", "no:cacheprovider", "-n", "2", "-v"
    )
    assert parallel.ret == pytest.ExitCode.OK
    lines = parallel.stdout.lines
    seed_line = lines.index("chaos: --chaos-seed=4")  # the controller's header, before any worker collects
    assert seed_line < next(i for i, line in enumerate(lines) if line.startswith("created:"))
    workers = set(re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED test_scenario.py::test_auto", parallel.stdout.str()))
    assert len(workers) == 1, parallel.stdout.str()
    by_run = [{s["id"]: s for s in _journal(pytester, out)["scenarios"]} for out in ("serial", "parallel")]
    auto = [run["test_scenario.py::test_auto"] for run in by_run]
    assert auto[0]["sequential"] == auto[1]["sequential"]
    assert auto[0]["sequential"]["trials_used"] == sequential_rule(0.9, 0.9, 120).all_success_stop
    assert by_run[1]["test_scenario.py::test_fixed"]["verdict"] == "pass"


def test_an_auto_scenario_runs_whole_on_one_shard(pytester: pytest.Pytester) -> None:
    """--chaos-shard keeps an auto scenario on one shard (the rule decides on its trials there) and splits a
    fixed one by index; merging the shards' journals gives the unsharded verdicts."""
    from chaos.cli import main

    pytester.makepyfile(test_scenario=SPLIT)
    pytester.runpytest("--chaos-seed=5", "--chaos-report=full", "-p", "no:cacheprovider")
    auto_on: list[int] = []
    for index in (1, 2):
        pytester.runpytest("--chaos-seed=5", f"--chaos-shard={index}/2", f"--chaos-report=s{index}")
        scenarios = {s["id"]: s for s in _journal(pytester, f"s{index}")["scenarios"]}
        assert scenarios["test_scenario.py::test_fixed"]["trials"] == 3
        assert scenarios["test_scenario.py::test_fixed"]["verdict"] == "pass"
        if "test_scenario.py::test_auto" in scenarios:
            auto_on.append(index)
            assert scenarios["test_scenario.py::test_auto"]["verdict"] == "pass"
    assert len(auto_on) == 1
    shards = [str(pytester.path / f"s{index}" / "journal.json") for index in (1, 2)]
    assert main(["report", "merge", *shards, "--out", str(pytester.path / "merged")]) == 0
    merged = {s["id"]: s for s in _journal(pytester, "merged")["scenarios"]}
    full = {s["id"]: s for s in _journal(pytester, "full")["scenarios"]}
    assert {k: v["verdict"] for k, v in merged.items()} == {k: v["verdict"] for k, v in full.items()}
    assert merged["test_scenario.py::test_auto"]["sequential"] == full["test_scenario.py::test_auto"]["sequential"]


def test_resilience_plan_lists_each_scenario_without_running_it(pytester: pytest.Pytester) -> None:
    """`resilience plan FILE` prints one line per scenario (fixed and auto) and runs no trial."""
    pytester.makepyfile(test_scenario=SPLIT)
    done = pytester.run(sys.executable, "-m", "chaos.cli", "plan", "test_scenario.py")
    assert done.ret == 0
    stop = sequential_rule(0.9, 0.9, 120).all_success_stop
    done.stdout.fnmatch_lines(
        [
            f"test_scenario.py::test_auto: min 0.9 at 90%: trials='auto' (max 120) stops after {stop} if every *",
            "test_scenario.py::test_fixed: min 0.5 at 95%: gate=point, 6 trials; a fixed run needs 5 all-success *",
        ]
    )
    assert "passed" not in done.stdout.str()


def test_static_faults_are_checked_before_any_trial(pytester: pytest.Pytester) -> None:
    """An item declaring its faults up front (``chaos_faults``, as a scenario file's item does) with an unknown
    one stops the run before any trial: exit 4 and one line."""
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(items):
            for item in items:
                item.chaos_faults = [("network.latency", {"latency_ms": 5}), ("network.latencyy", {})]
        """
    )
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=3, min_recovery_rate=0.9)
        def test_x(chaos):
            raise AssertionError("no trial may run")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.stderr.lines + result.stdout.lines if "network.latencyy" in line]
    expected = (
        "ERROR: test_scenario.py::test_x: UnknownFaultError: fault 'network.latencyy' is not registered; fix: did you"
        " mean 'network.latency'?"
    )
    assert lines == [expected]
    assert "no trial may run" not in result.stdout.str()
