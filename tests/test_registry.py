"""Tests of ``federated_relations.registry``: what ``EXPOSE`` lets peers read."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from federated_relations import registry
from tests.library_app.models import Author, Book, Ledger, Pamphlet, Shelf

EXPOSE = {
    "library_app.Book": ["title", "price", "published", "author"],
    "library_app.Pamphlet": ["title"],
    "library_app.Shelf": ["label"],
}


@pytest.fixture(autouse=True)
def exposed():
    with override_settings(FEDERATION={"PROJECT_NAME": "shop_b", "EXPOSE": EXPOSE}):
        yield


def test_exposed_types_are_sorted_with_their_fields():
    types = registry.exposed_types()
    assert [t.label for t in types] == ["library_app.book", "library_app.pamphlet",
                                         "library_app.shelf"]
    assert types[0].field_names == ("title", "price", "published", "author")
    assert types[0].model is Book


def test_lookup_by_app_label_and_lower_case_model_name():
    book = registry.get_exposed_type("library_app", "book")
    assert book is not None and book.model is Book
    assert book.get_field("price").name == "price"
    assert book.get_field("secret_note") is None
    assert registry.get_exposed_type("library_app", "ledger") is None
    assert registry.get_exposed_type("library_app", "Book") is None
    assert registry.get_exposed_type("nowhere", "book") is None


def test_registry_follows_setting_changes():
    assert registry.get_exposed_type("library_app", "author") is None
    with override_settings(FEDERATION={"PROJECT_NAME": "shop_b",
                                       "EXPOSE": {"library_app.Author": ["name"]}}):
        assert registry.get_exposed_type("library_app", "author").model is Author
        assert registry.get_exposed_type("library_app", "book") is None
    assert registry.get_exposed_type("library_app", "book") is not None


@pytest.mark.parametrize(
    ("expose", "message"),
    [
        ({"library_app.Nothing": ["x"]}, "not an installed model"),
        ({"library_app.Book": ["nothing"]}, "not a field"),
    ],
)
def test_bad_expose_is_improperly_configured(expose, message):
    with override_settings(FEDERATION={"PROJECT_NAME": "shop_b", "EXPOSE": expose}):
        with pytest.raises(ImproperlyConfigured, match=message):
            registry.exposed_types()


@pytest.mark.django_db
def test_serialize_only_exposed_fields():
    author = Author.objects.create(name="Frank Herbert")
    book = Book.objects.create(title="Dune", price=Decimal("9.50"), author=author,
                               published=datetime.date(1965, 8, 1), secret_note="secret")
    data = registry.serialize(book)
    assert data == {
        "pk": book.pk,
        "str": "Dune",
        "fields": {"title": "Dune", "price": "9.50", "published": "1965-08-01",
                   "author": author.pk},
    }
    json.dumps(data)  # plain JSON, no encoder needed


@pytest.mark.django_db
def test_serialize_string_and_uuid_pks():
    pamphlet = Pamphlet.objects.create(title="Common Sense")
    assert registry.serialize(pamphlet)["pk"] == str(pamphlet.pk)
    shelf = Shelf.objects.create(code="A-1", label="Fiction")
    assert registry.serialize(shelf) == {"pk": "A-1", "str": "Fiction",
                                         "fields": {"label": "Fiction"}}


@pytest.mark.django_db
def test_serialize_unexposed_model_raises():
    with pytest.raises(LookupError):
        registry.serialize(Ledger.objects.create(amount=1))


def test_json_safe():
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    value = registry.json_safe({
        "d": Decimal("1.10"), "t": moment, "u": uuid.UUID(int=1), "b": b"\x00\x01",
        "l": (1, 2.5, None, True), "nan": float("nan"), "inf": float("-inf"),
        "other": object,
    })
    assert value["d"] == "1.10" and value["t"] == "2024-01-02T03:04:05Z"
    assert value["u"] == "00000000-0000-0000-0000-000000000001"
    assert value["b"] == "AAE=" and value["l"] == [1, 2.5, None, True]
    assert value["nan"] == "NaN" and value["inf"] == "-Infinity"
    assert isinstance(value["other"], str)
    json.dumps(value, allow_nan=False)
