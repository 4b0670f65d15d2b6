"""The admin's search boxes of federated fields (``FederatedAdminMixin``), against a real peer.

The peer ``shop_b`` is a server process of its own (``tests.integration.servers``) that
exposes ``library_app.Book`` with a searchable title; ``shop_down`` is a port nothing
listens on, and ``shop_slow`` accepts connections and never answers. This process edits
``admin_app.Wishlist`` (a ``FederatedManyToManyField``) and ``admin_app.Media`` (a
``FederatedForeignKey``) on an admin site of this module.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path

from federated_relations import remote
from federated_relations.admin import FederatedAdminMixin
from federated_relations.client import get_client, reset_clients
from federated_relations.exceptions import ProtocolError
from federated_relations.models import GenericContentType
from federated_relations.test import assert_num_requests
from tests.admin_app.models import Gadget, Media, Wishlist
from tests.integration.servers import PeerServer, free_port, migrate_template
from tests.library_app.models import Book
from through_models.models import Shelf, ShelfEntry

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

KEY = "autocomplete-secret"
LOCAL = "local_project"


class GadgetAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class BookAdmin(admin.ModelAdmin):
    """No search_fields: the box never searches local books."""


class WishlistAdmin(FederatedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "items")
    federated_autocomplete_fields = {
        "items": {"remote_models": ["library_app.Book"],
                  "peers": ["shop_b", "shop_down", "shop_slow"]},
    }
    federated_autocomplete_page_size = 2


class MediaAdmin(FederatedAdminMixin, admin.ModelAdmin):
    list_display = ("url", "content_object")
    federated_autocomplete_fields = {
        "content_object": {"models": [Gadget, Book], "remote_models": ["library_app.Book"],
                           "peers": ["shop_b"]},
    }


class ShelfEntryAdmin(FederatedAdminMixin, admin.ModelAdmin):
    federated_autocomplete_fields = {"item": {"models": [Gadget]}}


site = admin.AdminSite(name="fr_autocomplete")
site.register(Gadget, GadgetAdmin)
site.register(Book, BookAdmin)
site.register(Wishlist, WishlistAdmin)
site.register(Media, MediaAdmin)
site.register(ShelfEntry, ShelfEntryAdmin)
urlpatterns = [path("admin/", site.urls)]

SEARCH_URL = "/admin/admin_app/wishlist/federated-autocomplete/"
WISHLIST = {"app_label": "admin_app", "model_name": "wishlist", "field_name": "items"}


@pytest.fixture(scope="module")
def shop_b(django_db_blocker: Any) -> Iterator[PeerServer]:
    """Start the peer shop_b with a few books; always stop it."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-autocomplete-"))
    server = PeerServer("shop_b", workdir, {
        "PROJECT_NAME": "shop_b",
        "PEERS": {LOCAL: {"URL": "http://127.0.0.1:9/federation/", "KEY": KEY}},
        "EXPOSE": {
            "library_app.Book": {"fields": ["title"], "search": ["title"]},
            "library_app.Author": ["name"],
        },
        "CACHE_TTL": 0,
    })
    try:
        shutil.copyfile(migrate_template(workdir), server.db)
        server.start()
        server.wait_ready()
        titles = ["Dune", "Dune Messiah", "Children of Dune", "Emma"]
        server.pks = dict(zip(titles, server.create(
            "library_app.Book", *({"title": title, "price": "1.00"} for title in titles)
        )))
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def slow_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def federation(shop_b: PeerServer, slow_port: int, settings: Any) -> Iterator[None]:
    settings.FEDERATION = {
        "PROJECT_NAME": LOCAL,
        "PEERS": {
            "shop_b": {"URL": shop_b.url, "KEY": KEY},
            "shop_down": {"URL": f"http://127.0.0.1:{free_port()}/federation/", "KEY": "k"},
            "shop_slow": {"URL": f"http://127.0.0.1:{slow_port}/federation/", "KEY": "k"},
        },
        "TIMEOUT": 0.5,
        "CACHE_TTL": 300,
    }
    settings.STATIC_URL = "/static/"
    reset_clients()
    cache.clear()
    yield
    reset_clients()
    cache.clear()


