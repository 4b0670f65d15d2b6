"""The deletion outbox (sending) and ``receive_events`` (receiving), with fake peers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from federated_relations import events, resolver
from federated_relations.exceptions import PeerUnavailable, RemoteObjectDoesNotExist
from federated_relations.models import GenericContentType, OutboxEvent, ReceivedEvent
from federated_relations.signals import remote_deleted
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.library_app.models import Book, Ledger

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers


@pytest.fixture
def exposing(settings, fake_peers, monkeypatch):
    """This server exposes library_app.Book to shop_b and shop_c; delivery is inline."""
    settings.FEDERATION = {
        **settings.FEDERATION,
        "EXPOSE": {"library_app.Book": ["title", "price"]},
    }
    monkeypatch.setattr(events, "DELIVER_IN_BACKGROUND", False)
    return fake_peers


def make_book(title: str = "Dune") -> Book:
    return Book.objects.create(title=title, price=Decimal("9.50"))


def test_deleting_an_exposed_object_records_one_event_per_peer(exposing):
    book = make_book()
    pk = book.pk
    book.delete()
    rows = list(OutboxEvent.objects.order_by("peer"))
    assert [row.peer for row in rows] == ["shop_b", "shop_c"]
    assert len({row.event_id for row in rows}) == 1
    assert rows[0].as_event() == {
        "id": str(rows[0].event_id), "type": "deleted",
        "app_label": "library_app", "model": "book", "pk": str(pk),
    }
    assert all(row.delivered_at is None for row in rows)  # not committed yet (TestCase)


def test_the_outbox_shares_the_deleting_transaction(exposing):
    book = make_book()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Book.objects.filter(pk=book.pk).delete()
            assert OutboxEvent.objects.count() == 2
            raise RuntimeError("roll back")
    assert OutboxEvent.objects.count() == 0
    assert Book.objects.filter(pk=book.pk).exists()


def test_queryset_delete_records_every_object_and_other_models_none(exposing):
    for title in ("A", "B", "C"):
        make_book(title)
    Ledger.objects.create(amount=1).delete()
    Book.objects.all().delete()
    assert OutboxEvent.objects.count() == 6
    assert set(OutboxEvent.objects.values_list("model", flat=True)) == {"book"}


def test_no_peers_no_events(settings, monkeypatch):
    settings.FEDERATION = {"PROJECT_NAME": "local_project", "EXPOSE": {"library_app.Book": []}}
    make_book().delete()
    assert OutboxEvent.objects.count() == 0


def test_events_are_delivered_after_commit(exposing, django_capture_on_commit_callbacks):
    with assert_num_requests(2):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            make_book("A").delete()
            make_book("B").delete()
    assert len(callbacks) == 1  # one delivery per transaction, however many deletions
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0
    sent_b = exposing["shop_b"].events
    assert len(sent_b) == 2 and {event["type"] for event in sent_b} == {"deleted"}
    sent_c = exposing["shop_c"].events
    assert [event["id"] for event in sent_b] == [event["id"] for event in sent_c]


def test_a_failing_peer_never_blocks_the_deletion(exposing, django_capture_on_commit_callbacks):
    exposing["shop_c"].error = PeerUnavailable("refused")
    book = make_book()
    with django_capture_on_commit_callbacks(execute=True):
        book.delete()
    assert not Book.objects.filter(pk=book.pk).exists()
    delivered = OutboxEvent.objects.get(peer="shop_b")
    pending = OutboxEvent.objects.get(peer="shop_c")
    assert delivered.delivered_at is not None
    assert pending.delivered_at is None and pending.attempts == 1
    assert "PeerUnavailable" in pending.last_error
    assert pending.next_attempt_at > timezone.now()

    # Not due yet: nothing is sent; once due (or forced) it is delivered, once.
    with assert_num_requests(0):
        assert events.deliver_pending().delivered_count == 0
    exposing["shop_c"].error = None
    out = StringIO()
    with assert_num_requests(1, peer="shop_c"):
        call_command("federation_deliver", "--all", stdout=out)
    assert "1 event(s) delivered" in out.getvalue()
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0
    with assert_num_requests(0):
        call_command("federation_deliver", "--all", stdout=StringIO())


def test_federation_deliver_prunes_delivered_events(exposing):
    make_book().delete()
    OutboxEvent.objects.update(delivered_at=timezone.now() - timedelta(days=40))
    out = StringIO()
    call_command("federation_deliver", "--prune-days", "30", stdout=out)
    assert OutboxEvent.objects.count() == 0
    assert "pruned 2" in out.getvalue()


def test_events_for_unconfigured_peers_stay_pending(exposing, settings):
    make_book().delete()
    only_b = {"shop_b": fakes.PEERS_SETTING["shop_b"]}
    settings.FEDERATION = {**settings.FEDERATION, "PEERS": only_b}
    report = events.deliver_pending()
    assert dict(report.delivered).keys() == {"shop_b"}
    assert OutboxEvent.objects.filter(peer="shop_c", delivered_at__isnull=True).count() == 1


def deleted_event(pk: str = "7", event_id: str | None = None, model: str = "book") -> dict:
    return {
        "id": event_id or str(uuid.uuid4()), "type": "deleted",
        "app_label": "library", "model": model, "pk": pk,
    }


@pytest.fixture
def handled(monkeypatch):
    calls = []

    def handle_remote_deletion(content_type, pks, using="default"):
        calls.append((content_type.natural_key(), list(pks), using))

    monkeypatch.setattr(events, "_deletion_handler", lambda: handle_remote_deletion)
    return calls


def test_receiving_applies_each_event_once(fake_peers, handled):
    signalled = []

    def receiver(sender, pk, **kwargs):
        signalled.append((sender.natural_key(), pk))

    remote_deleted.connect(receiver)
    try:
        first = deleted_event("7")
        assert events.receive_events("shop_b", [first]) == [first["id"]]
        assert events.receive_events("shop_b", [first]) == [first["id"]]  # a retry
    finally:
        remote_deleted.disconnect(receiver)
    assert handled == [(("shop_b", "library", "book"), ["7"], "default")]
    assert signalled == [(("shop_b", "library", "book"), "7")]
    assert ReceivedEvent.objects.get().sender == "shop_b"
    # The cache now knows the object is gone: no request to find out.
    content_type = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
    with assert_num_requests(0):
        with pytest.raises(RemoteObjectDoesNotExist):
            resolver.get_object(content_type, pk="7")
    # The same id from another sender is another event.
    assert events.receive_events("shop_c", [first]) == [first["id"]]
    assert len(handled) == 2


def test_a_failing_handler_leaves_the_event_unaccepted(fake_peers, monkeypatch):
    calls = []

    def handler(content_type, pks, using="default"):
        calls.append(pks)
        if pks == ["2"]:
            raise RuntimeError("handler failed")

    monkeypatch.setattr(events, "_deletion_handler", lambda: handler)
    good, bad = deleted_event("1", model="author"), deleted_event("2")
    assert events.receive_events("shop_b", [good, bad]) == [good["id"]]
    assert list(ReceivedEvent.objects.values_list("object_pk", flat=True)) == ["1"]
    assert calls == [["1"], ["2"]]


def test_unknown_event_types_are_not_accepted(fake_peers, handled):
    event = {**deleted_event(), "type": "renamed"}
    assert events.receive_events("shop_b", [event]) == []
    assert handled == [] and ReceivedEvent.objects.count() == 0


def test_receiving_uses_the_many_to_many_handler_when_installed(fake_peers):
    from federated_relations import deletion

    assert events._deletion_handler() is deletion.handle_remote_deletion
    # No relation points at the object: nothing to do, and the event is accepted.
    event = deleted_event("99")
    assert events.receive_events("shop_b", [event]) == [event["id"]]


def test_deleting_through_a_proxy_records_the_exposed_model(exposing, settings):
    from tests.testapp.models import Mineral, ProxyMineral

    settings.FEDERATION = {**settings.FEDERATION, "EXPOSE": {"testapp.mineral": ["name"]}}
    mineral = Mineral.objects.create(name="quartz", hardness=7)
    ProxyMineral.objects.get(pk=mineral.pk).delete()
    assert {(row.app_label, row.model, row.object_pk) for row in OutboxEvent.objects.all()} == {
        ("testapp", "mineral", str(mineral.pk))
    }


def test_events_without_a_valid_id_are_skipped(fake_peers, handled):
    good = deleted_event("5")
    assert events.receive_events("shop_b", [{**good, "id": "nope"}, good]) == [good["id"]]
    assert len(handled) == 1


def test_background_delivery_retries_until_delivered_and_wakes_up(monkeypatch):
    import threading

    outcomes = iter([{"shop_b": "down"}, {"shop_b": "down"}, {}])
    calls = []
    second_batch = threading.Event()

    def fake_deliver(using, *, include_not_due=False):
        calls.append((using, include_not_due))
        if len(calls) == 2:
            second_batch.set()
        return events.DeliveryReport(failed=next(outcomes))

    monkeypatch.setattr(events, "_deliver_logged", fake_deliver)
    monkeypatch.setattr(events, "BACKGROUND_RETRY_DELAYS", (0.05, 30.0))
    background = events._BackgroundDelivery()
    background.start("default")
    assert second_batch.wait(5)  # failed, retried after 0.05 s, failed: now waits 30 s...
    background.start("default")  # ...but new events wake it up at once
    assert background.wait(5)
    assert calls == [("default", True)] * 3


def test_background_delivery_gives_up_after_the_last_delay(monkeypatch):
    calls = []

    def always_failing(using, *, include_not_due=False):
        calls.append(using)
        return None  # delivery raised

    monkeypatch.setattr(events, "_deliver_logged", always_failing)
    monkeypatch.setattr(events, "BACKGROUND_RETRY_DELAYS", (0.01, 0.01))
    background = events._BackgroundDelivery()
    background.start("default")
    assert background.wait(5)
    assert calls == ["default"] * 3
