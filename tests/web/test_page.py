"""The web page in a real browser (`tests.support.chromium`): Chromium in a 1280 px wide window against a
real uvicorn server serving the app with the real model and Qdrant Edge; the 390 px phone window
is `tests.web.test_page_phone`. One screenshot per test lands in the test's tmp dir.

Skipped, saying why, only where Chromium or chromedriver is not installed (scripts/setup_env.sh
installs them: apt-get install chromium chromium-driver)."""

from __future__ import annotations

import uuid

import pytest

from handler.web import create_app
from tests.support.chromium import api, cards, focused_id, needs_chromium, query_of, serve, status, wait_for, wait_results
from tests.support.helpers import make_settings
from tests.support.servers import free_port

pytestmark = needs_chromium


# -- searching -------------------------------------------------------------------------------------------

def test_a_shared_link_shows_results(browser, site):
    browser.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    found = wait_results(browser)
    assert found[0] == "SaferCodes" and len(found) == 10
    assert status(browser).startswith("“QR codes for restaurants during COVID”: 10 results (hybrid, ") and status(browser).endswith(" ms)")
    assert browser.find_element("id", "q").get_attribute("value") == "QR codes for restaurants during COVID"


def test_typing_and_enter_searches_keeps_the_state_and_moves_focus_to_the_results(browser, site):
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{site}/")
    wait_for(browser, lambda d: status(d))
    box = browser.find_element("id", "q")
    assert browser.switch_to.active_element == box  # focused on load: type at once
    box.send_keys("physician referrals inside hospitals", Keys.ENTER)
    assert "Human Practice" in wait_results(browser)
    assert query_of(browser) == {"q": "physician referrals inside hospitals"}
    assert focused_id(browser) == "results"  # the list is labelled by the status: a screen reader says what was found
    assert browser.find_element("id", "results").get_attribute("aria-labelledby") == "status"


# The page's fetch of the filter lists held back until the test releases it (a slow facet answer).
HOLD_FACETS = """(() => {
  const fetched = window.fetch; let release; const held = new Promise((resolve) => { release = resolve; });
  window.releaseFacets = release;
  window.fetch = (url, init) => (String(url).includes("api/facets/") ? held.then(() => fetched(url, init)) : fetched(url, init));
})();"""


def test_what_is_typed_before_the_filter_lists_arrive_is_kept(browser, site):
    # The box has focus on load, so a person may type before the city list arrives; its arrival once
    # reset the form from the URL, emptying the box (a CI run on a busy machine met it).
    hold = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_FACETS})
    try:
        browser.get(f"{site}/")
        wait_for(browser, lambda d: status(d).startswith("Type what you are looking for"))
        box = browser.find_element("id", "q")
        box.send_keys("physician referrals")
        browser.execute_script("window.releaseFacets()")
        wait_for(browser, lambda d: len(d.find_elements("css selector", "#f-city option")) > 1)  # the list arrived
        assert box.get_attribute("value") == "physician referrals"
        browser.find_element("id", "go").click()
        wait_results(browser)
        assert query_of(browser)["q"] == "physician referrals"
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": hold["identifier"]})


def test_example_queries_to_try(browser, site):
    browser.get(f"{site}/")
    wait_for(browser, lambda d: status(d))
    examples = browser.find_elements("css selector", ".examples button.example")
    assert len(examples) >= 3 and "NowBoarding" in [e.text for e in examples]
    next(e for e in examples if e.text == "NowBoarding").click()
    assert wait_results(browser)[0] == "NowBoarding ✈️"
    assert query_of(browser) == {"q": "NowBoarding"} and focused_id(browser) == "results"


def test_picking_a_city_shows_only_that_city(browser, site):
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site}/?q=software")
    before = status(browser) if wait_results(browser) else ""
    wait_for(browser, lambda d: len(d.find_elements("css selector", "#f-city option")) > 2)  # the facet arrived
    Select(browser.find_element("id", "f-city")).select_by_value("London")
    wait_results(browser, before)
    metas = [e.text for e in browser.find_elements("css selector", "#results .card .meta")]
    assert metas and all(m == "London" for m in metas)
    assert query_of(browser)["city"] == "London" and " with city London: " in status(browser)
    assert focused_id(browser) == "f-city"  # choosing a city does not move focus away from it


