"""The page's layout in real Chromium (`tests.support.chromium`): a 390 px wide phone window, whose
scrollbar leaves the page 375 px, and the 1280 px desktop window."""

from __future__ import annotations

import pytest

from tests.support.chromium import DESKTOP, PHONE, cards, needs_chromium, status, wait_for, wait_results

pytestmark = needs_chromium
# Every control a finger or a pointer may hit: links, buttons, fields, the mode radios (each covers its label).
TARGETS = "a[href], button, input, select"


@pytest.fixture
def phone(browser):
    browser.set_window_size(*PHONE)
    yield browser
    browser.set_window_size(*DESKTOP)


def sideways(driver) -> int:
    """How far the page can scroll sideways (0: not at all)."""
    return driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")


def too_small(driver) -> list[str]:
    """The visible targets smaller than 24 x 24 px (WCAG 2.2, target size minimum)."""
    return driver.execute_script("""
        return [...document.querySelectorAll(arguments[0])].filter((e) => e.getClientRects().length).map((e) => [e, e.getBoundingClientRect()])
          .filter(([e, r]) => r.width < 24 || r.height < 24).map(([e, r]) => `${e.tagName} ${e.id || e.textContent.trim().slice(0, 20)} ${r.width}x${r.height}`);
    """, TARGETS)


def test_a_phone_sees_results_on_the_first_screen_without_sideways_scrolling(phone, site):
    phone.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    assert wait_results(phone)[0] == "SaferCodes"
    assert phone.execute_script("return document.documentElement.clientWidth") == 375  # the scrollbar takes its share
    assert sideways(phone) == 0
    first = phone.find_element("css selector", "#results .card")
    assert first.rect["y"] < phone.execute_script("return window.innerHeight") / 2  # the form leaves room for results
    assert too_small(phone) == []
    phone.find_element("id", "more").click()
    wait_for(phone, lambda d: len(cards(d)) == 20)
    assert sideways(phone) == 0 and too_small(phone) == []


def test_a_phone_before_any_search_and_its_touch_targets(phone, site):
    phone.get(f"{site}/")
    wait_for(phone, lambda d: status(d))
    assert phone.find_element("css selector", ".examples").is_displayed()  # examples to try, before a search
    assert sideways(phone) == 0 and too_small(phone) == []
    modes = phone.find_elements("css selector", "fieldset.modes label")
    assert all(m.rect["height"] >= 24 and m.rect["width"] >= 24 for m in modes)
    modes[2].click()  # a tap anywhere on the label chooses its mode
    assert phone.find_element("css selector", "input[name=mode][value=text]").is_selected()


def test_a_long_query_wraps_on_a_phone(phone, site):
    phone.get(f"{site}/?q=" + "longword" * 125)  # 1,000 characters, no space to break at
    wait_results(phone)
    assert sideways(phone) == 0
    line = phone.find_element("id", "status")
    assert phone.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", line)
    assert status(phone).endswith("…”: 10 results (hybrid, " + status(phone).rsplit("(hybrid, ", 1)[1])  # echoed in part: the box holds it all


def test_a_phone_can_do_everything(phone, site):
    """Similar, modes and errors at phone width: the same page, nothing hidden that it needs."""
    phone.get(f"{site}/?q=hospital")
    wait_results(phone)
    before = status(phone)
    phone.find_elements("css selector", "#results .card button.similar")[0].click()
    wait_results(phone, before)
    assert status(phone).startswith("Startups like ") and sideways(phone) == 0
    before = status(phone)
    phone.find_element("css selector", "input[name=mode][value=text]").find_element("xpath", "..").click()
    wait_results(phone, before)
    assert status(phone).startswith("“hospital”: ") and "(text," in status(phone)
    phone.get(f"{site}/?similar=not-a-startup")
    wait_results(phone)
    assert status(phone) == "That startup link is broken. Search for the startup by its name instead." and sideways(phone) == 0


def test_the_search_button_is_on_the_box_line_at_1280(browser, site):
    browser.get(f"{site}/?q=fintech")
    wait_results(browser)
    assert browser.execute_script("return window.innerWidth") == DESKTOP[0]
    box, button = browser.find_element("id", "q").rect, browser.find_element("id", "go").rect
    assert button["x"] > box["x"] + box["width"] - 1 and abs((button["y"] + button["height"] / 2) - (box["y"] + box["height"] / 2)) < 4
    assert sideways(browser) == 0 and too_small(browser) == []
