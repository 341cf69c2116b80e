"""The web page in a real browser: Debian's Chromium driven by Selenium through Debian's
chromedriver (no browser download), against a real uvicorn server on 127.0.0.1 serving the app
with the real model and Qdrant Edge. One screenshot per test lands in the test's tmp dir.

Skipped, saying why, only where Chromium or chromedriver is not installed (scripts/setup_env.sh
installs them: apt-get install chromium chromium-driver)."""

from __future__ import annotations

import contextlib
import shutil
from urllib.parse import parse_qs, urlparse

import pytest

from handler.api import create_app
from tests.helpers import UvicornThread, free_port, make_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
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


@pytest.fixture(scope="module")
def site(service):
    with serve(create_app(service.settings, service, concurrency="worker")) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1200,1600",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def screenshot(request, tmp_path):
    yield
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").save_screenshot(str(tmp_path / f"{request.node.name}.png"))


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


def test_a_shared_link_shows_results(browser, site):
    browser.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    found = wait_results(browser)
    assert found[0] == "SaferCodes" and len(found) == 10
    assert "results for" in status(browser) and "hybrid" in status(browser) and " ms)" in status(browser)
    assert browser.find_element("id", "q").get_attribute("value") == "QR codes for restaurants during COVID"


def test_typing_and_enter_searches_and_the_url_keeps_the_state(browser, site):
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{site}/")
    wait_for(browser, lambda d: status(d))
    box = browser.find_element("id", "q")
    assert browser.switch_to.active_element == box  # focused on load: type at once
    box.send_keys("physician referrals inside hospitals", Keys.ENTER)
    assert "Human Practice" in wait_results(browser)
    assert query_of(browser) == {"q": "physician referrals inside hospitals"}


def test_picking_a_city_shows_only_that_city(browser, site):
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site}/?q=software")
    before = status(browser) if wait_results(browser) else ""
    wait_for(browser, lambda d: len(d.find_elements("css selector", "#city option")) > 2)  # the facet arrived
    Select(browser.find_element("id", "city")).select_by_value("London")
    wait_results(browser, before)
    metas = [e.text for e in browser.find_elements("css selector", "#results .card .meta")]
    assert metas and all(m.startswith("London") for m in metas)
    assert query_of(browser)["city"] == "London"


def test_switching_modes(browser, site):
    browser.get(f"{site}/?q=hospital")
    before = status(browser) if wait_results(browser) else ""
    browser.find_element("css selector", "input[name=mode][value=text]").click()
    wait_results(browser, before)
    assert "(text," in status(browser) and query_of(browser)["mode"] == "text"
    descriptions = [e.text.lower() for e in browser.find_elements("css selector", "#results .card p")]
    assert descriptions and all("hospital" in d for d in descriptions)


def test_similar_then_back(browser, site):
    browser.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    first = wait_results(browser)[0]
    before = status(browser)
    browser.find_elements("css selector", "#results .card button.similar")[0].click()
    similar = wait_results(browser, before)
    assert status(browser).startswith(f"10 results for Startups like {first}") and first not in similar
    assert "similar" in query_of(browser)
    browser.back()
    wait_for(browser, lambda d: "QR codes for restaurants" in status(d) and "Searching" not in status(d))
    assert cards(browser)[0] == first
    assert query_of(browser) == {"q": "QR codes for restaurants during COVID"}


def test_a_broken_logo_falls_back_to_the_initial(browser, site):
    """No logo host is reachable from this machine, so every image fails: each card shows the
    first letter of the name instead."""
    browser.get(f"{site}/?q=SaferCodes")
    wait_results(browser)
    wait_for(browser, lambda d: d.find_elements("css selector", "#results .card .initial"))
    assert browser.find_elements("css selector", "#results .card .initial")[0].text == "S"


def test_no_results_and_a_bad_query_are_said_in_words(browser, site):
    browser.get(f"{site}/?q=software&city=Atlantis")
    wait_results(browser)
    assert status(browser).startswith("No results for") and cards(browser) == []
    browser.get(f"{site}/?q=" + "x" * 1200)
    wait_results(browser)
    assert "q:" in status(browser) and "1000" in status(browser)
    assert "error" in browser.find_element("id", "status").get_attribute("class")


def test_qdrant_down_the_page_says_so(browser, service, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens: Qdrant is down
    settings = make_settings(service.settings.model_dir, tmp_path, qdrant_url=down, qdrant_timeout=1.0)
    with serve(create_app(settings, concurrency="worker")) as base:
        browser.get(f"{base}/?q=fintech")
        wait_results(browser)
        assert "did not answer" in status(browser) and cards(browser) == []
        assert "error" in browser.find_element("id", "status").get_attribute("class")


def test_the_page_is_keyboard_usable_and_labelled(browser, site):
    browser.get(f"{site}/")
    for control in ("q", "city"):
        assert browser.find_elements("css selector", f"label[for={control}]"), control
    assert browser.find_element("css selector", "fieldset.modes legend").text == "Mode"
    assert browser.find_element("id", "go").tag_name == "button"
