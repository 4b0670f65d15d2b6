"""URLs of a test peer: the federation endpoints, plus ``_test/`` controls for the tests.

The controls exist only in this test project. They let a test create and delete objects
on the peer (deletions go through ``queryset.delete()``, so the outbox is real), read how
many federation requests the peer served, and make the peer slow or make it answer
garbage (``ChaosMiddleware``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

__all__ = ["ChaosMiddleware", "urlpatterns"]

_lock = threading.Lock()
_served: Counter = Counter()
_event_ids: Counter = Counter()  # every event id POSTed to events/, duplicates included
_mode: dict[str, Any] = {"delay": 0.0, "garbage": None}


class ChaosMiddleware:
    """Count the federation requests served; delay them or answer garbage on demand."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/federation/"):
            return self.get_response(request)
        endpoint = request.path.removeprefix("/federation/")
        with _lock:
            _served[f"{request.method} {endpoint}"] += 1
            delay, garbage = _mode["delay"], _mode["garbage"]
            if endpoint == "events/" and request.method == "POST":
                _count_event_ids(request)
        if delay:
            time.sleep(delay)
        if garbage is not None and endpoint.endswith("/batch/"):
            return HttpResponse(garbage, content_type="application/json")
        return self.get_response(request)


def _count_event_ids(request: HttpRequest) -> None:
    try:
        sent = json.loads(request.body)["events"]
        _event_ids.update(str(event["id"]) for event in sent)
    except Exception:
        pass  # a malformed request: the view answers it


def _body(request: HttpRequest) -> Any:
    return json.loads(request.body or b"{}")


@csrf_exempt
def create(request: HttpRequest, app_label: str, model: str) -> JsonResponse:
    """Create objects: ``{"objects": [{field: value}, ...]}``; answer their pks."""
    model_class = apps.get_model(app_label, model)
    made = model_class.objects.bulk_create(
        [model_class(**fields) for fields in _body(request)["objects"]]
    )
    return JsonResponse({"pks": [str(obj.pk) for obj in made]})


@csrf_exempt
def delete(request: HttpRequest, app_label: str, model: str) -> JsonResponse:
    """Delete objects by pk with ``queryset.delete()``; answer once events are delivered."""
    from federated_relations import events
    from federated_relations.models import OutboxEvent

    body = _body(request)
    model_class = apps.get_model(app_label, model)
    committed: list[float] = []
    with transaction.atomic():
        # Runs first among the commit hooks, so before the delivery starts (benchmark).
        transaction.on_commit(lambda: committed.append(time.time()))
        deleted, _ = model_class.objects.filter(pk__in=body["pks"]).delete()
    finished = events.wait_for_delivery(timeout=15) if body.get("wait", True) else None
    pending = OutboxEvent.objects.filter(delivered_at__isnull=True).count()
    answer = {"deleted": deleted, "delivery_finished": finished, "pending": pending}
    if body.get("timed"):
        answer["committed_at"] = committed[0] if committed else None
    return JsonResponse(answer)


@csrf_exempt
def control(request: HttpRequest) -> JsonResponse:
    """GET: requests served so far. POST: reset counters, set ``delay`` and ``garbage``."""
    with _lock:
        if request.method == "POST":
            body = _body(request)
            _served.clear()
            _event_ids.clear()
            _mode["delay"] = float(body.get("delay", 0.0))
            _mode["garbage"] = body.get("garbage")
        return JsonResponse(
            {"served": dict(_served), "mode": dict(_mode), "event_ids": dict(_event_ids)}
        )


@csrf_exempt
def outbox(request: HttpRequest) -> JsonResponse:
    """List the outbox (and deliver what is due first, with ``POST``)."""
    from federated_relations.models import OutboxEvent
    from federated_relations.outbox import deliver_pending

    if request.method == "POST":
        deliver_pending(include_not_due=True)
    rows = [
        {"peer": row.peer, "pk": row.object_pk, "delivered": row.delivered_at is not None,
         "attempts": row.attempts}
        for row in OutboxEvent.objects.order_by("pk")
    ]
    return JsonResponse({"events": rows})


@csrf_exempt
def refer(request: HttpRequest) -> JsonResponse:
    """Bookmark a peer's objects: ``{"project", "label", "pks"}``; answer how many."""
    from federated_relations import remote
    from tests.library_app.models import Bookmark

    body = _body(request)
    made = Bookmark.objects.bulk_create(
        [Bookmark(target=remote(body["project"], body["label"], pk)) for pk in body["pks"]]
    )
    return JsonResponse({"bookmarks": len(made)})


def received(request: HttpRequest) -> JsonResponse:
    """List the events this peer received: id, sender, pk and when it applied them."""
    from federated_relations.models import ReceivedEvent

    rows = [
        {"id": str(row.event_id), "sender": row.sender, "pk": row.object_pk,
         "received_at": row.received_at.timestamp()}
        for row in ReceivedEvent.objects.order_by("pk")
    ]
    return JsonResponse({"events": rows})


urlpatterns = [
    path("federation/", include("federated_relations.urls")),
    path("_test/create/<str:app_label>/<str:model>/", create),
    path("_test/delete/<str:app_label>/<str:model>/", delete),
    path("_test/control/", control),
    path("_test/outbox/", outbox),
    path("_test/received/", received),
    path("_test/refer/", refer),
]
