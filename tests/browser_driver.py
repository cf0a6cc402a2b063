"""Headless Debian chromium driven by selenium through /usr/bin/chromedriver.

Selenium Manager is never asked for a driver (no download works here): the driver path is
given. Without chromium the tests are skipped, unless LAB_REQUIRE_DOCKER=1 (CI): then they fail.
Screenshots go to LAB_SCREENSHOTS (a folder, e.g. docs/img) when it is set, else to the test's
tmp folder; that is how the docs' pictures are made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
)


def require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        problem = f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("LAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"LAB_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless chromium (own profile folder, removed afterwards)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="srelab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, name: str, fallback: Path) -> Path:
    """Save the visible page as `name` in LAB_SCREENSHOTS (or `fallback`); return the file."""
    folder = Path(os.environ.get("LAB_SCREENSHOTS") or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path)), f"screenshot {path} not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("LAB_SCREENSHOTS"):  # for the docs: 128 colours, a third of the bytes
        from PIL import Image  # matplotlib's own dependency

        with Image.open(path) as shot:
            small = shot.convert("RGB").quantize(colors=128)
        small.save(path, optimize=True)
    return path


def image_loaded(driver: Any, element: Any) -> bool:
    """True when an <img> finished loading real pixels (naturalWidth > 0)."""
    script = "return arguments[0].complete && arguments[0].naturalWidth > 0;"
    return bool(driver.execute_script(script, element))


def wait_for(driver: Any, check: Callable[[Any], Any], timeout_s: float = 20, what: str = "page") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(check, message=f"waiting for {what}")
