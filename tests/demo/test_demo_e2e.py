"""End to end: ``./run_demo.sh`` runs both servers; the pages are read over HTTP.

Nothing is mocked: both demo servers run as real processes started by ``run_demo.sh``, with
their own SQLite files, and talk to each other through the signed federation endpoints.
"""

from __future__ import annotations

import html
import os
import re
import signal
from dataclasses import dataclass

import pytest
import requests

from .conftest import DemoRun, get, wait_until

pytestmark = [pytest.mark.demo, pytest.mark.integration]

#: Titles only the peer (remote_project, "Hilltop Books") sells, at these prices.
REMOTE_ONLY = {
    "Cranford": "6.90",
    "North and South": "9.40",
    "The Moonstone": "8.60",
    "The Woman in White": "9.20",
}
#: Titles only example_project ("Riverside Books") sells.
LOCAL_ONLY = {"Vanity Fair": "9.99", "The Secret Garden": "5.49"}
REMOTE_BOOKS = 32
LOCAL_BOOKS = 31
BATCH_LINE = r"from shop_a: POST /federation/objects/library/book/batch/ pks=(\d+) -> 200"


@dataclass
class Row:
    """One row of a table of books: its reference (``project:pk``), classes and cells."""

    ref: str
    classes: str
    cells: list[str]

    @property
    def project(self) -> str:
        """Return the project owning the book."""
        return self.ref.split(":")[0]

    @property
    def available(self) -> bool:
        """Return whether the row shows the book's data (not "unavailable")."""
        return "unavailable" not in self.classes


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def rows(page: str, kind: str) -> list[Row]:
    """Return the rows of class ``kind`` (``book`` or ``entry``) of a page."""
    found = []
    pattern = rf'<tr class="({kind}[^"]*)" data-ref="([^"]+)">(.*?)</tr>'
    for classes, ref, body in re.findall(pattern, page, re.S):
        cells = [_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]
        found.append(Row(ref, classes, cells))
    return found


def books_page(run: DemoRun) -> list[Row]:
    """Return the rows of example_project's ``/books/`` page (which must answer 200)."""
    response = get(run.url_a("/books/"))
    assert response.status_code == 200, response.text[:2000]
    return rows(response.text, "book")


def shelf_url(run: DemoRun, name: str) -> str:
    """Return the URL of a reader's shelf page, found on the ``/shelves/`` page."""
    page = get(run.url_a("/shelves/")).text
    match = re.search(rf'<a href="(/shelves/\d+/)">{re.escape(html.escape(name))}</a>', page)
    assert match, f"no shelf {name!r} on /shelves/:\n{page}"
    return run.url_a(match.group(1))


def csrf_token(session: requests.Session) -> str:
    """Return the CSRF cookie of a demo server (each names its cookies after its project)."""
    return next(value for name, value in session.cookies.items() if name.endswith("csrftoken"))


