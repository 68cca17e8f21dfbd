"""The rich progress bar `resilience run` shows on a terminal advances once per trial."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance


def test_progress_counts_every_trial(pytester: pytest.Pytester) -> None:
    """The bar's total is the number of collected items and it completes with the failures counted."""
    from chaos.cli.run import RunProgress

    pytester.makepyfile(
        test_scenario="""
        import pytest

        @pytest.mark.chaos(trials=6, min_recovery_rate=0.5)
        def test_flaky(chaos):
            assert chaos.index % 3
        """
    )
    progress = RunProgress()
    with progress.progress:
        result = pytester.runpytest("--chaos-seed=1", "-p", "no:cacheprovider", plugins=[progress])
    # the threshold is met: pytest's closing line counts the two failing trials as tolerated, not failed
    assert result.parseoutcomes() == {**result.parseoutcomes(), "passed": 4, "tolerated": 2}
    (task,) = progress.progress.tasks
    assert (task.total, task.completed, task.fields["failed"]) == (6, 6, 2)
