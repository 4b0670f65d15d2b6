"""Batches above psycopg's cached-parameter count, per pk type (``= ANY`` on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federated_relations.registry import get_exposed_type, serialize
from federated_relations.views import _parse_pk, _parse_pks
from tests.library_app.models import Book, Pamphlet, Shelf
from tests.test_views import call, server  # noqa: F401 - server: the fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("server")]


@pytest.mark.parametrize("model, make, name", [
    (Book, lambda n: Book(title=f"b{n}", price=n), "book"),
    (Pamphlet, lambda n: Pamphlet(title=f"p{n}"), "pamphlet"),
    (Shelf, lambda n: Shelf(code=f"S-{n}", label=f"s{n}"), "shelf"),
])
def test_large_batch_answers_every_pk_once(model, make, name):
    objects = model.objects.bulk_create(make(n) for n in range(120))
    asked = [str(obj.pk) for obj in objects][::-1]
    missing = ["999999999" if model is Book else str(uuid.uuid4()) if model is Pamphlet
               else "S-1" + "x" * 30, "01" if model is Book else "x"]
    with CaptureQueriesContext(connection) as queries:
        response = call("POST", f"objects/library_app/{name}/batch/", {"pks": asked + missing})
    data = response.json()
    assert data["objects"] == [serialize(model._base_manager.get(pk=pk)) for pk in asked]
    assert data["missing"] == missing
    select = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert len(select) == 1
    if connection.vendor == "postgresql":
        assert "= ANY(" in select[0]


def test_integer_pks_parse_as_one_at_a_time():
    """The one-pass integer parsing keeps exactly the strings ``_parse_pk`` keeps."""
    exposed = get_exposed_type("library_app", "book")
    texts = ["1", "42", "-7", "0", "01", "+1", " 1", "1 ", "1_000", "１２", "1.0", "x",
             "\x00", "1\x00", "\ud800", "2147483647", "2147483648", "-2147483648",
             "-2147483649", "9" * 30, "9223372036854775808"]
    expected = {text: value for text in texts
                if (value := _parse_pk(exposed, text)) is not None}
    assert _parse_pks(exposed, texts) == expected
    for text in texts:
        assert _parse_pks(exposed, [text]) == {t: v for t, v in expected.items() if t == text}
