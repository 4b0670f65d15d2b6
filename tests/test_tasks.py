"""Outbox delivery through Django's Tasks framework (Django 6, or the django-tasks backport).

The test extras install the backport, so they run on Django 5.2 too (skipped only where
neither is installed).
"""

from __future__ import annotations

from decimal import Decimal

import django
import pytest
from django.utils import timezone

from federated_relations import outbox, tasks
from federated_relations.exceptions import PeerUnavailable
from federated_relations.models import OutboxEvent
from tests import fake_peers as fakes
from tests.library_app.models import Book

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(tasks.task is None, reason="no Tasks framework (Django < 6, no backport)"),
]
fake_peers = fakes.fake_peers

# Django 6's own backends, or the backport's on Django 5.2.
BACKENDS = "django.tasks.backends" if django.VERSION >= (6,) else "django_tasks.backends"
DUMMY = {"default": {"BACKEND": f"{BACKENDS}.dummy.DummyBackend"}}
IMMEDIATE = {"default": {"BACKEND": f"{BACKENDS}.immediate.ImmediateBackend"}}


@pytest.fixture
def exposing(settings, fake_peers, monkeypatch):
    settings.FEDERATION = {**settings.FEDERATION, "EXPOSE": {"library_app.Book": ["title"]}}
    started = []
    monkeypatch.setattr(outbox.background, "start", started.append)
    return started


def delete_a_book(capture) -> None:
    with capture(execute=True):
        Book.objects.create(title="Dune", price=Decimal("1")).delete()


def test_without_tasks_setting_the_thread_delivers(exposing, django_capture_on_commit_callbacks):
    assert not tasks.tasks_configured()
    delete_a_book(django_capture_on_commit_callbacks)
    assert exposing == ["default"]  # the background thread was started


def test_a_configured_backend_gets_the_delivery(
    exposing, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY
    backend = tasks.deliver_outbox.get_backend()
    backend.clear()
    delete_a_book(django_capture_on_commit_callbacks)
    assert exposing == []  # no thread
    assert [result.args for result in backend.results] == [["default"]]
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 2


def test_the_task_delivers_and_a_failure_enqueues_a_deferred_retry(fake_peers, settings):
    settings.FEDERATION = {**settings.FEDERATION, "EXPOSE": {"library_app.Book": ["title"]}}
    settings.TASKS = DUMMY
    Book.objects.create(title="Dune", price=Decimal("1")).delete()
    fake_peers["shop_c"].error = PeerUnavailable("refused")
    backend = tasks.deliver_outbox.get_backend()
    backend.clear()
    assert tasks.deliver_outbox.call("default") == 1  # shop_b got it, shop_c failed
    (retry,) = backend.results
    pending = OutboxEvent.objects.get(delivered_at__isnull=True)
    # The retry runs when the event is due (its backoff), not before.
    assert retry.args == ["default", 1] and retry.task.run_after == pending.next_attempt_at
    # Still failing when it runs: another retry, however many came before (no cap).
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    backend.clear()
    assert tasks.deliver_outbox.call("default", 50) == 0
    assert [result.args for result in backend.results] == [["default", 51]]
    fake_peers["shop_c"].error = None
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    backend.clear()
    assert tasks.deliver_outbox.call("default", 51) == 1
    assert not OutboxEvent.objects.filter(delivered_at__isnull=True).exists()
    assert backend.results == []  # delivered: the chain ends


def test_the_immediate_backend_delivers_at_commit(
    exposing, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE
    delete_a_book(django_capture_on_commit_callbacks)
    assert not OutboxEvent.objects.filter(delivered_at__isnull=True).exists()
