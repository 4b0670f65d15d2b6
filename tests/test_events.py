"""The deletion outbox (sending) and ``receive_events`` (receiving), with fake peers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from federated_relations import events, outbox, resolver
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
        assert outbox.deliver_pending().delivered_count == 0
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
    report = outbox.deliver_pending()
    assert dict(report.delivered).keys() == {"shop_b"}
    assert OutboxEvent.objects.filter(peer="shop_c", delivered_at__isnull=True).count() == 1


def deleted_event(pk: str = "7", event_id: str | None = None, model: str = "book") -> dict:
    return {
        "id": event_id or str(uuid.uuid4()), "type": "deleted",
        "app_label": "library", "model": model, "pk": pk,
    }


@pytest.fixture
def handled(monkeypatch):
    # The types the events name are known here (references to them would create them).
    for project in ("shop_b", "shop_c"):
        for model in ("book", "author"):
            GenericContentType.objects.get_for_remote(project, "library", model)
    calls = []

    def handle_remote_deletion(content_type, pks, using="default"):
        calls.append((content_type.natural_key(), list(pks), using))

    monkeypatch.setattr(events, "handle_remote_deletion", handle_remote_deletion)
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
    for model in ("book", "author"):
        GenericContentType.objects.get_for_remote("shop_b", "library", model)
    calls = []

    def handler(content_type, pks, using="default"):
        calls.append(pks)
        if pks == ["2"]:
            raise RuntimeError("handler failed")

    monkeypatch.setattr(events, "handle_remote_deletion", handler)
    good, bad = deleted_event("1", model="author"), deleted_event("2")
    assert events.receive_events("shop_b", [good, bad]) == [good["id"]]
    assert list(ReceivedEvent.objects.values_list("object_pk", flat=True)) == ["1"]
    assert calls == [["1"], ["2"]]


def test_unknown_event_types_are_not_accepted(fake_peers, handled):
    event = {**deleted_event(), "type": "renamed"}
    assert events.receive_events("shop_b", [event]) == []
    assert handled == [] and ReceivedEvent.objects.count() == 0


def test_receiving_applies_the_many_to_many_handler(fake_peers):
    from federated_relations import deletion

    assert events.handle_remote_deletion is deletion.handle_remote_deletion
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




# --- retries, dropping, flushing -------------------------------------------------------


def test_backoff_doubles_from_the_setting_up_to_its_cap(settings):
    settings.FEDERATION = {
        **settings.FEDERATION, "RETRY_BACKOFF": 0.5, "RETRY_BACKOFF_MAX": 3,
    }
    assert [outbox.backoff(n).total_seconds() for n in range(6)] == [0, 0.5, 1, 2, 3, 3]
    assert outbox.backoff(10_000).total_seconds() == 3  # no overflow however many


@pytest.mark.parametrize(
    ("key", "value"),
    [("RETRY_BACKOFF", 0), ("RETRY_BACKOFF", "1"), ("RETRY_BACKOFF_MAX", -1),
     ("FLUSH_TIMEOUT", -1), ("FLUSH_TIMEOUT", True), ("RETRY_BACKOFF_MAX", 0.5)],
)
def test_delivery_settings_are_validated(settings, key, value):
    from django.core.exceptions import ImproperlyConfigured

    from federated_relations.conf import load_settings

    settings.FEDERATION = {"PROJECT_NAME": "p", key: value}
    with pytest.raises(ImproperlyConfigured, match=key):
        load_settings()


def test_a_peer_that_answers_again_gets_the_events_waiting_for_backoff(exposing):
    exposing["shop_b"].error = PeerUnavailable("down")
    make_book("A").delete()
    make_book("B").delete()
    outbox.deliver_pending()  # both fail: their next attempt is a while away
    assert OutboxEvent.objects.filter(peer="shop_b", attempts=1).count() == 2
    exposing["shop_b"].error = None
    make_book("C").delete()
    # C is due; once shop_b accepted it, A and B go too instead of waiting: 2 requests.
    with assert_num_requests(2, peer="shop_b"):
        report = outbox.deliver_pending(peers=["shop_b"])
    assert report.delivered_count == 3
    assert not OutboxEvent.objects.filter(peer="shop_b", delivered_at__isnull=True).exists()


class RefusingPeer(fakes.FakePeer):
    """A peer that refuses, like the events view, a batch holding an unstorable pk."""

    def take_events(self, events_: list[dict]) -> fakes.Answer:
        if any(not event["pk"].isprintable() for event in events_):
            return 400, {"error": {"code": "bad_event", "message": "refused"}}
        return super().take_events(events_)


def test_another_400_is_retried_not_dropped():
    # A proxy's 400, or Django's for a host missing from ALLOWED_HOSTS, says nothing of
    # the events: only the events endpoint's own refusal (bad_event) drops them.
    from federated_relations.client import _http_error
    from federated_relations.exceptions import ProtocolError
    from federated_relations.outbox import _is_malformed_refusal

    assert _is_malformed_refusal(_http_error(ProtocolError, "refused", 400, "bad_event"))
    assert not _is_malformed_refusal(_http_error(ProtocolError, "html", 400, None))
    assert not _is_malformed_refusal(_http_error(ProtocolError, "body", 400, "bad_request"))


def test_events_a_peer_refuses_as_malformed_are_dropped_once(exposing, caplog):
    exposing["shop_b"] = RefusingPeer("shop_b")
    for pk in ("1", "bad\x01", "3"):
        OutboxEvent.objects.create(
            peer="shop_b", app_label="library_app", model="book", object_pk=pk
        )
    # One refused batch of 3, then one request per event to find the bad one.
    with assert_num_requests(4, peer="shop_b"):
        report = outbox.deliver_pending(peers=["shop_b"])
    assert report.delivered_count == 2 and not report.failed
    assert [len(ids) for ids in report.dropped.values()] == [1]
    dropped = OutboxEvent.objects.get(object_pk="bad\x01")
    assert dropped.delivered_at is not None and dropped.last_error.startswith("dropped:")
    assert sum("Dropped event" in message for message in caplog.messages) == 1
    with assert_num_requests(0):  # never sent again
        outbox.deliver_pending(include_not_due=True)


def test_flush_waits_for_the_delivery_thread_and_is_bounded(exposing, monkeypatch):
    # A thread that delivers slowly: flush waits for it, but never beyond its timeout.
    import threading

    passes, release = [], threading.Event()

    def slow_deliver(using, *, include_not_due=False, deadline=None):
        passes.append(using)
        release.wait(5)
        return outbox.DeliveryReport()

    monkeypatch.setattr(outbox, "deliver_or_log", slow_deliver)
    monkeypatch.setattr(outbox, "next_due", lambda using, peers=None: None)
    background = outbox.BackgroundDelivery()
    background.start("default")
    assert background.flush(0.05) is False  # still sending: gave up waiting
    release.set()
    assert background.flush(5) is True
    # A flush before the exit stopped nothing: new events are delivered as before.
    background.start("default")
    assert background.flush(5) is True and passes == ["default", "default"]
    # The exit's flush stops the thread: nothing starts after it.
    assert background.flush(5, stop=True) is True
    background.start("default")
    assert background.wait(0) and background._thread is None and len(passes) == 2


def test_the_public_flush_leaves_background_delivery_running(monkeypatch):
    background = outbox.BackgroundDelivery()
    monkeypatch.setattr(outbox, "background", background)
    monkeypatch.setattr(outbox, "deliver_or_log", lambda using, **kwargs: outbox.DeliveryReport())
    monkeypatch.setattr(outbox, "next_due", lambda using, peers=None: None)
    background.start("default")
    assert events.flush(5) is True
    assert background._stopping is False


def test_a_fork_forgets_the_exit_deadline():
    background = outbox.BackgroundDelivery()
    background._deadline, background._stopping = 1.0, True
    background._reset_after_fork()
    assert background._deadline is None and background._stopping is False


class RecordingDelivery(outbox.BackgroundDelivery):
    """The delivery thread, recording its sleeps instead of sleeping; stops after ``passes``."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.passes = passes
        self.pauses: list[float] = []

    def _pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) >= self.passes:
            self._stopping = True

    def run_until_stopped(self) -> None:
        self.start("default")
        thread = self._thread
        try:
            thread.join(10)
            assert not thread.is_alive()
        finally:
            self._stopping = True  # never leave a thread looping behind the test


