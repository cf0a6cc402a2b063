"""The lab's web pages in a real browser (headless Debian chromium): the Locust UI and the
Traefik dashboard of the live-test stack (tests/lab.py)."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser_driver import chromium, screenshot, wait_for
from tests.lab import Lab

pytestmark = [pytest.mark.live, pytest.mark.browser, pytest.mark.timeout(420)]

# What the UI may load: the lab's own proxy, by its compose name on the edge network.
LOCUST_TARGET = "http://traefik:8081"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def locust_url(lab: Lab) -> Iterator[str]:
    """The loadtest profile's Locust UI added to the live stack, removed afterwards."""
    from rich.console import Console

    from srelab.stack.lifecycle import Stack

    stack = Stack(lab.settings, ("monitoring", "loadtest"), Console(stderr=True))  # type: ignore[arg-type]
    try:
        stack.build(["locust"])
        stack.up(["locust"], timeout_s=180)
        yield lab.settings.url(lab.settings.lab_locust_port)  # type: ignore[attr-defined]
    finally:
        stack.docker.compose.rm(["locust"], stop=True)


def _fill(driver: Any, name: str, value: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value)


def _button(driver: Any, label: str) -> Any:
    """A button by its label, whatever case the page's CSS shows it in."""
    upper = "translate(normalize-space(), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
    return driver.find_element(By.XPATH, f"//button[{upper}='{label.upper()}']")


def _header(driver: Any) -> dict[str, str]:
    """The Locust navbar's figures: {'Status': 'RUNNING', 'RPS': '24.6', 'Failures': '0%', ...}."""
    words = driver.find_element(By.TAG_NAME, "header").text.split("\n")
    return {k: v for k, v in itertools.pairwise(words) if k in ("Status", "Users", "RPS", "Failures")}


def test_locust_ui_runs_a_bounded_swarm_without_failures(
    browser: Any, locust_url: str, tmp_path: Path
) -> None:
    browser.get(locust_url + "/")
    wait_for(browser, lambda d: d.find_elements(By.NAME, "userCount"), what="the start form")
    assert browser.find_element(By.NAME, "host").get_attribute("value") == LOCUST_TARGET
    _fill(browser, "userCount", "4")
    _fill(browser, "spawnRate", "4")
    _button(browser, "Advanced options").click()
    _fill(browser, "runTime", "30s")  # bounded even if the stop below never happened
    _button(browser, "Custom parameters").click()
    _fill(browser, "waitMin", "0.1")  # light load: 4 users with think time
    _fill(browser, "waitMax", "0.2")
    browser.find_element(By.XPATH, "//button[@type='submit']").click()

    header = wait_for(
        browser,
        lambda d: (h := _header(d)).get("Status") == "RUNNING" and float(h.get("RPS") or 0) > 0 and h,
        timeout_s=30,
        what="requests per second above 0",
    )
    wait_for(browser, lambda d: "Aggregated" in d.find_element(By.TAG_NAME, "body").text, what="stats")
    stats = requests.get(locust_url + "/stats/requests", timeout=5).json()
    screenshot(browser, "locust-ui-running.png", tmp_path)
    _button(browser, "STOP").click()

    assert header["Failures"] == "0%", (header, stats.get("errors"))
    assert header["Users"] == "4"
    assert stats["total_rps"] > 0 and stats["fail_ratio"] == 0, stats
    aggregated = next(s for s in stats["stats"] if s["name"] == "Aggregated")
    assert aggregated["num_requests"] > 0 and aggregated["num_failures"] == 0, aggregated
    wait_for(browser, lambda d: _header(d).get("Status") == "STOPPED", timeout_s=20, what="the swarm to stop")
    assert requests.get(locust_url + "/stats/requests", timeout=5).json()["state"] == "stopped"


def dashboard_credentials(settings: Any) -> tuple[str, str] | None:
    """The dashboard's basic-auth user and password (compose/.env) when the settings provide them."""
    user = getattr(settings, "traefik_dashboard_user", None)
    password = getattr(settings, "traefik_dashboard_password", None)
    return (str(user), str(password)) if user and password else None


def test_traefik_dashboard_loads(browser: Any, lab: Lab, tmp_path: Path) -> None:
    settings: Any = lab.settings
    url = settings.url(settings.lab_dashboard_port, "/dashboard/")
    credentials = dashboard_credentials(settings)
    if credentials is not None:  # basic auth: refused without (or with a wrong password)
        api = settings.url(settings.lab_dashboard_port, "/api/rawdata")
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(api, timeout=5).status_code == 401
        assert requests.get(api, auth=(credentials[0], "wrong"), timeout=5).status_code == 401
        token = base64.b64encode(":".join(credentials).encode()).decode()
        browser.execute_cdp_cmd("Network.enable", {})
        headers = {"Authorization": f"Basic {token}"}
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    try:
        browser.get(url)
        wait_for(
            browser,
            lambda d: "Routers" in d.find_element(By.TAG_NAME, "body").text,
            what="the dashboard's overview",
        )
        assert "Traefik" in browser.title
        body = browser.find_element(By.TAG_NAME, "body").text
        for entrypoint in ("WEB", "METRICS", "DASHBOARD"):  # the API answered the page's queries
            assert entrypoint in body
        screenshot(browser, "traefik-dashboard.png", tmp_path)
    finally:
        if credentials is not None:
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
