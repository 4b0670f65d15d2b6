"""Log every federation request, so the demo's console shows what a peer asked for."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("library.federation")


class FederationLogMiddleware:
    """Log one line per request under ``/federation/``: who, what, how many pks, status.

    A 200 answer means the request's signature was verified (unsigned requests get 401,
    bad signatures 403), so the line says "signed" only then.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/federation/"):
            return self.get_response(request)
        sender = request.headers.get("X-Federation-Project", "?")
        detail = ""
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict) and isinstance(body.get("pks"), list):
                detail = f" pks={len(body['pks'])}"
            elif isinstance(body, dict) and isinstance(body.get("events"), list):
                detail = f" events={len(body['events'])}"
        response = self.get_response(request)
        verdict = "signed, verified" if response.status_code < 400 else "refused"
        logger.info(
            "federation request from %s: %s %s%s -> %s (%s)",
            sender, request.method, request.path, detail, response.status_code, verdict,
        )
        return response