def test_failed_passes_back_off_instead_of_retrying_at_once(settings, monkeypatch):
    # The pass rolled back (here: deliver_or_log saw an exception), so the rows still
    # look due: the thread waits RETRY_BACKOFF, doubling, not MIN_WAIT.
    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BACKOFF": 1, "RETRY_BACKOFF_MAX": 4}
    calls = []
    monkeypatch.setattr(outbox, "deliver_or_log", lambda using, **kwargs: calls.append(using))
    monkeypatch.setattr(outbox, "next_due", lambda using, peers=None: timezone.now())
    background = RecordingDelivery(passes=4)
    background.run_until_stopped()
    assert background.pauses == [1, 2, 4, 4]
    assert len(calls) == 4


def test_any_exception_in_a_pass_is_logged_once_and_backs_off(settings, monkeypatch, caplog):
    from django.db import OperationalError

    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BACKOFF": 1, "RETRY_BACKOFF_MAX": 8}
    monkeypatch.setattr(outbox, "deliver_or_log", lambda using, **kwargs: outbox.DeliveryReport())

    def broken_next_due(using, peers=None):
        raise OperationalError("the database went away")

    monkeypatch.setattr(outbox, "next_due", broken_next_due)
    background = RecordingDelivery(passes=3)
    background.run_until_stopped()
    assert background.pauses == [1, 2, 4]  # the thread lived on, retrying
    assert sum("delivery pass failed" in message for message in caplog.messages) == 1
    assert not any("thread failed" in message for message in caplog.messages)