def admin_session(base_url: str) -> requests.Session:
    """Log into a server's admin with the demo's superuser; return the session."""
    session = requests.Session()
    login = f"{base_url}/admin/login/"
    session.get(login, timeout=15)
    response = session.post(
        login,
        data={
            "username": "admin",
            "password": "admin",
            "csrfmiddlewaretoken": csrf_token(session),
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=15,
    )
    assert response.status_code == 200 and response.url.endswith("/admin/"), response.text
    return session


def test_books_page_shows_both_shops_with_remote_titles_fetched_in_one_signed_batch(
    shared_demo: DemoRun,
) -> None:
    shared_demo.settle()  # the log lines of earlier requests are all in
    batches_before = shared_demo.count_lines(BATCH_LINE, "remote_project")

    books = books_page(shared_demo)

    by_ref = {row.ref: row for row in books}
    assert len(by_ref) == len(books) == REMOTE_BOOKS + LOCAL_BOOKS
    assert all(row.available for row in books)
    titles = {(row.cells[0], row.cells[2], row.cells[3]) for row in books}
    for title, price in REMOTE_ONLY.items():
        assert (title, "Hilltop Books", f"${price}") in titles
    for title, price in LOCAL_ONLY.items():
        assert (title, "Riverside Books", f"${price}") in titles
    # Same title, different shops, different prices: "same model, different data".
    assert {(t, s, p) for t, s, p in titles if t == "Emma"} == {
        ("Emma", "Riverside Books", "$6.99"),
        ("Emma", "Hilltop Books", "$7.40"),
    }
    assert sum(row.project == "shop_b" for row in books) == REMOTE_BOOKS

    # The peer's log: one signed batch request (verified, 200) for all of its books.
    wait_until(
        lambda: shared_demo.count_lines(BATCH_LINE, "remote_project") > batches_before,
        15,
        lambda: f"remote_project logged no batch request:\n{shared_demo.output()}",
    )
    shared_demo.settle()
    batches = [
        int(match.group(1))
        for line in shared_demo.log_of("remote_project")
        if (match := re.search(BATCH_LINE, line))
    ][batches_before:]
    assert batches == [REMOTE_BOOKS]


def test_book_pages_show_who_shelved_a_remote_and_a_local_book(shared_demo: DemoRun) -> None:
    # The launcher's first sync put Hilltop's books 1 and 2 on Alice's shelf; Bob's shelf
    # was seeded with local books only.
    remote_page = get(shared_demo.url_a("/books/shop_b/1/"))
    assert remote_page.status_code == 200
    assert "<h2>Pride and Prejudice</h2>" in remote_page.text
    assert "Hilltop Books" in remote_page.text
    shelf_link = r"<li><a href=\"/shelves/\d+/\">Alice&#x27;s shelf</a></li>"
    assert re.search(shelf_link, remote_page.text)
    assert "Bob&#x27;s shelf" not in remote_page.text

    local = next(
        row
        for row in books_page(shared_demo)
        if row.cells[0] == "Moby-Dick" and row.project == "shop_a"
    )
    local_page = get(shared_demo.url_a(f"/books/shop_a/{local.ref.split(':')[1]}/"))
    assert "Bob&#x27;s shelf" in local_page.text
    assert "Alice&#x27;s shelf" not in local_page.text

    assert get(shared_demo.url_a("/books/shop_b/999/")).status_code == 404


def test_admin_lists_relations_with_type_project_pk_and_name(shared_demo: DemoRun) -> None:
    session = admin_session(shared_demo.url_a(""))
    page = session.get(shared_demo.url_a("/admin/through_models/shelfentry/"), timeout=15).text
    # Alice's remote books: type, project, pk and the name read from the peer.
    row = re.search(r"<tr>.*?Pride and Prejudice.*?</tr>", page, re.S)
    assert row, page
    cells = [_text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(0), re.S)]
    assert "library.book" in cells
    assert "shop_b (Hilltop Books)" in cells
    assert "1" in cells

    listings_url = shared_demo.url_a("/admin/library/listing/?content_type__project=shop_b")
    listings = session.get(listings_url, timeout=15).text
    assert "Cranford" in listings and "shop_b (Hilltop Books)" in listings
    assert f"{REMOTE_BOOKS} listings" in listings

    # remote_project's staff picks point at books of both shops: read from example_project.
    remote_admin = admin_session(shared_demo.url_b(""))
    picks = remote_admin.get(shared_demo.url_b("/admin/library/recommendation/"), timeout=15)
    picked = {
        tuple(_text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S))[1:4]
        for row in re.findall(r"<tr>(.*?)</tr>", picks.text, re.S)
    }
    assert ("Vanity Fair", "library.book", "shop_a") in picked
    assert ("Cranford", "library.book", "shop_b") in picked


def test_remote_project_shows_staff_picks_read_from_example_project(
    shared_demo: DemoRun,
) -> None:
    page = get(shared_demo.url_b("/"))
    assert page.status_code == 200
    picks = {
        tuple(_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))[:3]
        for row in re.findall(r'<tr class="pick">(.*?)</tr>', page.text, re.S)
    }
    assert picks == {
        ("Cranford", "Hilltop Books", "$6.90"),
        ("The Moonstone", "Hilltop Books", "$8.60"),
        ("Vanity Fair", "Riverside Books", "$9.99"),
        ("The Secret Garden", "Riverside Books", "$5.49"),
    }
    # Signed by remote_project, verified by example_project's federation endpoint.
    assert any(
        '"POST /federation/objects/library/book/batch/ HTTP/1.1" 200' in line
        for line in shared_demo.log_of("example_project")
    )