def test_switching_modes(browser, site):
    browser.get(f"{site}/?q=hospital")
    before = status(browser) if wait_results(browser) else ""
    browser.find_element("css selector", "input[name=mode][value=text]").click()
    wait_results(browser, before)
    assert "(text," in status(browser) and query_of(browser)["mode"] == "text"
    assert cards(browser) == [r["name"] for r in api(site, "/api/search", q="hospital", mode="text", limit=10)["result"]]


def test_matched_words_are_marked_and_data_stays_text(browser, site):
    browser.get(f"{site}/?q=restaurants+<b>bold</b>")
    wait_results(browser)
    marks = browser.find_elements("css selector", "#results mark")
    assert marks and all(m.text.lower().startswith("restaurant") or m.text.lower().startswith("bold") for m in marks)
    assert all(m.get_attribute("innerHTML") == m.text for m in marks)  # text only, no markup inside
    assert "<b>bold</b>" in status(browser) and not browser.find_elements("css selector", "#status b, #results b")
    browser.get(f"{site}/?q=food+deliveries")
    assert "Fooda" in wait_results(browser)
    marked = {m.text.lower() for m in browser.find_elements("css selector", "#results mark")}
    assert {"food", "delivery"} <= marked <= {"food", "foods", "delivery", "deliveries", "delivered", "deliver"}  # not "Fooda"


def test_scores_are_not_shown(browser, site):
    browser.get(f"{site}/?q=payments")
    wait_results(browser)
    text = browser.find_element("id", "results").text.lower()
    assert "score" not in text and "0.0" not in text


def test_the_loading_state(browser, site):
    """With Chromium's network throttled (DevTools protocol), the page says it is searching and
    marks the results busy until the answer comes."""
    browser.get(f"{site}/")
    wait_for(browser, lambda d: status(d))
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        browser.find_element("id", "q").send_keys("fintech\n")
        wait_for(browser, lambda d: "Searching" in status(d), timeout=5)
        assert browser.find_element("id", "status").get_attribute("class") == "loading"
        assert browser.find_element("id", "results").get_attribute("aria-busy") == "true"
        wait_results(browser)
        assert browser.find_element("id", "results").get_attribute("aria-busy") == "false" and cards(browser)
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def test_more_results(browser, site):
    browser.get(f"{site}/?q=software")
    first = wait_results(browser)
    more = browser.find_element("id", "more")
    assert more.is_displayed() and len(first) == 10
    before = status(browser)
    more.click()
    wait_for(browser, lambda d: len(cards(d)) == 20)
    wait_results(browser, before)
    assert cards(browser) == [r["name"] for r in api(site, "/api/search", q="software", limit=20)["result"]]  # one order, no repeats
    assert status(browser).startswith("“software”: 20 results")
    assert browser.switch_to.active_element.find_element("css selector", "h2").text == cards(browser)[10]  # focus on the first new one
    browser.get(f"{site}/?q=software&city=London")  # 7 startups in London: no more to show
    assert len(wait_results(browser)) == 7 and not browser.find_element("id", "more").is_displayed()


def test_weak_matches_are_said(browser, site):
    browser.get(f"{site}/?q=qwxzv")
    wait_results(browser)
    notice = browser.find_element("id", "notice")
    assert notice.is_displayed() and notice.text == "No close matches; these are the nearest."
    browser.get(f"{site}/?q=fintech")
    wait_results(browser)
    assert not browser.find_element("id", "notice").is_displayed()


# -- similar ---------------------------------------------------------------------------------------------

