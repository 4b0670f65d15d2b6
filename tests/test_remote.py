"""``RemoteObject``, ``remote()``, ``RemoteModel`` and ``assert_num_requests`` (fake peers)."""

from __future__ import annotations

import copy
import pickle

import pytest

from federated_relations import RemoteModel, remote
from federated_relations.exceptions import PeerUnavailable, RemoteObjectDoesNotExist
from federated_relations.remote import RemoteObjectMissing
from federated_relations.test import assert_num_requests, capture_requests
from tests import fake_peers as fakes
from tests.testapp.models import TaggedItem

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers


@pytest.fixture
def books(fake_peers):
    peer = fake_peers["shop_b"]
    for pk, title in enumerate(["Dune", "Emma", "Ulysses", "Walden", "Beloved"], start=1):
        peer.add("library", "book", pk, title, title=title, price=f"{pk}.50", lang="en")
    peer.add("library", "book", 6, "Faust", title="Faust", price="6.50", lang="de")
    peer.add("library", "isbnbook", "978-3", "Isbn", title="Isbn")
    return peer


def test_remote_is_lazy_and_loads_once(books):
    with assert_num_requests(0):
        book = remote("shop_b", "library.Book", 3)
        assert book.pk == 3 and book.project == "shop_b"
        assert book.content_type.natural_key() == ("shop_b", "library", "book")
        assert repr(book) == "<RemoteObject: shop_b library.book 3>"
    with assert_num_requests(1):
        assert book.title == "Ulysses"
        assert book.price == "3.50"
        assert str(book) == "Ulysses"
        assert book.exposed_fields == {"title": "Ulysses", "price": "3.50", "lang": "en"}
        assert book.is_available


def test_pk_types_and_identity(books):
    assert remote("shop_b", "library.Book", "3").pk == 3
    assert remote("shop_b", "library.Book", "007").pk == "007"
    isbn = remote("shop_b", "library.IsbnBook", "978-3")
    assert isbn.pk == "978-3" and str(isbn) == "Isbn"
    a, b = remote("shop_b", "library.Book", 3), remote("shop_b", "library.Book", "3")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != remote("shop_c", "library.Book", 3)
    assert a != remote("shop_b", "library.Author", 3)
    assert a != 3


def test_unexposed_and_private_attributes(books):
    book = remote("shop_b", "library.Book", 1)
    with assert_num_requests(0):
        with pytest.raises(AttributeError):
            book._secret  # noqa: B018
        copy.copy(book)
        pickle.loads(pickle.dumps(book))
    with pytest.raises(AttributeError, match="no exposed field 'cost'"):
        book.cost  # noqa: B018
    assert "title" in dir(book)


def test_missing_object(books):
    ghost = remote("shop_b", "library.Book", 404)
    with pytest.raises(RemoteObjectMissing):
        ghost.title  # noqa: B018
    with pytest.raises(RemoteObjectDoesNotExist):
        RemoteModel("shop_b", "library.Book").get(404)
    assert ghost.is_available is False


def test_refresh_bypasses_the_cache(books):
    book = remote("shop_b", "library.Book", 1)
    assert book.title == "Dune"
    books.add("library", "book", 1, "Dune (2nd ed.)", title="Dune (2nd ed.)")
    with assert_num_requests(0):
        assert remote("shop_b", "library.Book", 1).title == "Dune"  # cached
    with assert_num_requests(1):
        book.refresh()
    assert book.title == "Dune (2nd ed.)" and str(book) == "Dune (2nd ed.)"
    with assert_num_requests(0):
        assert remote("shop_b", "library.Book", 1).title == "Dune (2nd ed.)"


def test_placeholder(fake_peers, books):
    books.error = PeerUnavailable("refused")
    book = remote("shop_b", "library.Book", 1)
    assert "unavailable" in str(book)
    assert book.is_available is False
    assert book.pk == 1
    with pytest.raises(AttributeError):
        book.title  # noqa: B018
    books.error = None
    book.refresh()
    assert book.is_available and book.title == "Dune"


def test_remote_model(books):
    Book = RemoteModel("shop_b", "library.Book")
    with assert_num_requests(1):
        assert Book.get(2).title == "Emma"
    with assert_num_requests(1):
        bulk = Book.in_bulk([3, "4", 404])
    assert sorted(bulk) == [3, 4] and bulk[4].title == "Walden"
    with assert_num_requests(3):  # pages of 2
        everything = list(Book.all())
    assert [b.pk for b in everything] == [1, 2, 3, 4, 5, 6]
    with assert_num_requests(0):  # the listing primed the cache
        assert Book.get(6).title == "Faust"
    assert [b.title for b in Book.filter(lang="de")] == ["Faust"]
    assert [b.pk for b in Book.all().filter(lang="en").filter(price="5.50")] == [5]
    with pytest.raises(ValueError):
        Book.filter(title__startswith="D")
    with pytest.raises(ValueError):
        RemoteModel("shop_b", "Book")
    with pytest.raises(ValueError):
        RemoteModel("local_project", "testapp.Animal").get(1)
    assert repr(Book) == "<RemoteModel: shop_b library.Book>"


def test_listing_raises_when_the_peer_fails(books):
    books.error = PeerUnavailable("refused")
    with pytest.raises(PeerUnavailable):
        list(RemoteModel("shop_b", "library.Book").all())


def test_assignment_to_a_federated_foreign_key(books):
    book = remote("shop_b", "library.Book", 5)
    item = TaggedItem.objects.create(tag="x", content_object=book)
    item = TaggedItem.objects.get(pk=item.pk)
    assert item.object_id == "5" and item.content_type == book.content_type
    assert item.content_object == book
    assert str(item.content_object) == "Beloved"


def test_assert_num_requests_fails_on_a_wrong_count(books):
    with pytest.raises(AssertionError, match="1 requests were sent to peer 'shop_b', expected 2"):
        with assert_num_requests(2, peer="shop_b"):
            remote("shop_b", "library.Book", 1).title  # noqa: B018
    with capture_requests() as log:
        remote("shop_b", "library.Book", 2).title  # noqa: B018
    assert [(r.peer, r.method) for r in log.requests] == [("shop_b", "POST")]