def test_a_good_pass_ends_the_failure_streak(settings, monkeypatch):
    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BACKOFF": 1, "RETRY_BACKOFF_MAX": 8}
    results = iter([None, None, outbox.DeliveryReport(), None])
    monkeypatch.setattr(outbox, "deliver_or_log", lambda using, **kwargs: next(results))
    later = timezone.now() + timedelta(seconds=3600)
    monkeypatch.setattr(outbox, "next_due", lambda using, peers=None: later)
    background = RecordingDelivery(passes=4)
    background.run_until_stopped()
    # After the good pass the thread sleeps until the next event is due (capped).
    assert background.pauses == [1, 2, 8, 1]


def test_a_peer_message_with_nul_is_stored_so_the_update_commits(exposing):
    # PostgreSQL refuses NUL in text: the update would fail and roll the claim back.
    exposing["shop_c"].error = PeerUnavailable("down\x00" + "x" * 5000)
    make_book().delete()
    report = outbox.deliver_pending()
    assert report.delivered_count == 1 and "shop_c" in report.failed
    row = OutboxEvent.objects.get(peer="shop_c")
    assert row.attempts == 1 and row.delivered_at is None
    assert "\x00" not in row.last_error and "down\\x00" in row.last_error
    assert len(row.last_error) == outbox.ERROR_LENGTH


