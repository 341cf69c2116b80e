"""What the Chromium tests share (`tests.web.test_page`, `tests.web.test_page_phone`): Debian's
Chromium driven by Selenium through Debian's chromedriver (no browser download), the app on a real
uvicorn server, and small readers of the page. The `browser` and `site` fixtures are in conftest.py."""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.support.servers import UvicornThread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DESKTOP = (1280, 1000)
PHONE = (390, 844)  # Chromium's scrollbar leaves the page 375 px of it

needs_chromium = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="Chromium and chromedriver are not installed (apt-get install chromium chromium-driver; scripts/setup_env.sh does it)",
)


@contextlib.contextmanager
def serve(app):
    """The app on a real uvicorn server on a free 127.0.0.1 port, in a thread: yields the base URL."""
    try:
        with UvicornThread(app) as url:
            yield url
    finally:
        app.state.runner.close()


def start_browser(profile_dir, console: bool = False):
    """Headless Chromium in a DESKTOP window, with its own profile; `console` keeps the browser's
    console log (driver.get_log("browser")), where CSP violations are reported."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
                 f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver, condition, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def status(driver) -> str:
    return driver.find_element("id", "status").text


def cards(driver) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", "#results .card h2")]


def wait_results(driver, previous: str | None = None) -> list[str]:
    wait_for(driver, lambda d: status(d) and "Searching" not in status(d) and status(d) != previous)
    return cards(driver)


def query_of(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def focused_id(driver) -> str:
    return driver.switch_to.active_element.get_attribute("id")


def api(site: str, path: str, **params) -> dict:
    with urllib.request.urlopen(f"{site}{path}?{urlencode(params)}", timeout=30) as response:
        return json.load(response)
