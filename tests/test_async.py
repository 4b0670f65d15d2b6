"""The async twins of the managers' writers and of ``RemoteModel``, from an async view.

The view runs under Django's ASGI handler (``AsyncClient``), as under an ASGI server.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.http import JsonResponse
from django.test import AsyncClient, override_settings
from django.urls import path

from federated_relations import RemoteModel, remote
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.admin_app.models import Gadget, Wishlist

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers


async def names(manager) -> list[str]:
    return sorted([str(obj) async for obj in manager.all()])


async def items_view(request, pk):
    """Edit a wishlist's items and a gadget's wishlists with the async methods only."""
    wishlist = await Wishlist.objects.aget(pk=pk)
    phone = await Gadget.objects.acreate(name="phone")
    radio = await Gadget.objects.acreate(name="radio")
    # remote() may create the peer's type row: a database write, so sync_to_async.
    book = await sync_to_async(remote)("shop_b", "library.Book", 7)
    steps = {}
    await wishlist.items.aadd(phone, radio, book)
    steps["added"] = await sync_to_async(lambda: sorted(map(str, wishlist.items.all())))()
    await wishlist.items.aremove(radio)
    steps["removed"] = await sync_to_async(lambda: sorted(map(str, wishlist.items.all())))()
    await wishlist.items.aset([radio])
    steps["set"] = await sync_to_async(lambda: sorted(map(str, wishlist.items.all())))()
    await wishlist.items.aclear()
    steps["cleared"] = await wishlist.items.acount()
    # The reverse managers: a gadget's and a remote book's wishlists.
    created = await radio.wishlist_set.acreate(name="made from the gadget")
    found, was_created = await radio.wishlist_set.aget_or_create(name="made from the gadget")
    steps["reverse"] = [created.pk == found.pk, was_created, await names(radio.wishlist_set)]
    await book.wishlist_set.aadd(wishlist)
    steps["remote_reverse"] = await names(book.wishlist_set)
    await book.wishlist_set.aremove(wishlist)
    await radio.wishlist_set.aclear()
    steps["reverse_cleared"] = await radio.wishlist_set.acount()
    books = RemoteModel("shop_b", "library.Book")
    steps["aget"] = str(await books.aget(7))
    steps["ain_bulk"] = sorted(str(obj) for obj in (await books.ain_bulk([7, 8, 404])).values())
    return JsonResponse(steps)


urlpatterns = [path("wishlists/<int:pk>/items/", items_view)]


@override_settings(ROOT_URLCONF=__name__)
def test_async_view_edits_both_sides_local_and_remote(fake_peers):
    shop_b = fake_peers["shop_b"]
    shop_b.add("library", "book", 7, "Cranford", title="Cranford")
    shop_b.add("library", "book", 8, "Emma", title="Emma")
    wishlist = Wishlist.objects.create(name="ann")
    # The peer's discovery (aadd checks that it exposes books), book 7 once (then cached:
    # aget reads the cache), then 8 and 404 in one batch.
    with assert_num_requests(3, peer="shop_b"):
        answer = async_to_sync(AsyncClient().get)(f"/wishlists/{wishlist.pk}/items/")
    assert answer.status_code == 200, answer.content
    assert json.loads(answer.content) == {
        "added": ["Cranford", "phone", "radio"],
        "removed": ["Cranford", "phone"],
        "set": ["radio"],
        "cleared": 0,
        "reverse": [True, False, ["made from the gadget"]],
        "remote_reverse": ["ann"],
        "reverse_cleared": 0,
        "aget": "Cranford",
        "ain_bulk": ["Cranford", "Emma"],
    }
    assert not Wishlist.items.through.objects.exists()
