"""URLs of a production-profile server: federation, ``_test/`` controls and the client's page.

The controls are the integration peers' (``tests.integration.peer_urls``), except the
request counters: those live in Redis, so that ``_test/control/`` counts what every
worker of the server served (``served``) and sent to its peers (``sent``), not what the
one that answers did.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt

from federated_relations.signals import peer_request
from tests.integration.peer_urls import _body, create, refer
from tests.library_app.models import Bookmark
from tests.production import PAGE_SIZE

__all__ = ["SharedChaosMiddleware", "urlpatterns"]


@functools.cache
def _redis() -> redis.Redis:
    # One client per worker: gunicorn forks before the application is loaded.
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def _served_key() -> str:
    return f"{settings.PRODUCTION_KEY_PREFIX}-served"


def _mode_key() -> str:
    return f"{settings.PRODUCTION_KEY_PREFIX}-mode"


def _sent_key() -> str:
    return f"{settings.PRODUCTION_KEY_PREFIX}-sent"


def _count_sent(sender: object, *, peer: str, method: str, path: str, **kwargs: object) -> None:
    """Count each request this worker sends to a peer (one per request, not per retry)."""
    _redis().hincrby(_sent_key(), f"{peer} {method} {path}", 1)


peer_request.connect(_count_sent, weak=False, dispatch_uid="production-sent")


class SharedChaosMiddleware:
    """Count federation requests in Redis; delay them or answer garbage on demand."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/federation/"):
            return self.get_response(request)
        endpoint = request.path.removeprefix("/federation/")
        pipe = _redis().pipeline()
        pipe.hincrby(_served_key(), f"{request.method} {endpoint}", 1)
        pipe.hgetall(_mode_key())
        _, mode = pipe.execute()
        if float(mode.get("delay", 0)):
            time.sleep(float(mode["delay"]))
        if "garbage" in mode and endpoint.endswith("/batch/"):
            return HttpResponse(mode["garbage"], content_type="application/json")
        return self.get_response(request)


@csrf_exempt
def control(request: HttpRequest) -> JsonResponse:
    """GET: requests served so far. POST: reset counters, set ``delay`` and ``garbage``."""
    client = _redis()
    if request.method == "POST":
        body = _body(request)
        mode = {"delay": float(body.get("delay", 0.0))}
        if body.get("garbage") is not None:
            mode["garbage"] = body["garbage"]
        pipe = client.pipeline()
        pipe.delete(_served_key(), _mode_key(), _sent_key())
        pipe.hset(_mode_key(), mapping=mode)
        pipe.execute()
    served = {name: int(count) for name, count in client.hgetall(_served_key()).items()}
    sent = {name: int(count) for name, count in client.hgetall(_sent_key()).items()}
    return JsonResponse({"served": served, "sent": sent, "mode": client.hgetall(_mode_key())})


def worker(request: HttpRequest) -> JsonResponse:
    """Answer which worker served, after holding it ``hold`` seconds (to spread a burst)."""
    time.sleep(float(request.GET.get("hold", 0)))
    return JsonResponse({"pid": os.getpid(), "master": os.getppid()})


def _item(mark: Bookmark) -> tuple[str, int, str]:
    target = mark.target
    if target is None:  # the peer reported it missing
        return mark.object_id, 0, "missing"
    return mark.object_id, int(target.is_available), str(target)


def page(request: HttpRequest) -> HttpResponse:
    """Render the first ``PAGE_SIZE`` bookmarks' targets (of peer ``project``, if given),
    prefetched, as a list.

    Each item carries the target's pk and availability, and the response the worker's pid
    (``X-Worker-Pid``); ``hold`` keeps the worker busy after rendering, so that concurrent
    requests spread over the workers.
    """
    bookmarks = Bookmark.objects.order_by("pk").prefetch_related("target")
    if request.GET.get("project"):
        bookmarks = bookmarks.filter(content_type__project=request.GET["project"])
    bookmarks = bookmarks[:PAGE_SIZE]
    items = format_html_join(
        "\n", '<li data-pk="{}" data-available="{}">{}</li>', map(_item, bookmarks)
    )
    html = format_html("<!doctype html><title>Bookmarks</title><ul>\n{}\n</ul>\n", items)
    time.sleep(float(request.GET.get("hold", 0)))
    response = HttpResponse(html)
    response["X-Worker-Pid"] = str(os.getpid())
    return response


urlpatterns = [
    path("federation/", include("federated_relations.urls")),
    path("page/", page),
    path("_test/control/", control),
    path("_test/create/<str:app_label>/<str:model>/", create),
    path("_test/refer/", refer),
    path("_test/worker/", worker),
]