def test_similar_then_back(browser, site):
    browser.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    first = wait_results(browser)[0]
    before = status(browser)
    browser.find_elements("css selector", "#results .card button.similar")[0].click()
    similar = wait_results(browser, before)
    assert status(browser) == f"Startups like {first}: 10 results" and first not in similar
    assert "similar" in query_of(browser) and focused_id(browser) == "results"
    browser.back()
    wait_for(browser, lambda d: "QR codes for restaurants" in status(d) and "Searching" not in status(d))
    assert cards(browser)[0] == first
    assert query_of(browser) == {"q": "QR codes for restaurants during COVID"}


def test_choosing_a_mode_while_viewing_similar_searches_the_last_query_in_it(browser, site):
    browser.get(f"{site}/?q=hospital")
    wait_results(browser)
    browser.find_elements("css selector", "#results .card button.similar")[0].click()
    wait_for(browser, lambda d: status(d).startswith("Startups like"))
    before = status(browser)
    browser.find_element("css selector", "input[name=mode][value=neural]").click()
    wait_results(browser, before)
    assert status(browser).startswith("“hospital”: ") and "(neural," in status(browser)
    assert query_of(browser) == {"q": "hospital", "mode": "neural"}


def test_a_broken_logo_falls_back_to_the_initial(browser, site):
    """No logo host is reachable from this machine, so every image fails: each card shows the
    first letter of the name instead."""
    browser.get(f"{site}/?q=SaferCodes")
    wait_results(browser)
    wait_for(browser, lambda d: d.find_elements("css selector", "#results .card .initial"))
    assert browser.find_elements("css selector", "#results .card .initial")[0].text == "S"


# -- errors, in words a person can act on -------------------------------------------------------------------

@pytest.mark.parametrize("path, said", [
    ("/?q=software&city=Atlantis", "No results for “software” with city Atlantis. Try other words, another mode or fewer filters."),
    ("/?q=%E2%80%8B", "Type something to search for."),  # a zero-width space: blank to the service
    ("/?q=" + "x" * 1200, "That search is too long: use at most 1000 characters."),
    ("/?similar=not-a-startup&name=X", "That startup link is broken. Search for the startup by its name instead."),
    (f"/?similar={uuid.UUID(int=7)}&name=X", "That startup is not in the index any more. Search for it by its name."),
])
def test_problems_are_said_in_plain_words(browser, site, path, said):
    browser.get(f"{site}{path}")
    wait_results(browser)
    assert status(browser) == said and cards(browser) == []
    if "No results" not in said:
        assert "error" in browser.find_element("id", "status").get_attribute("class")


def test_an_empty_search_says_what_to_do_and_keeps_focus_in_the_box(browser, site):
    browser.get(f"{site}/?q=fintech")
    wait_results(browser)
    box = browser.find_element("id", "q")
    box.clear()
    browser.find_element("id", "go").click()
    wait_for(browser, lambda d: status(d) == "Type something to search for.")
    assert focused_id(browser) == "q" and query_of(browser) == {"q": "fintech"}  # nothing was searched


def test_qdrant_down_the_page_says_so(browser, service, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens: Qdrant is down
    settings = make_settings(service.settings.model_dir, tmp_path, qdrant_url=down, qdrant_timeout=1.0)
    with serve(create_app(settings, concurrency="worker")) as base:
        browser.get(f"{base}/?q=fintech")
        wait_results(browser)
        assert status(browser) == "Search is not available right now. Try again in a moment." and cards(browser) == []
        assert "error" in browser.find_element("id", "status").get_attribute("class")


def test_the_page_is_keyboard_usable_labelled_and_has_nothing_inline(browser, site):
    browser.get(f"{site}/?q=payments")
    wait_results(browser)
    for control in ("q", "f-city"):
        assert browser.find_elements("css selector", f"label[for={control}]"), control
    assert browser.find_element("css selector", "fieldset.modes legend").text == "Mode"
    assert browser.find_element("id", "go").tag_name == "button"
    # a Content-Security-Policy of the page's own files allows no inline script or style
    assert browser.execute_script("return document.querySelectorAll('[style], style, script:not([src])').length") == 0
