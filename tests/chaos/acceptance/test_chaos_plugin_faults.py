"""Fault plugins as users write them: a conftest.py fault and the installed plugins/ example package."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance

DNS_SCENARIO = """
import socket
import pytest

def resolve_with_fallback(host, fallback):
    try:
        return socket.getaddrinfo(host, 443)[0][4][0], host
    except socket.gaierror:
        return socket.getaddrinfo(fallback, 443)[0][4][0], fallback

@pytest.mark.chaos(trials=4, min_recovery_rate=1.0)
def test_mirror_fallback(chaos):
    with chaos.inject("dns.fail", hosts="primary.invalid") as fault:
        address, used = resolve_with_fallback("primary.invalid", "localhost")
    assert fault.triggered
    assert used == "localhost" and address
"""


def test_conftest_fault_registers_and_runs(pytester: pytest.Pytester) -> None:
    """Undecorated chaos_* hooks in a conftest.py register a fault the scenario can inject; what the fault and
    the scenario note reaches each trial's journal record."""
    pytester.makeconftest(
        """
        import contextlib
        from chaos import Fault, Param

        class Wobble(Fault):
            name = "local.wobble"
            summary = "sets a flag"
            params = (Param("times", int, 1, minimum=1),)

            @contextlib.contextmanager
            def _armed(self, ctx):
                self.triggered = True
                ctx.note("wobbled", times=self.values["times"])
                yield self

            def inject(self, ctx):
                return self._armed(ctx)

            def verify_reverted(self, ctx):
                return []

        def chaos_add_faults(registry):
            registry.register(Wobble)

        STARTED = []

        def chaos_trial_start(trial):
            STARTED.append(trial.index)
        """
    )
    pytester.makepyfile(
        test_scenario="""
        import pathlib
        import pytest

        @pytest.mark.chaos(trials=3, min_recovery_rate=1.0)
        def test_wobble(chaos, chaos_manager):
            assert "local.wobble" in chaos_manager.registry.names()
            with chaos.inject("local.wobble", times=2) as fault:
                assert fault.values == {"times": 2}
            chaos.note("checked", file=pathlib.Path("models") / "w.bin", index=chaos.index)

        def test_hooks_ran():
            from conftest import STARTED
            assert STARTED == [0, 1, 2]
        """
    )
    result = pytester.runpytest("--chaos-seed=3", "--chaos-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    journal = json.loads((pytester.path / "out" / "journal.json").read_text())
    assert journal["scenarios"][0]["faults"] == ["local.wobble"]
    assert journal["scenarios"][0]["outcomes"]["recovered"] == 3
    assert [trial["notes"] for trial in journal["trials"]] == [
        [
            {"event": "wobbled", "fault": "local.wobble", "data": {"times": 2}},
            {"event": "checked", "fault": None, "data": {"file": "models/w.bin", "index": index}},
        ]
        for index in range(3)
    ]


def test_example_plugin_package_registers_and_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """plugins/chaos-dns-fault, installed in the venv, provides dns.fail through its entry point."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    monkeypatch.delenv("CHAOS_NO_PLUGINS", raising=False)
    pytester.makepyfile(test_dns=DNS_SCENARIO)
    result = pytester.runpytest("--chaos-seed=1", "--chaos-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    journal = json.loads((pytester.path / "out" / "journal.json").read_text())
    assert journal["scenarios"][0]["passed"] is True
    assert journal["trials"][0]["faults"][0]["backend"] == "getaddrinfo-patch"


def test_no_plugins_switch_skips_third_party_faults(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """With CHAOS_NO_PLUGINS=1 the entry-point fault is unknown: trials are indeterminate, the run fails."""
    pytest.importorskip("chaos_dns_fault", reason="plugins/chaos-dns-fault is not installed in this venv")
    monkeypatch.setenv("CHAOS_NO_PLUGINS", "1")
    pytester.makepyfile(test_dns=DNS_SCENARIO)
    result = pytester.runpytest("--chaos-seed=1", "--chaos-trials=1", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*UnknownFaultError: fault 'dns.fail' is not registered*", "outcome: indeterminate"])


def test_broken_plugin_makes_trials_indeterminate_not_a_crash(pytester: pytest.Pytester) -> None:
    """A conftest hook that raises while faults are registered errors each trial (indeterminate), clearly."""
    pytester.makeconftest(
        """
        def chaos_add_faults(registry):
            raise RuntimeError("plugin exploded")
        """
    )
    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=2, min_recovery_rate=1.0)
        def test_x(chaos):
            pass
        """
    )
    result = pytester.runpytest("--chaos-seed=1", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*RuntimeError: plugin exploded*", "FAIL test_scenario.py::test_x: n/a recovered*indet=2*"]
    )