def test_a_shelf_refuses_books_that_do_not_exist(shared_demo: DemoRun) -> None:
    alice = shelf_url(shared_demo, "Alice's shelf")
    session = requests.Session()
    before = {row.ref for row in rows(get(alice, session).text, "entry")}
    for value, error in [
        ("shop_b:999", "Cannot add that book: Hilltop Books has no book 999"),
        ("shop_x:1", "Cannot add that book: unknown shop &#x27;shop_x&#x27;"),
        ("shop_a:abc", "Cannot add that book: no book &#x27;abc&#x27; in this shop"),
    ]:
        response = session.post(
            f"{alice}add/",
            data={"book": value, "csrfmiddlewaretoken": csrf_token(session)},
            headers={"Referer": alice},
            timeout=15,
        )
        assert response.status_code == 200
        assert error in response.text
        assert {row.ref for row in rows(response.text, "entry")} == before


def test_deleting_a_book_in_the_remote_admin_removes_it_from_shelves_then_peer_stops(
    demo_run: DemoRun,
) -> None:
    alice = shelf_url(demo_run, "Alice's shelf")
    before = {row.ref for row in rows(get(alice).text, "entry")}
    assert {"shop_b:1", "shop_b:2"} <= before

    # Delete Hilltop's book 2 ("Emma") through remote_project's admin, as a person would.
    session = admin_session(demo_run.url_b(""))
    delete_url = demo_run.url_b("/admin/library/book/2/delete/")
    confirm = session.get(delete_url, timeout=15)
    assert confirm.status_code == 200 and "Emma" in confirm.text
    response = session.post(
        delete_url,
        data={"post": "yes", "csrfmiddlewaretoken": csrf_token(session)},
        headers={"Referer": delete_url},
        timeout=15,
    )
    assert response.status_code == 200 and response.url.endswith("/admin/library/book/")

    # The outbox event reaches example_project, whose CASCADE deletes the shelf row.
    wait_until(
        lambda: "shop_b:2" not in {row.ref for row in rows(get(alice).text, "entry")},
        30,
        lambda: f"the deleted book is still on Alice's shelf:\n{demo_run.output()}",
    )
    after = {row.ref for row in rows(get(alice).text, "entry")}
    assert after == before - {"shop_b:2"}
    demo_run.wait_for_line('"POST /federation/events/ HTTP/1.1" 200')
    assert get(demo_run.url_a("/books/shop_b/2/")).status_code == 404
    assert "shop_b:2" not in {row.ref for row in books_page(demo_run)}

    # The other way: deleting "Vanity Fair" in example_project's admin drops remote_project's
    # staff pick of it (its receiver of the deletion event).
    remote_picks = demo_run.url_b("/admin/library/recommendation/")
    assert "4 recommendations" in session.get(remote_picks, timeout=15).text
    vanity = next(row for row in books_page(demo_run) if row.cells[0] == "Vanity Fair")
    local_admin = admin_session(demo_run.url_a(""))
    delete_url = demo_run.url_a(f"/admin/library/book/{vanity.ref.split(':')[1]}/delete/")
    local_admin.get(delete_url, timeout=15)
    response = local_admin.post(
        delete_url,
        data={"post": "yes", "csrfmiddlewaretoken": csrf_token(local_admin)},
        headers={"Referer": delete_url},
        timeout=15,
    )
    assert response.status_code == 200 and response.url.endswith("/admin/library/book/")
    wait_until(
        lambda: "3 recommendations" in session.get(remote_picks, timeout=15).text,
        30,
        lambda: f"remote_project kept its pick of the deleted book:\n{demo_run.output()}",
    )
    assert "Vanity Fair" not in get(demo_run.url_b("/")).text
    assert "The Secret Garden" in get(demo_run.url_b("/")).text

    # Stop remote_project alone: example_project still renders, its books marked unavailable.
    os.kill(demo_run.server_pid("remote_project"), signal.SIGTERM)
    demo_run.wait_for_line("remote_project stopped")
    books = books_page(demo_run)
    remote = [row for row in books if row.project == "shop_b"]
    local = [row for row in books if row.project == "shop_a"]
    assert len(remote) == REMOTE_BOOKS - 1
    assert not any(row.available for row in remote)
    assert all("unavailable" in row.cells[0] for row in remote)
    assert len(local) == LOCAL_BOOKS - 1 and all(row.available for row in local)
    page = get(demo_run.url_a("/books/")).text
    assert f"{REMOTE_BOOKS - 1} books" in page and "cannot be reached" in page

    shelf = rows(get(alice).text, "entry")
    assert [row.available for row in shelf if row.project == "shop_b"] == [False]
    assert all(row.available for row in shelf if row.project == "shop_a")
    remote_book = get(demo_run.url_a("/books/shop_b/1/"))
    assert remote_book.status_code == 200 and "cannot be reached" in remote_book.text
    assert "Alice&#x27;s shelf" in remote_book.text  # the shelves are local: still shown