@pytest.fixture
def superuser_client(client: Any) -> Any:
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def search(client: Any, term: str, **params: Any) -> dict[str, Any]:
    response = client.get(SEARCH_URL, {**WISHLIST, "term": term, **params})
    assert response.status_code == 200, response.content
    return response.json()


def texts(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(hit["text"], hit["badge"]) for hit in results]


def value(obj: Any) -> str:
    content_type = getattr(obj, "content_type", None) or GenericContentType.objects.get_for_model(
        obj
    )
    return f"{content_type.pk}:{obj.pk}"


# -- the search view ------------------------------------------------------------------------


def test_search_finds_local_and_remote_hits_with_badges(superuser_client, shop_b):
    Gadget.objects.create(name="Dune buggy")
    Gadget.objects.create(name="Kettle")
    with assert_num_requests(1, peer="shop_b"):
        data = search(superuser_client, "dune")
    hits = [hit for hit in data["results"] if not hit.get("disabled")]
    assert texts(hits) == [
        ("Dune buggy", f"{LOCAL} · gadget"),
        ("Dune", "shop_b · book"),
        ("Dune Messiah", "shop_b · book"),
    ]
    book_type = GenericContentType.objects.get_for_remote("shop_b", "library_app", "book")
    assert hits[1]["id"] == f"{book_type.pk}:{shop_b.pks['Dune']}"
    # The dead peer and the one that never answers: one disabled entry each.
    down = [hit for hit in data["results"] if hit.get("disabled")]
    assert sorted(hit["text"] for hit in down) == [
        "shop_down is unavailable", "shop_slow is unavailable"
    ]
    assert all(hit["unavailable"] and hit["badge"].endswith(" · book") for hit in down)


def test_every_word_must_match_and_hits_prime_the_cache(superuser_client, shop_b):
    data = search(superuser_client, "of dune")
    assert [hit["text"] for hit in data["results"] if not hit.get("disabled")] == [
        "Children of Dune"
    ]
    book = remote("shop_b", "library_app.Book", shop_b.pks["Children of Dune"])
    with assert_num_requests(0):
        assert str(book) == "Children of Dune"


def test_pages_through_every_source_with_the_cursor(superuser_client, shop_b):
    for n in range(3):
        Gadget.objects.create(name=f"Dune lamp {n}")
    first = search(superuser_client, "dune")
    hits = [hit for hit in first["results"] if not hit.get("disabled")]
    assert [hit["text"] for hit in hits] == ["Dune lamp 0", "Dune lamp 1", "Dune", "Dune Messiah"]
    assert first["pagination"] == {"more": True}
    second = search(superuser_client, "dune", page=2, cursor=first["cursor"])
    assert [hit["text"] for hit in second["results"]] == ["Dune lamp 2", "Children of Dune"]
    assert second["pagination"] == {"more": False} and second["cursor"] is None
    # A forged cursor, or one of another search, is refused.
    bad = superuser_client.get(SEARCH_URL, {**WISHLIST, "term": "dune", "page": 2,
                                            "cursor": first["cursor"] + "x"})
    assert bad.status_code == 400
    other = superuser_client.get(SEARCH_URL, {**WISHLIST, "term": "emma", "page": 2,
                                              "cursor": first["cursor"]})
    assert other.status_code == 400


def test_local_models_need_view_permission_and_search_fields(client, shop_b):
    Gadget.objects.create(name="Dune buggy")
    Book.objects.create(title="Dune (local)", price=1)
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    # Without a permission on the wishlist, no search at all.
    assert client.get(SEARCH_URL, {**WISHLIST, "term": "dune"}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="change_wishlist"))
    data = search(client, "dune")
    assert "Dune buggy" not in [hit["text"] for hit in data["results"]]  # no view_gadget
    assert "Dune" in [hit["text"] for hit in data["results"]]
    staff.user_permissions.add(Permission.objects.get(codename="view_gadget"))
    staff = User.objects.get(pk=staff.pk)  # forget the cached permissions
    client.force_login(staff)
    assert "Dune buggy" in [hit["text"] for hit in search(client, "dune")["results"]]
    # Local books have an admin without search_fields: never searched, even for a superuser.
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    media = client.get("/admin/admin_app/media/federated-autocomplete/", {
        "app_label": "admin_app", "model_name": "media", "field_name": "content_object",
        "term": "dune",
    }).json()
    assert [(hit["text"], hit["badge"]) for hit in media["results"]] == [
        ("Dune buggy", f"{LOCAL} · gadget"),
        ("Dune", "shop_b · book"),
        ("Dune Messiah", "shop_b · book"),
        ("Children of Dune", "shop_b · book"),
    ]


