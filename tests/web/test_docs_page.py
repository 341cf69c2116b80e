"""/docs and the page in a real browser, under their Content-Security-Policy:
Debian's Chromium through Debian's chromedriver (`tests.support.chromium`), against a real uvicorn serving the app with the real model and Qdrant
Edge. Swagger UI must render every operation of the OpenAPI 3.1 document, and the browser's
console must report no CSP violation. Screenshots at 1280 and 390 px wide land in the test's tmp dir.
"""

from __future__ import annotations

import pytest

from tests.support.chromium import needs_chromium, start_browser, wait_for, wait_results

pytestmark = needs_chromium
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium with its console kept: a CSP violation is a SEVERE console message."""
    driver = start_browser(tmp_path_factory.mktemp("chromium-profile-docs"), console=True)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def at_width(driver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 1600, "deviceScaleFactor": 1, "mobile": width < 600})


@pytest.mark.parametrize("width", WIDTHS)
def test_docs_render_every_operation_under_the_csp(browser, site, client, width, tmp_path):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    operations = sum(1 for item in spec["paths"].values() for method in item if method in ("get", "head", "post", "put", "delete", "patch"))
    at_width(browser, width)
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{site}/docs")
    wait_for(browser, lambda d: len(d.find_elements("css selector", ".opblock")) >= operations)
    assert len(browser.find_elements("css selector", ".opblock")) == operations
    assert not browser.find_elements("css selector", ".errors-wrapper"), "Swagger UI says it cannot render the document"
    assert "Unable to render" not in browser.page_source
    browser.save_screenshot(str(tmp_path / f"docs-{width}.png"))
    errors = console_errors(browser)
    assert errors == [], errors  # a CSP violation is a SEVERE console message


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_works_under_its_csp(browser, site, width, tmp_path):
    at_width(browser, width)
    browser.get_log("browser")
    browser.get(f"{site}/?q=QR+codes+for+restaurants+during+COVID")
    found = wait_results(browser)
    assert found and found[0] == "SaferCodes"
    browser.save_screenshot(str(tmp_path / f"page-{width}.png"))
    # the logos live on the startups' sites, which this machine cannot reach: those failures are
    # network errors, not the policy's; the policy's own words would be "Content Security Policy"
    assert not [e for e in console_errors(browser) if "Content Security Policy" in e]
