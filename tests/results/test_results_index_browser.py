"""results/index.html in a real browser: both trend plots load and every link opens its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from srelab.results import write_index
from tests.browser_driver import image_loaded, screenshot, wait_for
from tests.results.helpers import at, bench_run, chaos_run, load_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_results_index_plots_load_and_links_open(browser: Any, tmp_path: Path) -> None:
    results = tmp_path / "results"
    bench_run(results, "bench-20261201-100000", at(10), get_rps=1200, post_rps=700)
    bench_run(results, "bench-20261201-120000", at(12), get_rps=1700, post_rps=1350)
    load_run(results, "load-20261201-110000", at(11), requests=500, failed=0)
    chaos_run(results, "journal-kill-redis.json", "chaos-kill-redis-20261201T130000Z", at(13))
    chaos_run(results, "journal-hey-keyless-kill.json", "chaos-hey-20261201T140000Z", at(14))
    (results / "notes-from-bob").mkdir()
    index = write_index(results)

    browser.get(index.as_uri())
    wait_for(browser, lambda d: d.find_elements(By.ID, "runs"), what="the runs table")
    for plot in ("bench-trend", "chaos-trend"):
        image = browser.find_element(By.ID, plot)
        wait_for(browser, lambda d, image=image: image_loaded(d, image), what=f"the {plot} plot")
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tr.run")
    assert len(rows) == 6
    assert "foreign" in rows[-1].text and not rows[-1].find_elements(By.TAG_NAME, "a")
    screenshot(browser, "results-index.png", tmp_path)

    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#runs a")}
    assert len(links) == 5
    for name, href in links.items():
        browser.get(href)
        body = wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body"), what=f"{name}'s report").text
        if name.startswith("chaos-"):  # the chaos report with its embedded timeline
            assert "Chaos run" in browser.find_element(By.TAG_NAME, "h1").text
            (timeline,) = browser.find_elements(By.CSS_SELECTOR, "img[alt^='requests']")
            assert image_loaded(browser, timeline)
        elif name.startswith("bench-"):
            assert f"bench {name}" in body
        else:  # a load run without Locust's HTML: its timeline plot
            assert href.endswith("/timeline.png")
            (picture,) = browser.find_elements(By.TAG_NAME, "img")
            assert image_loaded(browser, picture)