def test_unknown_fields_and_anonymous_users_are_refused(client, superuser_client):
    assert superuser_client.get(SEARCH_URL, {**WISHLIST, "field_name": "name"}).status_code == 403
    assert superuser_client.get(SEARCH_URL, {"term": "x"}).status_code == 403
    client.logout()
    assert client.get(SEARCH_URL, {**WISHLIST, "term": "x"}).status_code == 302  # to login


# -- the peer's listing search -------------------------------------------------------------------


def test_the_listing_searches_only_types_that_allow_it(shop_b):
    peer = get_client("shop_b")
    page = peer.list("library_app", "book", search="DUNE", limit=2)
    assert [obj["str"] for obj in page["objects"]] == ["Dune", "Dune Messiah"]
    page = peer.list("library_app", "book", search="dune", limit=2, cursor=page["next"])
    assert [obj["str"] for obj in page["objects"]] == ["Children of Dune"]
    assert page["next"] is None
    with pytest.raises(ProtocolError) as error:
        peer.list("library_app", "author", search="x")
    assert error.value.code == "search_not_exposed"
    with pytest.raises(ProtocolError) as error:
        peer.list("library_app", "book", search="x" * 201)
    assert error.value.status == 400
    with pytest.raises(ProtocolError):
        peer.list("library_app", "book", search=" ".join("w" * 11))


# -- forms: the many-to-many field -----------------------------------------------------------


def test_the_change_form_shows_every_target_and_an_unchanged_save_changes_nothing(
    superuser_client, shop_b
):
    lamp, kettle = Gadget.objects.create(name="Lamp"), Gadget.objects.create(name="Kettle")
    wishlist = Wishlist.objects.create(name="ann")
    dune = remote("shop_b", "library_app.Book", shop_b.pks["Dune"])
    lost = remote("shop_down", "library_app.Book", 7)  # its peer is down: a placeholder
    wishlist.items.add(lamp, dune, lost)
    before = set(wishlist.items.through.objects.values_list("pk", flat=True))
    url = f"/admin/admin_app/wishlist/{wishlist.pk}/change/"
    page = superuser_client.get(url).content.decode()
    assert 'class="federated-autocomplete"' in page
    assert "federated_relations/js/autocomplete.js" in page
    assert f'data-badge="{LOCAL} · gadget"' in page and ">Lamp</option>" in page
    assert 'data-badge="shop_b · book"' in page and ">Dune</option>" in page
    assert 'data-badge="shop_down · book" data-unavailable="true"' in page

    values = [value(lamp), value(dune), value(lost)]
    # The targets are cached since the page was shown: shop_b is not asked again (only
    # shop_down, whose failures are never cached, is tried when the current targets load).
    with assert_num_requests(0, peer="shop_b"):
        response = superuser_client.post(url, {"name": "ann", "items": values})
    assert response.status_code == 302, response.content
    assert set(wishlist.items.through.objects.values_list("pk", flat=True)) == before

    # Remove the lamp, add the kettle and Emma: the unreachable book stays.
    emma = remote("shop_b", "library_app.Book", shop_b.pks["Emma"])
    response = superuser_client.post(url, {
        "name": "ann", "items": [value(dune), value(lost), value(kettle), value(emma)]
    })
    assert response.status_code == 302, response.content
    assert set(wishlist.items.all()) == {dune, lost, kettle, emma}


def test_new_targets_must_exist_and_be_offered(superuser_client, shop_b):
    wishlist = Wishlist.objects.create(name="ann")
    url = f"/admin/admin_app/wishlist/{wishlist.pk}/change/"
    book_type = GenericContentType.objects.get_for_remote("shop_b", "library_app", "book")
    other_type = GenericContentType.objects.get_for_remote("shop_b", "library_app", "author")
    for bad in [f"{book_type.pk}:999999", f"{other_type.pk}:1", "x", "999999:1"]:
        response = superuser_client.post(url, {"name": "ann", "items": [bad]})
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert list(wishlist.items.all()) == []


