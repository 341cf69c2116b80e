"""The page follows the schema, and what a person meets after a search, in real Chromium
(`tests.support.chromium`) at 1280 and 390 px:

- with the PyPI packages schema (`examples/packages.toml`, 300 packages embedded and uploaded by the
  scripts): its heading and examples, a card laid out by [display], the released list filled from
  its facet and used, a downloads-rank range typed, all in the URL;
- with the startups sample: after a search the box, the status line and the "No close matches"
  notice stay in view (focus moves to the results without scrolling them away); "More results" is
  gone at the last page the API serves; an error of "More results" never holds an earlier one.
One screenshot per test lands in the test's tmp dir."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from handler.common import load_schema
from handler.web import create_app
from tests.support.chromium import DESKTOP, PHONE, cards, needs_chromium, query_of, serve, status, wait_for, wait_results
from tests.support.helpers import PACKAGES_FILE, REPO, make_settings, run_module

pytestmark = needs_chromium
SCHEMA_FILE = REPO / "examples" / "packages.toml"


@pytest.fixture(scope="module")
def packages_site(model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("page-packages")
    lines = root / "packages.jsonl"
    lines.write_text("\n".join(PACKAGES_FILE.read_text().splitlines()[:300]) + "\n")
    env = {"SCHEMA_FILE": str(SCHEMA_FILE), "QDRANT_PATH": str(root / "qdrant"), "QDRANT_URL": "", "MODEL_DIR": str(model_dir)}
    assert run_module("scripts.embed", "--input", str(lines), "--out", str(root / "vectors"), env=env).returncode == 0
    assert run_module("scripts.upload", "--input", str(lines), "--vectors", str(root / "vectors"), env=env).returncode == 0
    settings = replace(make_settings(model_dir, root / "qdrant"), schema=load_schema(str(SCHEMA_FILE)), collection_name="packages")
    app = create_app(settings, concurrency="worker")
    with serve(app) as base:
        yield base, [json.loads(line) for line in lines.read_text().splitlines()]
    app.state.service.storage.close()


def in_view(driver, element_id: str) -> bool:
    """The element's box lies within the window (not scrolled off)."""
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;", element_id)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280", "390"])
def test_the_page_follows_the_packages_schema(browser, packages_site, size):
    from selenium.webdriver.support.ui import Select

    site, packages = packages_site
    browser.set_window_size(*size)
    browser.get(f"{site}/")
    assert browser.find_element("tag name", "h1").text == "Python package search" and browser.title == "Python package search"
    assert [e.text for e in browser.find_elements("css selector", ".example")][:2] == ["parse command line arguments", "read excel files"]
    assert not browser.find_elements("id", "f-city") and browser.find_element("id", "f-downloads_rank_max")
    wait_for(browser, lambda d: len(d.find_elements("css selector", "#f-released option")) > 2)  # the facet arrived
    month = Select(browser.find_element("id", "f-released")).options[1].get_attribute("value")
    browser.find_element("id", "q").send_keys("http client")
    browser.find_element("id", "go").click()
    wait_results(browser)
    first = browser.find_element("css selector", "#results .card")
    title, subtitle = first.find_element("css selector", "h2").text, first.find_element("css selector", ".meta").text
    record = next(p for p in packages if p["package"] == title)
    assert subtitle == record["version"] and first.find_element("css selector", "p").text == record["summary"]  # [display]: subtitle, body
    assert first.find_element("css selector", ".similar").get_attribute("aria-label") == f"Packages similar to {title}"
    before = status(browser)
    Select(browser.find_element("id", "f-released")).select_by_value(month)
    wait_results(browser, before)
    assert query_of(browser)["released"] == month and f"with released {month}" in status(browser)
    shown = {p["package"]: p for p in packages}
    assert cards(browser) and all(shown[name]["released"] == month for name in cards(browser))
    before = status(browser)
    box = browser.find_element("id", "f-downloads_rank_max")
    box.send_keys("15000")
    browser.find_element("id", "q").click()  # the change event: leaving the box
    wait_results(browser, before)
    assert query_of(browser)["downloads_rank_max"] == "15000" and "downloads rank up to 15000" in status(browser)
    assert all(shown[name]["downloads_rank"] is not None for name in cards(browser))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280", "390"])
def test_after_a_search_the_box_the_status_and_the_notice_stay_in_view(browser, site, size):
    browser.set_window_size(*size)
    browser.get(f"{site}/")
    box = browser.find_element("id", "q")
    wait_for(browser, lambda d: status(d).startswith("Type what you are looking for"))  # the page's script is running
    box.send_keys("qwxzv")  # nonsense: a weak match, the notice says so
    browser.find_element("id", "go").click()
    wait_for(browser, lambda d: status(d).startswith("“qwxzv”: "), timeout=30)
    wait_for(browser, lambda d: d.find_element("id", "notice").is_displayed())
    assert browser.switch_to.active_element.get_attribute("id") == "results"  # focus went to the results
    assert browser.execute_script("return window.scrollY") == 0
    for element in ("q", "status", "notice"):
        assert in_view(browser, element), element


def test_more_results_stops_at_the_last_page_the_api_serves(browser, site):
    """The API serves offsets up to 100 (rendered into the page from the same constant): after the
    page holding result 101 there is no "More results" button, whatever the ranking holds."""
    browser.set_window_size(*DESKTOP)
    browser.get(f"{site}/?q=software")
    wait_results(browser)
    more = browser.find_element("id", "more")
    for shown in range(20, 120, 10):
        assert more.is_displayed(), shown
        before = status(browser)
        more.click()
        wait_for(browser, lambda d, n=shown: len(cards(d)) == n)
        wait_results(browser, before)
    assert len(cards(browser)) == 110 and not more.is_displayed() and "110 results" in status(browser)
    assert browser.find_element("id", "status").get_attribute("class") != "error"


def test_an_error_of_more_results_never_holds_an_earlier_one(browser, site):
    """The service goes away between two pages: each failed "More results" says the problem once,
    beside what the page shows, never inside the previous error."""
    browser.set_window_size(*DESKTOP)
    browser.get(f"{site}/?q=software")
    wait_results(browser)
    said = status(browser)
    browser.execute_script("window.fetch = () => Promise.reject(new TypeError('offline'))")  # the network is gone
    for _ in range(3):
        browser.find_element("id", "more").click()
        wait_for(browser, lambda d: "could not be reached" in status(d))
        wait_for(browser, lambda d: d.find_element("id", "more").text == "More results")
    assert status(browser) == f"The search service could not be reached. Check your connection and try again. ({said})"
