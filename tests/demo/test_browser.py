"""In a real browser: put a remote book on a reader's shelf, then screenshot the page.

Headless Chromium from Debian (``chromium`` and ``chromium-driver``, which ``.ci/run``
installs) is driven by Selenium; nothing downloads a browser. Where Chromium is missing
(a developer machine), the test is skipped with the reason; in CI (``CI=true``) it fails
instead. The screenshot goes to a temporary file; with ``FR_UPDATE_SCREENSHOT=1`` it
replaces ``docs/demo-screenshot.png``, the one the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_DIR, DemoRun, get

pytestmark = [pytest.mark.demo, pytest.mark.integration]

README_SCREENSHOT = REPO_DIR / "docs" / "demo-screenshot.png"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1100,640",
]
WAIT = 20  # seconds, for any element to appear


def _find(names: list[str], fallbacks: list[str]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return next((path for path in fallbacks if Path(path).exists()), None)


def _missing(reason: str) -> None:
    """Skip on a machine without the browser; fail in CI, where it must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so this must not happen)")
    pytest.skip(f"{reason}; on Debian: apt-get install chromium chromium-driver")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Yield a headless Chromium driven by Selenium; always quit it afterwards."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package is not installed (pip install -e '.[test]')")
    chromium = _find(["chromium", "chromium-browser"], ["/usr/bin/chromium"])
    driver_path = _find(["chromedriver"], ["/usr/bin/chromedriver"])
    if chromium is None:
        _missing("Chromium is not installed")
    if driver_path is None:
        _missing("chromedriver is not installed")
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # Explicit paths: Selenium Manager never looks for (or downloads) a browser or driver.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


def test_add_a_remote_book_to_a_shelf_in_the_browser(
    demo_run: DemoRun, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT)
    browser.get(demo_run.url_a("/shelves/"))
    browser.find_element(By.LINK_TEXT, "Alice's shelf").click()
    wait.until(ec.presence_of_element_located((By.ID, "add-book")))
    shelf_url = browser.current_url
    assert not browser.find_elements(By.XPATH, "//tr[contains(@class, 'entry')]"
                                               "[contains(., 'Cranford')]")

    # Cranford is only sold by Hilltop Books (remote_project): the choice names its shop.
    select = Select(browser.find_element(By.ID, "book-choice"))
    option = next(o for o in select.options if o.text.startswith("Cranford — Hilltop Books"))
    value = option.get_attribute("value")
    assert value.startswith("shop_b:")
    select.select_by_value(value)
    browser.find_element(By.ID, "reason").send_keys("for the book club")
    browser.find_element(By.ID, "add-button").click()

    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr.entry[data-ref="{value}"]'))
    )
    assert "Cranford" in row.text
    assert "Hilltop Books" in row.text
    assert "$6.90" in row.text  # the price read from remote_project
    assert "for the book club" in row.text
    message = browser.find_element(By.CSS_SELECTOR, ".messages li").text
    assert "Added “Cranford” to Alice's shelf." == message

    screenshot = tmp_path / "demo-screenshot.png"
    if os.environ.get("FR_UPDATE_SCREENSHOT") == "1":
        screenshot = README_SCREENSHOT
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # Stored for good: a fresh page load shows it, and the remote book's page shows the
    # shelf through the reverse accessor.
    browser.get(shelf_url)
    assert browser.find_elements(By.CSS_SELECTOR, f'tr.entry[data-ref="{value}"]')
    project, pk = value.split(":")
    book_page = get(demo_run.url_a(f"/books/{project}/{pk}/")).text
    assert "Alice&#x27;s shelf" in book_page

    # And it comes off the shelf again with its Remove button.
    browser.find_element(
        By.CSS_SELECTOR, f'tr.entry[data-ref="{value}"] button[name="remove"]'
    ).click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".messages li"), "Removed"))
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr.entry[data-ref="{value}"]')
