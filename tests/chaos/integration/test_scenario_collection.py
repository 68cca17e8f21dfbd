"""pytest collects chaos*.toml files: one item per (matrix entry, trial), readable ids, the chaos marker."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

SCENARIO = """\
command = ["true"]
trials = 2
min_recovery_rate = 0.5

[hub]
seed = 1
[[hub.repos]]
repo_id = "acme/tiny"
[[hub.repos.files]]
path = "config.json"

[[matrix]]
fault = "network.reset_peer"
params = { after_bytes = 1000 }

[[matrix]]
id = "kill-and-corrupt"
trials = 3
faults = [{ fault = "process.kill" }, { fault = "file.corrupt", params = { root = "{workdir}" } }]
"""


def test_items_are_one_per_entry_and_trial_with_readable_ids(pytester: pytest.Pytester) -> None:
    """file::entry[trialN] for each entry, the entry's trials overriding the file's; other .toml files ignored."""
    pytester.makefile(".toml", chaos_install=SCENARIO, other="x = 1")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "chaos_install.toml::network.reset_peer[[]trial0[]]",
            "chaos_install.toml::network.reset_peer[[]trial1[]]",
            "chaos_install.toml::kill-and-corrupt[[]trial0[]]",
            "chaos_install.toml::kill-and-corrupt[[]trial1[]]",
            "chaos_install.toml::kill-and-corrupt[[]trial2[]]",
            "5 tests collected*",
        ]
    )


def test_chaos_trials_overrides_the_file(pytester: pytest.Pytester) -> None:
    """--chaos-trials N gives every entry N items, as for marked tests."""
    pytester.makefile(".toml", chaos=SCENARIO)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", "--chaos-trials=1")
    result.stdout.fnmatch_lines(
        ["chaos.toml::network.reset_peer[[]trial0[]]", "*kill-and-corrupt[[]trial0[]]", "2 tests*"]
    )


def test_a_bad_file_is_one_collection_error_line(pytester: pytest.Pytester) -> None:
    """A bad chaos.toml fails collection with its one line; no item runs."""
    pytester.makefile(".toml", chaos=SCENARIO.replace("after_bytes = 1000", "after_bytes = -1"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["*chaos.toml:14: matrix[[]0[]]: network.reset_peer.after_bytes=-1 must be >= 0; fix: *"]
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
