"""Test transports for ``FederationClient``: a peer served in-process, scripted and real HTTP.

* ``InProcessAdapter`` forwards each ``PreparedRequest`` to ``django.test.Client`` under the
  peer's own ``FEDERATION`` settings, so the client talks to the real views in-process.
* ``ScriptedAdapter`` answers canned responses (malformed, redirects, errors, huge bodies).
* ``ScriptedHTTPServer`` is a real HTTP server on 127.0.0.1 for what needs sockets:
  urllib3 retries, timeouts, connection refused.
* ``LiveWSGIServer`` serves this Django project over a real socket (``wsgiref``), sharing
  the test's database connection so the test transaction's rows are visible.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from django.test import Client
from django.test.utils import override_settings
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = [
    "InProcessAdapter",
    "LiveWSGIServer",
    "ScriptedAdapter",
    "ScriptedHTTPServer",
    "free_port",
    "make_response",
    "session_with",
]

_SKIPPED_HEADERS = {"content-type", "content-length", "host", "connection"}


def make_response(
    request: requests.PreparedRequest,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Return a streamable ``requests.Response`` for ``request``."""
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers or {})
    response.raw = io.BytesIO(body)
    response.url = request.url or ""
    response.request = request
    response.reason = "scripted"
    response.encoding = "utf-8"
    return response


def session_with(adapter: BaseAdapter) -> requests.Session:
    """Return a session that sends every http(s) request through ``adapter``."""
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class InProcessAdapter(BaseAdapter):
    """Serve requests with Django's test client, as the peer configured by ``federation``."""

    def __init__(
        self, federation: dict[str, Any], urlconf: str = "tests.library_app.urls"
    ) -> None:
        super().__init__()
        self.federation = federation
        self.urlconf = urlconf
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Answer ``request`` with the peer's views, as Django's test client gets it."""
        self.sent.append(request)
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in _SKIPPED_HEADERS
        }
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        with override_settings(FEDERATION=self.federation, ROOT_URLCONF=self.urlconf):
            answer = client.generic(
                request.method or "GET",
                path,
                data=body,
                content_type=request.headers.get("Content-Type", "application/octet-stream"),
                headers=headers,
            )
        return make_response(request, answer.status_code, answer.content, dict(answer.items()))

    def close(self) -> None:
        """Release nothing: no connections are held."""


class ScriptedAdapter(BaseAdapter):
    """Answer requests in turn with the given responses, callables or exceptions."""

    def __init__(self, *answers: Any) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Answer ``request`` with the next scripted answer (raise it if it is an error)."""
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        status, body, *rest = answer
        headers = rest[0] if rest else {"Content-Type": "application/json"}
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return make_response(request, status, body, headers)

    def close(self) -> None:
        """Release nothing: no connections are held."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedHTTPServer:
    """A real HTTP server on 127.0.0.1 answering ``(status, body, delay[, headers])`` in turn.

    Use as a context manager; ``.url`` is its base URL and ``.hits`` counts requests.
    """

    def __init__(self, *answers: tuple[Any, ...]) -> None:
        self.answers = list(answers)
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.hits += 1
                answer = outer.answers.pop(0) if outer.answers else (500, {}, 0)
                status, body, delay, *rest = answer
                extra_headers = rest[0] if rest else {}
                if delay:
                    time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra_headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/federation/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class LiveWSGIServer:
    """Serve the Django project on 127.0.0.1 in a thread, with the test's DB connection.

    Requests are handled one at a time while the test thread waits for the answer, so
    sharing the connection is safe; ``close_old_connections`` is kept from closing it
    (it would end the test transaction) by consuming each answer inside the window where
    it is disconnected. ``.url`` is the base URL (no trailing slash).
    """

    def __init__(self, alias: str = "default") -> None:
        self.connection = connections[alias]
        self.alias = alias
        handler = WSGIHandler()

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
            try:
                result = handler(environ, start_response)
                try:
                    return [b"".join(result)]
                finally:
                    result.close()
            finally:
                request_started.connect(close_old_connections)
                request_finished.connect(close_old_connections)

        self.server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        connections[self.alias] = self.connection
        self.server.serve_forever(poll_interval=0.05)

    def __enter__(self) -> LiveWSGIServer:
        self.connection.inc_thread_sharing()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
        self.connection.dec_thread_sharing()
