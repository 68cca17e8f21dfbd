"""Every python block of README.md runs as written: plain snippets in a fresh directory, the scenario under pytest
with the chaos plugin, as a user would run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

README = Path(__file__).resolve().parents[3] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _is_scenario(source: str) -> bool:
    return "@pytest.mark.chaos" in source


def test_the_readme_has_its_snippets() -> None:
    """The README keeps its three python examples: embedding, model downloads, a chaos scenario."""
    blocks = _blocks()
    assert len(blocks) >= 3
    assert sum(map(_is_scenario, blocks)) >= 1


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_snippet_runs_as_written(
    index: int, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each block runs unchanged: a scenario passes under pytest, any other block executes without error."""
    source = _blocks()[index]
    # Runtime() honours RESILIENCE_* overrides, as the README says; a short backoff keeps this test quick.
    monkeypatch.setenv("RESILIENCE_RETRY_BASE_DELAY_SECONDS", "0.01")
    monkeypatch.setenv("RESILIENCE_RETRY_MAX_DELAY_SECONDS", "0.1")
    if _is_scenario(source):
        pytester.makepyfile(test_readme_scenario=source)
        result = pytester.runpytest("--chaos-seed=1", "-p", "no:cacheprovider")
        trials = re.search(r"trials=(\d+)", source)
        assert trials is not None
        result.assert_outcomes(passed=int(trials.group(1)))
        result.stdout.fnmatch_lines(["PASS test_readme_scenario.py::*: 100.0% recovered*"])
        return
    monkeypatch.chdir(pytester.path)
    exec(compile(source, f"README.md[python block {index}]", "exec"), {"__name__": "readme"})  # the point of the test
    if "print(" in source:
        assert capsys.readouterr().out.strip()