class ExitingDelivery(outbox.BackgroundDelivery):
    """The delivery thread of an interpreter at exit (Python 3.12+ starts no thread then)."""

    def _spawn(self, thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")


def test_a_deletion_committed_at_exit_stays_pending(
    exposing, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(events, "DELIVER_IN_BACKGROUND", True)
    monkeypatch.setattr(outbox, "background", ExitingDelivery())
    with assert_num_requests(0):
        with django_capture_on_commit_callbacks(execute=True):
            make_book().delete()
    assert events.wait_for_delivery(0) is True  # nothing to wait for: no hang
    assert outbox.background._thread is None
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 2


class RecordingDeliver:
    """``federation_deliver`` whose ``--watch`` records its sleeps and stops after ``passes``."""

    def __new__(cls, passes: int):
        from federated_relations.management.commands.federation_deliver import Command

        class Recording(Command):
            def pause(self, stop, seconds):
                self.pauses.append(seconds)
                if len(self.pauses) >= passes:
                    stop.set()

        command = Recording()
        command.pauses = []
        return command


def test_watch_all_skips_the_backoff_on_the_first_pass_only(exposing, settings):
    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BACKOFF": 60, "RETRY_BACKOFF_MAX": 60}
    for peer in ("shop_b", "shop_c"):
        exposing[peer].error = PeerUnavailable("down")
    make_book().delete()
    OutboxEvent.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    command = RecordingDeliver(passes=3)
    out, err = StringIO(), StringIO()
    with assert_num_requests(2):  # one per peer, in the first pass; not one per pass
        call_command(command, "--watch", "--all", "--interval", "0.5", stdout=out, stderr=err)
    assert command.pauses == [0.5, 0.5, 0.5]
    assert OutboxEvent.objects.filter(attempts=1).count() == 2
    assert "Stopped." in out.getvalue()


class CrashingPeer(fakes.FakePeer):
    """A peer whose transport fails with an error that is no ``FederationError``."""

    def take_events(self, events_: list[dict]) -> fakes.Answer:
        raise RuntimeError("boom after the exchange")


def test_watch_outlives_a_failing_pass_and_backs_off(exposing, settings, caplog):
    settings.FEDERATION = {**settings.FEDERATION, "RETRY_BACKOFF": 1, "RETRY_BACKOFF_MAX": 3}
    exposing["shop_b"] = CrashingPeer("shop_b")
    make_book().delete()
    command = RecordingDeliver(passes=3)
    err = StringIO()
    with assert_num_requests(3, peer="shop_b"):  # once per pass, spaced by the backoff
        call_command(command, "--watch", "--interval", "0.5", stdout=StringIO(), stderr=err)
    assert command.pauses == [1, 2, 3]
    assert err.getvalue().count("Delivery pass failed (RuntimeError") == 3
    assert sum("pass failed" in message for message in caplog.messages) == 1
    assert OutboxEvent.objects.filter(peer="shop_b", delivered_at__isnull=True).count() == 1


def test_federation_deliver_reports_dropped_events(exposing):
    exposing["shop_b"] = RefusingPeer("shop_b")
    OutboxEvent.objects.create(peer="shop_b", app_label="library_app", model="book",
                               object_pk="bad\x01")
    out = StringIO()
    call_command("federation_deliver", stdout=out)
    dropped = OutboxEvent.objects.get()
    assert f"shop_b: 1 event(s) dropped (refused as malformed): {dropped.event_id}" in (
        out.getvalue()
    )


def test_flush_timeout_zero_disables_the_flush(settings):
    settings.FEDERATION = {**settings.FEDERATION, "FLUSH_TIMEOUT": 0}
    assert events.flush() is True


# --- hostile events at the endpoint ----------------------------------------------------


KEY_B = "key-b"


@pytest.fixture
def endpoint(settings):
    settings.FEDERATION = {
        "PROJECT_NAME": "local_project",
        "PEERS": {"shop_b": {"URL": "http://127.0.0.1:9/b/", "KEY": KEY_B}},
    }
    settings.ROOT_URLCONF = "tests.library_app.urls"


def post_events(client, body: bytes, **extra):
    from federated_relations.signing import sign_request

    headers = sign_request("POST", "/federation/events/", "", body, project="shop_b", key=KEY_B)
    return client.generic(
        "POST", "/federation/events/", body, content_type="application/json",
        headers=headers, **extra,
    )


@pytest.mark.parametrize("length", ["abc", "1.5", "\uff11\uff12", "-1", " 12", "+3", "1e3"])
def test_a_malformed_content_length_is_a_json_400(client, endpoint, length):
    body = b'{"events": []}'
    response = post_events(client, body, CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "bad_request"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


@pytest.mark.parametrize(
    "change",
    [{"pk": "7\ud800"}, {"pk": "7\x00"}, {"app_label": "a" * 10_000}, {"model": "b" * 101},
     {"app_label": "no such label"}, {"model": "x\ud800"}],
)
def test_an_event_that_can_never_be_applied_is_refused_with_a_400(client, endpoint, change):
    import json

    event = {**deleted_event("7"), **change}
    body = json.dumps({"events": [event]}).encode()
    before = GenericContentType.objects.count()
    response = post_events(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_event"
    assert ReceivedEvent.objects.count() == 0
    assert GenericContentType.objects.count() == before


def test_an_event_naming_an_unknown_type_creates_nothing(client, endpoint):
    import json

    event = {**deleted_event("7"), "app_label": "a" * 100, "model": "nothing_points_here"}
    before = GenericContentType.objects.count()
    response = post_events(client, json.dumps({"events": [event]}).encode())
    assert response.status_code == 200 and response.json() == {"accepted": [event["id"]]}
    assert GenericContentType.objects.count() == before
    assert ReceivedEvent.objects.get().model == "nothing_points_here"  # recorded, once


# --- FederatedForeignKey(on_remote_delete=...) -----------------------------------------


def test_on_remote_delete_cascade_and_set_null_apply_when_the_event_arrives(fake_peers):
    from federated_relations import remote
    from tests.library_app.models import Bookmark, BookmarkNote, Citation
    from tests.testapp.models import TaggedItem

    gone, kept = remote("shop_b", "library_app.Book", 7), remote("shop_b", "library_app.Book", 8)
    doomed = Bookmark.objects.create(target=gone)
    BookmarkNote.objects.create(bookmark=doomed)
    survivor = Bookmark.objects.create(target=kept)
    cited, other = Citation.objects.create(target=gone), Citation.objects.create(target=kept)
    tagged = TaggedItem.objects.create(tag="t", content_object=gone)  # DO_NOTHING

    event = {**deleted_event("7"), "app_label": "library_app"}
    assert events.receive_events("shop_b", [event]) == [event["id"]]

    assert list(Bookmark.objects.all()) == [survivor]
    assert BookmarkNote.objects.count() == 0  # the row's own relations cascade too
    cited.refresh_from_db()
    other.refresh_from_db()
    assert (cited.content_type_id, cited.object_id) == (None, None)
    assert other.object_id == 8
    assert TaggedItem.objects.filter(pk=tagged.pk).exists()


def test_a_failing_cascade_rolls_back_the_event(fake_peers):
    from django.db.models.signals import pre_delete

    from federated_relations import remote
    from tests.library_app.models import Bookmark

    Bookmark.objects.create(target=remote("shop_b", "library_app.Book", 7))

    def refuse(**kwargs):
        raise RuntimeError("no")

    pre_delete.connect(refuse, sender=Bookmark)
    try:
        event = {**deleted_event("7"), "app_label": "library_app"}
        assert events.receive_events("shop_b", [event]) == []
    finally:
        pre_delete.disconnect(refuse, sender=Bookmark)
    assert Bookmark.objects.count() == 1 and ReceivedEvent.objects.count() == 0


def test_on_remote_delete_values_and_the_set_null_check():
    from django.db import models

    from federated_relations import FederatedForeignKey

    with pytest.raises(ValueError, match="on_remote_delete"):
        FederatedForeignKey(on_remote_delete=models.PROTECT)

    from django.test.utils import isolate_apps

    with isolate_apps("tests.library_app"):

        class NotNullable(models.Model):
            content_type = models.ForeignKey(GenericContentType, on_delete=models.CASCADE)
            object_id = models.PositiveIntegerField()
            target = FederatedForeignKey(on_remote_delete=models.SET_NULL)

            class Meta:
                app_label = "library_app"

    errors = NotNullable._meta.get_field("target").check()
    assert [error.id for error in errors] == ["federated_relations.E306"]


def test_one_pass_claims_each_peer_once_plus_the_empty_claim(exposing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for title in "ABCDE":
        make_book(title).delete()
    with CaptureQueriesContext(connection) as queries:
        report = outbox.deliver_pending()
    assert report.delivered_count == 10
    claims = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "LIMIT" in q["sql"]
              and "outboxevent" in q["sql"]]
    # Per peer: the batch, then the claim that finds nothing left (not one per row).
    assert len(claims) == 4


def test_a_new_process_delivers_what_an_earlier_one_left_pending(
    exposing, monkeypatch, django_capture_on_commit_callbacks
):
    # An earlier process recorded events and died (or its peer was down): no deletion
    # happens in this one, yet its first connection to the database sends them.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(events, "DELIVER_IN_BACKGROUND", True)
    started = []
    monkeypatch.setattr(outbox.background, "start", started.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_book().delete()
    # That process never got to run its on-commit delivery.
    del connection.run_on_commit[-len(callbacks):]
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 2
    assert started == []
    monkeypatch.setattr(events, "_resumed", set())
    with django_capture_on_commit_callbacks(execute=True):
        events.resume_on_connect(sender=None, connection=connection)
    assert started == ["default"]
    # Once per database and process: later connections ask nothing.
    with CaptureQueriesContext(connection) as queries:
        events.resume_on_connect(sender=None, connection=connection)
    assert len(queries) == 0 and started == ["default"]


def test_nothing_pending_starts_nothing(monkeypatch, django_capture_on_commit_callbacks):
    from django.db import connection

    started = []
    monkeypatch.setattr(outbox.background, "start", started.append)
    monkeypatch.setattr(events, "_resumed", set())
    with django_capture_on_commit_callbacks(execute=True):
        events.resume_on_connect(sender=None, connection=connection)
    assert started == []


def test_federation_deliver_leaves_no_resumed_delivery_racing_it(
    exposing, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import connection

    monkeypatch.setattr(events, "DELIVER_IN_BACKGROUND", True)
    started = []
    monkeypatch.setattr(outbox.background, "start", started.append)
    monkeypatch.setattr(events, "_resumed", set())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_book().delete()
    del connection.run_on_commit[-len(callbacks):]  # as if the process had died
    for peer in exposing.values():  # the peers are down: the events stay pending
        peer.error = PeerUnavailable("down")
    with pytest.raises(CommandError):
        call_command("federation_deliver", stdout=StringIO())
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 2
    # The command delivers the outbox itself: its connection resumes no thread racing it.
    with django_capture_on_commit_callbacks(execute=True):
        events.resume_on_connect(sender=None, connection=connection)
    assert started == []