# -- forms: the foreign key ---------------------------------------------------------------------


def test_a_foreign_key_gets_one_box_instead_of_two_inputs(superuser_client, shop_b):
    page = superuser_client.get("/admin/admin_app/media/add/").content.decode()
    assert 'name="content_object"' in page
    assert 'name="content_type"' not in page and 'name="object_id"' not in page
    dune = remote("shop_b", "library_app.Book", shop_b.pks["Dune"])
    response = superuser_client.post("/admin/admin_app/media/add/", {
        "url": "http://example.com/dune.jpg", "description": "", "content_object": value(dune),
    })
    assert response.status_code == 302, response.content
    media = Media.objects.get()
    assert (media.content_type.project, media.object_id) == ("shop_b", shop_b.pks["Dune"])
    page = superuser_client.get(f"/admin/admin_app/media/{media.pk}/change/").content.decode()
    assert 'data-badge="shop_b · book"' in page and ">Dune</option>" in page
    lamp = Gadget.objects.create(name="Lamp")
    response = superuser_client.post(f"/admin/admin_app/media/{media.pk}/change/", {
        "url": media.url, "description": "", "content_object": value(lamp),
    })
    assert response.status_code == 302, response.content
    media.refresh_from_db()
    assert media.content_object == lamp


# -- the changelist ----------------------------------------------------------------------------


def _changelist(client: Any) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/admin_app/media/").content.decode()
    return page, len(queries)


def test_the_changelist_renders_targets_without_n_plus_one(superuser_client, shop_b):
    def add(count: int) -> None:
        for n in range(count):
            Media.objects.create(content_object=Gadget.objects.create(name=f"G{n}"), url=f"g{n}")
            book = remote("shop_b", "library_app.Book", shop_b.pks["Emma" if n % 2 else "Dune"])
            Media.objects.create(content_object=book, url=f"b{n}")

    add(1)
    cache.clear()
    with assert_num_requests(1, peer="shop_b"):
        page, few = _changelist(superuser_client)
    assert 'Dune <span class="federated-badge">shop_b · book</span>' in page
    add(4)
    cache.clear()
    with assert_num_requests(1, peer="shop_b"):
        page, many = _changelist(superuser_client)
    assert many == few
    assert 'Emma <span class="federated-badge">shop_b · book</span>' in page
    assert f'G3 <span class="federated-badge">{LOCAL} · gadget</span>' in page


def test_many_to_many_targets_in_the_changelist_and_the_admin_checks(superuser_client, shop_b):
    assert [error.id for error in site._registry[Wishlist].check()] == []
    assert [error.id for error in site._registry[Media].check()] == []
    lamp = Gadget.objects.create(name="Lamp")
    for n in range(3):
        wishlist = Wishlist.objects.create(name=f"w{n}")
        wishlist.items.add(lamp, remote("shop_b", "library_app.Book", shop_b.pks["Emma"]))
    cache.clear()
    with assert_num_requests(1, peer="shop_b"):
        page = superuser_client.get("/admin/admin_app/wishlist/").content.decode()
    assert page.count(
        f'Lamp <span class="federated-badge">{LOCAL} · gadget</span>, '
        'Emma <span class="federated-badge">shop_b · book</span>'
    ) == 3


def test_a_duplicate_target_is_a_form_error_not_an_integrity_error(superuser_client, shop_b):
    entries = site._registry[ShelfEntry]
    shelf = Shelf.objects.create(name="top")
    lamp = Gadget.objects.create(name="Lamp")
    ShelfEntry.objects.create(shelf=shelf, item=lamp)
    form_class = entries.get_form(None)
    form = form_class(data={"shelf": shelf.pk, "item": value(lamp), "reason": "",
                            "added_at_0": "2024-01-01", "added_at_1": "10:00"})
    assert not form.is_valid()
    assert "item" not in form.errors  # the value is valid; the row would be a duplicate
    assert form.non_field_errors()
