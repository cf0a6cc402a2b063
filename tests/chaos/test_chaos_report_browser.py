"""A chaos report (re-rendered from a recorded journal, no stack needed) in a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from srelab.chaos.journal import read_journal
from srelab.chaos.report import write_report
from tests.browser_driver import image_loaded, screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

DATA = Path(__file__).resolve().parents[1] / "chaos" / "data"


@pytest.mark.parametrize(
    ("journal", "verdict"), [("journal-kill-redis.json", "FAIL"), ("journal-hey-keyless-kill.json", "PASS")]
)
def test_chaos_report_renders_with_its_timeline(
    browser: Any, tmp_path: Path, journal: str, verdict: str
) -> None:
    recorded = read_journal(DATA / journal)
    folder = tmp_path / "run"
    files = write_report(recorded, folder)
    assert files["png"] == "timeline.png"

    browser.get((folder / "report.html").as_uri())
    heading = wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1"), what="the report's heading")
    assert recorded.experiment_name in heading.text
    assert verdict in heading.text
    sections = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert "Verdicts" in sections and "Timeline" in sections
    (image,) = browser.find_elements(By.CSS_SELECTOR, "img[alt^='requests']")
    wait_for(browser, lambda d: image_loaded(d, image), what="the timeline image")
    assert browser.execute_script("return arguments[0].naturalWidth;", image) >= 600
    if verdict == "FAIL":  # the lost write is spelled out where the verdict is
        assert "acknowledged write(s) lost" in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, f"chaos-report-{recorded.experiment_name}.png", tmp_path)
