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


def _reading_list_rows(demo_run: DemoRun) -> list[tuple[Any, ...]]:
    """Return the through rows of the reading lists, with each target's project."""
    import sqlite3

    with sqlite3.connect(demo_run.data_dir / "example_project.sqlite3") as db:
        (table,) = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name LIKE 'library_readinglist_%'"
        ).fetchone()
        return sorted(
            db.execute(
                f'SELECT t.id, t.content_type_id, t.object_id, ct.project FROM "{table}" t '
                "JOIN federated_relations_genericcontenttype ct ON ct.id = t.content_type_id"
            ).fetchall()
        )


def test_saving_a_reading_list_in_the_admin_keeps_its_remote_books(
    demo_run: DemoRun, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    before = _reading_list_rows(demo_run)
    assert {row[3] for row in before} == {"shop_a", "shop_b"}  # local and remote books
    remote_rows = [row for row in before if row[3] == "shop_b"]
    assert len(remote_rows) == 2

    wait = WebDriverWait(browser, WAIT)
    browser.get(demo_run.url_a("/admin/login/"))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "site-name")))
    browser.get(demo_run.url_a("/admin/library/readinglist/"))
    browser.find_element(By.LINK_TEXT, "Alice's reading list").click()
    select = Select(wait.until(ec.presence_of_element_located((By.ID, "id_books"))))
    assert sorted(o.text for o in select.all_selected_options) == ["Emma", "Middlemarch"]

    # "Save" with nothing changed: success, and not one row changed.
    browser.find_element(By.NAME, "_save").click()
    message = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    assert "was changed successfully" in message.text
    assert _reading_list_rows(demo_run) == before

    # Unselect Emma and save: Emma's row goes, the peer's books stay.
    browser.find_element(By.LINK_TEXT, "Alice's reading list").click()
    select = Select(wait.until(ec.presence_of_element_located((By.ID, "id_books"))))
    emma = next(o for o in select.all_selected_options if o.text == "Emma")
    emma_value = emma.get_attribute("value")
    select.deselect_by_value(emma_value)
    browser.find_element(By.NAME, "_save").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    after = _reading_list_rows(demo_run)
    assert [row for row in after if row[3] == "shop_b"] == remote_rows
    assert len(after) == len(before) - 1
    assert emma_value.split(":")[1] not in {row[2] for row in after if row[3] == "shop_a"}


ADMIN_SCREENSHOT = REPO_DIR / "docs" / "admin-autocomplete.png"


def _shelf_rows(demo_run: DemoRun, shelf: str) -> list[tuple[str, str]]:
    """Return (project, object id) of the entries of the shelf called ``shelf``."""
    import sqlite3

    with sqlite3.connect(demo_run.data_dir / "example_project.sqlite3") as db:
        return sorted(
            db.execute(
                "SELECT ct.project, e.object_id FROM through_models_shelfentry e "
                "JOIN through_models_shelf s ON s.id = e.shelf_id "
                "JOIN federated_relations_genericcontenttype ct ON ct.id = e.content_type_id "
                "WHERE s.name = ?",
                (shelf,),
            ).fetchall()
        )


def test_pick_local_and_remote_books_in_the_admin_search_box(
    demo_run: DemoRun, browser: Any, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)
    browser.set_window_size(1100, 760)
    browser.get(demo_run.url_a("/admin/login/"))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "site-name")))
    browser.get(demo_run.url_a("/admin/through_models/shelf/add/"))
    browser.find_element(By.NAME, "name").send_keys("Carol's shelf")

    def pick(row: int, term: str, badge: str, screenshot: Path | None = None) -> str:
        """Search ``term`` in row ``row``'s box and pick the hit with ``badge``."""
        browser.find_element(By.CSS_SELECTOR, ".add-row a").click()
        select = wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, f'select[name="entries-{row}-item"].select2-hidden-accessible')
        ))
        select.find_element(By.XPATH, "following-sibling::span[contains(@class, 'select2')]"
                            ).click()
        field = wait.until(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, ".select2-container--open .select2-search__field")
        ))
        field.send_keys(term)
        hit = (
            "//li[contains(@class, 'select2-results__option')]"
            f"[.//span[@class='federated-badge' and text()='{badge}']]"
            f"[starts-with(normalize-space(.), '{term}')]"
        )
        # With screenshot: both kinds of hits listed, this shop's and Hilltop Books'.
        wanted = {"shop_a · book", "shop_b · book"} if screenshot is not None else {badge}

        def settled(driver: Any) -> Any:
            # select2 redraws the list as the answers come: read it until it holds still.
            try:
                loading = ".select2-results__option.loading-results"
                if driver.find_elements(By.CSS_SELECTOR, loading):
                    return False
                badges = {b.text for b in driver.find_elements(
                    By.CSS_SELECTOR, ".select2-results .federated-badge")}
                options = driver.find_elements(By.XPATH, hit)
                return options[0] if options and wanted <= badges else False
            except StaleElementReferenceException:
                return False

        wait.until(settled)
        if screenshot is not None:
            assert browser.save_screenshot(str(screenshot))

        def clicked(driver: Any) -> bool:
            option = settled(driver)
            try:
                if option:
                    option.click()
                    return True
            except StaleElementReferenceException:
                pass
            return False

        wait.until(clicked)
        chosen = browser.find_element(
            By.XPATH, f"//select[@name='entries-{row}-item']/following-sibling::span"
        ).text
        assert term in chosen and badge in chosen
        return select.get_attribute("value")

    screenshot = tmp_path / "admin-autocomplete.png"
    if os.environ.get("FR_UPDATE_SCREENSHOT") == "1":
        screenshot = ADMIN_SCREENSHOT
    pick(0, "Cranford", "shop_b · book")  # only Hilltop Books sells it
    pick(1, "Emma", "shop_a · book", screenshot=screenshot)  # both shops do: take ours
    assert screenshot.stat().st_size > 10_000
    browser.find_element(By.NAME, "_continue").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    rows = _shelf_rows(demo_run, "Carol's shelf")
    assert [project for project, _pk in rows] == ["shop_a", "shop_b"]

    # Reopened, the page shows both books with their badges; delete the remote one.
    browser.get(browser.current_url)
    boxes = browser.find_elements(
        By.CSS_SELECTOR, "tr.form-row.has_original .select2-selection__rendered"
    )
    shown = sorted(box.text for box in boxes)
    assert len(shown) == 2
    assert shown[0].startswith("Cranford") and "shop_b · book" in shown[0]
    assert shown[1].startswith("Emma") and "shop_a · book" in shown[1]
    cranford_row = browser.find_element(
        By.XPATH, "//tr[contains(@class, 'has_original')][.//span[starts-with(., 'Cranford')]]"
    )
    cranford_row.find_element(By.CSS_SELECTOR, "td.delete input[type=checkbox]").click()
    browser.find_element(By.NAME, "_save").click()
    message = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))
    assert "was changed successfully" in message.text
    assert [project for project, _pk in _shelf_rows(demo_run, "Carol's shelf")] == ["shop_a"]
