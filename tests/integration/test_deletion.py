"""Deletion across servers, for real: delete on a peer -> outbox -> event -> local handlers."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from federated_relations import remote
from federated_relations.models import GenericContentType, ReceivedEvent
from federated_relations.remote import RemoteObjectMissing
from federated_relations.signals import deleting, remote_deleted
from federated_relations.test import assert_num_requests
from tests.m2m_app.models import Owner
from tests.testapp.models import TaggedItem

pytestmark = pytest.mark.integration

HANDLED_FIELDS = ("cascade", "do_nothing", "signal", "veto", "notify")


@pytest.fixture
def recorded_signals():
    """Record ``deleting`` (vetoing for the ``veto`` field) and ``remote_deleted``."""
    seen: dict[str, list] = {"deleting": [], "remote_deleted": []}

    def on_deleting(sender, del_objs, rel_objs, **kwargs):
        seen["deleting"].append((sender.name, list(del_objs), len(list(rel_objs))))
        return sender.name == "veto"

    def on_remote_deleted(sender, pk, **kwargs):
        seen["remote_deleted"].append((sender.natural_key(), pk))

    deleting.connect(on_deleting, weak=False, dispatch_uid="it-deleting")
    remote_deleted.connect(on_remote_deleted, weak=False, dispatch_uid="it-remote-deleted")
    yield seen
    deleting.disconnect(dispatch_uid="it-deleting")
    remote_deleted.disconnect(dispatch_uid="it-remote-deleted")


def owner_of(book) -> Owner:
    owner = Owner.objects.create(name="owner")
    for name in HANDLED_FIELDS:
        getattr(owner, name).add(book)
    return owner


def test_a_deletion_on_the_peer_applies_each_local_handler(federation, recorded_signals):
    shop_a = federation["shop_a"]
    (pk,) = shop_a.create("library_app.Book", {"title": "Doomed", "price": "1.00"})
    book = remote("shop_a", "library_app.Book", pk)
    owner = owner_of(book)
    tagged = TaggedItem.objects.create(tag="t", content_object=book)

    result = shop_a.delete("library_app.Book", pk)
    assert result == {"deleted": 1, "delivery_finished": True, "pending": 0}

    counts = {name: getattr(owner, name).count() for name in HANDLED_FIELDS}
    assert counts == {"cascade": 0, "do_nothing": 1, "signal": 0, "veto": 1, "notify": 1}
    signalled = {name: (objs, rows) for name, objs, rows in recorded_signals["deleting"]}
    assert set(signalled) == {"signal", "veto", "notify"}
    assert signalled["signal"] == ([book], 1)
    assert recorded_signals["remote_deleted"] == [(("shop_a", "library_app", "book"), pk)]
    event = ReceivedEvent.objects.get()
    assert (event.sender, event.app_label, event.model, event.object_pk) == (
        "shop_a", "library_app", "book", pk,
    )
    # The referencing FFK row is kept (no on_delete, as GenericForeignKey) and the
    # cache knows the object is gone: reading it costs no request.
    with assert_num_requests(0):
        target = TaggedItem.objects.get(pk=tagged.pk).content_object
        with pytest.raises(RemoteObjectMissing):
            target.title  # noqa: B018


def test_undelivered_events_are_retried_until_delivered(federation, settings):
    shop_a = federation["shop_a"]
    (pk,) = shop_a.create("library_app.Book", {"title": "Retry", "price": "1.00"})
    owner = Owner.objects.create(name="owner")
    owner.cascade.add(remote("shop_a", "library_app.Book", pk))

    # We refuse shop_a's signature for a while: its deletion stays in its outbox.
    good = settings.FEDERATION
    peers = {**good["PEERS"], "shop_a": {**good["PEERS"]["shop_a"], "KEY": "rotated"}}
    settings.FEDERATION = {**good, "PEERS": peers}
    result = shop_a.delete("library_app.Book", pk)
    assert result["deleted"] == 1 and result["pending"] == 1
    assert owner.cascade.count() == 1 and ReceivedEvent.objects.count() == 0

    settings.FEDERATION = good
    rows = shop_a.outbox(deliver=True)  # what `manage.py federation_deliver --all` does
    assert [row["delivered"] for row in rows if row["pk"] == pk] == [True]
    assert owner.cascade.count() == 0
    assert ReceivedEvent.objects.filter(sender="shop_a", object_pk=pk).count() == 1


def test_audit_reports_dangling_references_and_applies_the_policy(federation, seeded):
    existing = remote("shop_a", "library_app.Book", seeded["books_a"][0])
    gone = remote("shop_a", "library_app.Book", 987654)
    owner = Owner.objects.create(name="owner")
    owner.cascade.add(existing, gone)
    owner.do_nothing.add(gone)
    TaggedItem.objects.create(tag="t", content_object=gone)

    out = StringIO()
    call_command("federation_audit", stdout=out)
    report = out.getvalue()
    assert "Scanned testapp.TaggedItem.content_object: 1 reference(s)" in report
    assert "shop_a library_app.book: checked 1/2" not in report  # one chunk, all at once
    assert "checked 2/2" in report
    assert report.count("DANGLING") == 3
    assert "pk=987654" in report and f"pk={seeded['books_a'][0]}" not in report
    assert owner.cascade.count() == 2  # reporting changes nothing

    out = StringIO()
    call_command("federation_audit", "--apply", stdout=out)
    assert [obj.pk for obj in owner.cascade.all()] == [existing.pk]
    assert owner.do_nothing.count() == 1  # DO_NOTHING keeps it
    assert TaggedItem.objects.filter(object_id="987654").count() == 1
    assert "reported, not changed" in out.getvalue()
    assert GenericContentType.objects.filter(project="shop_a").exists()
