"""The examples in docs/scenarios.md and docs/fault-plugins.md run as written."""

from __future__ import annotations

import pathlib
import re

import pytest

pytest_plugins = ("pytester",)

pytestmark = pytest.mark.acceptance

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs"
FILE_BLOCK = re.compile(r"```python file=(\S+)\n(.*?)```\n", re.DOTALL)


def _write_examples(pytester: pytest.Pytester, page: str) -> dict[str, str]:
    files = dict(FILE_BLOCK.findall((DOCS / page).read_text()))
    assert files, f"{page} has no runnable example"
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    return files


@pytest.mark.slow
def test_scenarios_page_examples_pass(pytester: pytest.Pytester) -> None:
    """Every scenario in docs/scenarios.md passes, and the shown summary line matches seed 1."""
    files = _write_examples(pytester, "scenarios.md")
    assert set(files) == {"test_first_scenario.py", "test_corruption.py", "test_schedules.py"}
    result = pytester.runpytest("--chaos-seed=1", "--chaos-report=reports", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    shown = re.search(
        r"^(PASS test_first_scenario\.py::\S+: [\d.]+% recovered)", (DOCS / "scenarios.md").read_text(), re.M
    )
    assert shown is not None
    result.stdout.fnmatch_lines([f"{shown.group(1)} *"])
    assert (pytester.path / "reports" / "summary.md").exists()


def test_fault_plugins_page_examples_pass(pytester: pytest.Pytester) -> None:
    """The conftest fault and chaos_report hook in docs/fault-plugins.md work; the toml matches the package."""
    _write_examples(pytester, "fault-plugins.md")
    result = pytester.runpytest("--chaos-seed=1", "--chaos-report=reports", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    assert (pytester.path / "reports" / "verdict.txt").read_text() == "pass\n"
    toml = re.search(r"```toml\n(.*?)```", (DOCS / "fault-plugins.md").read_text(), re.DOTALL)
    assert toml is not None
    package = DOCS.parent / "plugins" / "chaos-dns-fault" / "pyproject.toml"
    assert toml.group(1) in package.read_text()
