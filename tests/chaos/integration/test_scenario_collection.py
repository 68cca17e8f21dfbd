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


TIMED_DOWN = """\
command = ["sh", "-c", '''
set -u
for try in 1 2 3 4 5 6 7 8 9 10; do
  curl -fsS --max-time 20 -C - -o "{workdir}/w.bin" "$HF_ENDPOINT/acme/big/resolve/main/w.bin" && exit 0
  sleep 0.2
done
echo "gave up" >&2; exit 1
''']
trials = 1
min_recovery_rate = 0.5

[hub]
seed = 3
[[hub.repos]]
repo_id = "acme/big"
[[hub.repos.files]]
path = "w.bin"
size_bytes = 600_000

[[matrix]]
id = "down-mid-download"
faults = [
  { fault = "network.bandwidth", params = { rate_kbps = 200 } },
  { fault = "network.down", at_s = 0.8, for_s = 0.6 },
]
"""


def test_at_s_takes_the_link_down_mid_download(pytester: pytest.Pytester) -> None:
    """network.down with at_s: armed 0.8 s into a 3 s transfer it cuts the live connection (so it provably
    fired, which a down armed before the start cannot show for a command), and a resuming installer recovers."""
    import json

    pytester.makefile(".toml", chaos=TIMED_DOWN)
    result = pytester.runpytest("-p", "no:cacheprovider", "--chaos-seed=5", "--chaos-report=out")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    (trial,) = json.loads((pytester.path / "out" / "journal.json").read_text())["trials"]
    assert trial["outcome"] == "recovered"
    down = next(fault for fault in trial["faults"] if fault["name"] == "network.down")
    assert down["triggered"] is True
    cut = [note for note in trial["notes"] if note["event"] == "network.up"]
    assert cut
    assert cut[0]["data"]["connections_cut"] >= 1
    (run,) = [note for note in trial["notes"] if note["event"] == "command.run"]
    assert "network.down" in run["data"]["fired"]  # armed after the command started, still in its result
