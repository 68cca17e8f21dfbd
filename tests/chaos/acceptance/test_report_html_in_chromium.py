"""report.html in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

Screenshots land in ``reports/test-artifacts/report-html/`` (or ``$CHAOS_TEST_ARTIFACTS``) for a person to
look at; CI uploads ``reports/``.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from report_project import run_project

pytestmark = pytest.mark.acceptance

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)
ARTIFACTS = pathlib.Path(
    os.environ.get("CHAOS_TEST_ARTIFACTS") or pathlib.Path(__file__).parents[3] / "reports" / "test-artifacts"
)

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(
        f"Chromium or chromedriver not found ({CHROMIUM}, {CHROMEDRIVER}); install them with "
        "`apt-get install -y chromium chromium-driver` (.ci/run does)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) drives Chromium")
By = pytest.importorskip("selenium.webdriver.common.by").By


def _driver(profile: pathlib.Path, *, javascript: bool = True) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, Any]]:
    """report.html and journal of a real run of the report project."""
    journal_path = run_project(tmp_path_factory.mktemp("project"), "reports")
    return journal_path.with_name("report.html"), json.loads(journal_path.read_text())


@pytest.fixture(scope="module")
def artifacts() -> pathlib.Path:
    """The folder screenshots go to."""
    folder = ARTIFACTS / "report-html"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(report: tuple[pathlib.Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium with the report open, JavaScript on."""
    driver = _driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.get(report[0].as_uri())
        yield driver
    finally:
        driver.quit()


def _full_page(driver: Any, path: pathlib.Path) -> None:
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 12000)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    )
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _rates(driver: Any) -> list[float]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#scenario-table tbody tr")
    return [float(row.get_attribute("data-rate") or "nan") for row in rows]


def test_banner_and_charts_as_svg(browser: Any, artifacts: pathlib.Path) -> None:
    """The banner reads FAIL with the count; the four charts are drawn SVGs with marks, each a real size."""
    banner = browser.find_element(By.ID, "banner")
    assert banner.text.startswith("FAIL")
    assert "1 of 3 failed, 1 baseline measured, not gated" in banner.text
    charts = browser.find_elements(By.CSS_SELECTOR, "#charts figure > svg")
    assert len(charts) == 4
    for chart in charts:
        size = chart.size
        assert size["width"] > 900
        assert size["height"] > 60
        assert chart.find_elements(By.CSS_SELECTOR, "circle, rect")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-rate circle")) == 4
    figure = browser.find_element(By.ID, "chart-rate")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", figure)
    figure.screenshot(str(artifacts / "chart-rate.png"))
    _full_page(browser, artifacts / "report-1280.png")


def test_table_sorts_and_filters(browser: Any, artifacts: pathlib.Path) -> None:
    """Clicking Rate sorts ascending then descending; the filter box and the baseline switch hide rows."""
    rate = browser.find_element(By.CSS_SELECTOR, 'th button[data-key="rate"]')
    rate.click()
    ascending = _rates(browser)
    assert ascending == sorted(ascending)
    assert rate.find_element(By.XPATH, "..").get_attribute("aria-sort") == "ascending"
    rate.click()
    assert _rates(browser) == sorted(ascending, reverse=True)
    browser.find_element(By.ID, "scenario-table").screenshot(str(artifacts / "table-sorted-by-rate.png"))
    box = browser.find_element(By.ID, "filter-text")
    box.send_keys("resets")
    visible = [r for r in browser.find_elements(By.CSS_SELECTOR, "#scenario-table tbody tr") if r.is_displayed()]
    assert [r.get_attribute("data-id") for r in visible] == ["test_report_project.py::test_download_survives_resets"]
    assert browser.find_element(By.ID, "filter-count").text == "1 of 4 scenarios shown"
    box.clear()
    box.send_keys(" ")  # an input event with an empty needle
    browser.find_element(By.ID, "filter-baselines").click()
    assert browser.find_element(By.ID, "filter-count").text == "3 of 4 scenarios shown"
    browser.find_element(By.ID, "filter-baselines").click()


def test_drill_down_reveals_a_trials_replay(
    browser: Any, report: tuple[pathlib.Path, dict[str, Any]], artifacts: pathlib.Path
) -> None:
    """A failed scenario's trial opens to show its replay command (and a working copy button); a table link
    opens a passing scenario's drill-down."""
    _, journal = report
    failing = next(
        t for t in journal["trials"] if t["scenario"].endswith("high_bar") and t["outcome"] == "failed_clean"
    )
    scenario_number = next(i for i, s in enumerate(journal["scenarios"]) if s["id"] == failing["scenario"])
    trial = browser.find_element(By.ID, f"t-{scenario_number}-{failing['index']}")
    replay = trial.find_element(By.CSS_SELECTOR, ".replay pre")
    assert not replay.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", trial)
    trial.find_element(By.TAG_NAME, "summary").click()
    assert replay.is_displayed()
    assert replay.text == failing["replay"]
    assert "--chaos-seed=7" in replay.text
    copy = trial.find_element(By.CSS_SELECTOR, "button.copy")
    assert copy.is_displayed()
    assert copy.get_attribute("data-copy") == failing["replay"]
    assert "network_connectivity_loss" in trial.text
    trial.screenshot(str(artifacts / "trial-drill-down.png"))
    corrupted = next(i for i, s in enumerate(journal["scenarios"]) if s["id"].endswith("repaired"))
    detail = browser.find_element(By.ID, f"s-{corrupted}")
    assert detail.get_attribute("open") is None
    link = browser.find_element(By.CSS_SELECTOR, f'#row-{corrupted} a[href="#s-{corrupted}"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    assert detail.get_attribute("open") is not None
    detail.find_element(By.TAG_NAME, "details").find_element(By.TAG_NAME, "summary").click()
    assert "file.corrupt" in detail.text
    assert "mode=bitflip" in detail.text
    assert "✔ yes" in detail.text


def test_no_horizontal_scroll_at_1280_px(browser: Any) -> None:
    """At 1280 px, with every drill-down open, nothing is wider than the window."""
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    widths = browser.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert widths[0] == 1280
    assert max(widths[1:]) <= widths[0], widths


def test_readable_without_javascript(
    report: tuple[pathlib.Path, dict[str, Any]], tmp_path: pathlib.Path, artifacts: pathlib.Path
) -> None:
    """With scripts off the banner, every row, the charts and the failed scenarios' replays show; the controls
    that need the script stay hidden; drill-downs still open (they are <details>)."""
    driver = _driver(tmp_path / "profile", javascript=False)
    try:
        driver.get(report[0].as_uri())
        assert driver.find_element(By.ID, "banner").text.startswith("FAIL")
        rows = driver.find_elements(By.CSS_SELECTOR, "#scenario-table tbody tr")
        assert len(rows) == 4
        assert all(row.is_displayed() for row in rows)
        assert not driver.find_element(By.ID, "controls").is_displayed()
        assert all(svg.is_displayed() for svg in driver.find_elements(By.CSS_SELECTOR, "#charts figure > svg"))
        attention = driver.find_element(By.ID, "attention")
        assert "--chaos-seed=7" in attention.text
        assert not any(button.is_displayed() for button in driver.find_elements(By.CSS_SELECTOR, "button.copy"))
        trial = driver.find_element(By.CSS_SELECTOR, "details.trial")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", trial)
        trial.find_element(By.TAG_NAME, "summary").click()
        assert trial.find_element(By.CSS_SELECTOR, ".replay pre").is_displayed()
        _full_page(driver, artifacts / "report-1280-no-javascript.png")
    finally:
        driver.quit()