def test_ctrl_c_stops_both_servers_a_rerun_keeps_the_data_and_reset_starts_afresh(
    demo_run: DemoRun,
) -> None:
    alice = shelf_url(demo_run, "Alice's shelf")
    remove = re.search(
        r'action="(/shelves/\d+/remove/\d+/)"', get(alice).text
    )
    assert remove, "Alice's shelf has no book to remove"
    session = requests.Session()
    get(alice, session)
    response = session.post(
        demo_run.url_a(remove.group(1)),
        data={"csrfmiddlewaretoken": csrf_token(session)},
        headers={"Referer": alice},
        timeout=15,
    )
    assert response.status_code == 200 and "Removed" in response.text
    entries = {row.ref for row in rows(get(alice).text, "entry")}
    pids = [demo_run.server_pid(name) for name in ("example_project", "remote_project")]

    status = demo_run.interrupt()

    assert status == 0, demo_run.output()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        get(demo_run.url_a("/books/"))
    assert not list(demo_run.data_dir.glob("*.pid"))

    # Run again on the same data: nothing is seeded again, the removal is still there.
    demo_run.stop()
    demo_run.start()  # on new ports
    alice = shelf_url(demo_run, "Alice's shelf")
    assert any("catalogue already seeded" in line for line in demo_run.log_of("example_project"))
    assert any("catalogue already seeded" in line for line in demo_run.log_of("remote_project"))
    assert {row.ref for row in rows(get(alice).text, "entry")} == entries

    # --reset: both databases start afresh.
    demo_run.stop()
    demo_run.start("--reset")
    alice = shelf_url(demo_run, "Alice's shelf")
    assert any("seeded 31 books" in line for line in demo_run.log_of("example_project"))
    assert any("seeded 32 books" in line for line in demo_run.log_of("remote_project"))
    assert len({row.ref for row in rows(get(alice).text, "entry")}) == len(entries) + 1


def test_api_lists_shelves_and_writes_reading_lists(shared_demo: DemoRun) -> None:
    shelves = get(shared_demo.url_a("/api/shelves/")).json()
    alice = next(shelf for shelf in shelves if shelf["name"] == "Alice's shelf")
    types = {item["type"] for item in alice["items"]}
    assert types == {"shop_a:library.book", "shop_b:library.book"}
    local = next(item for item in alice["items"] if item["type"] == "shop_a:library.book")
    assert set(local["object"]) == {"title", "author", "price"}
    remote_item = next(i for i in alice["items"] if i["type"] == "shop_b:library.book")
    assert remote_item["str"] and "title" in remote_item["object"]

    created = requests.post(
        shared_demo.url_a("/api/reading-lists/"),
        json={"name": "API list", "books": [
            {"type": "shop_a:library.book", "id": local["id"]},
            {"type": "shop_b:library.book", "id": remote_item["id"]},
        ]},
        timeout=15,
    )
    assert created.status_code == 201, created.text
    assert [book["str"] for book in created.json()["books"]] == [
        local["str"], remote_item["str"],
    ]
    refused = requests.post(
        shared_demo.url_a("/api/reading-lists/"),
        json={"name": "bad", "books": [{"type": "shop_z:library.book", "id": "1"}]},
        timeout=15,
    )
    assert refused.status_code == 400
    assert refused.json() == {"books": {"0": ["'shop_z' is not a configured peer."]}}
