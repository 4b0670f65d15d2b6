"""Sign requests to peers and verify the signatures of requests from peers.

Every request of the federation protocol (``docs/protocol.md``) carries three headers:
the sender's project, a Unix timestamp and a hex HMAC-SHA256, keyed with the secret both
servers share (``PEERS[name]["KEY"]``), of five lines: method, path, query string,
timestamp and the SHA-256 of the body. Signing the timestamp and refusing timestamps
outside a window of ``MAX_CLOCK_SKEW`` seconds bounds replays; signing the body hash
lets the receiver reject any tampering without buffering twice.

The receiver's failures are ``SignatureError`` subclasses carrying the HTTP status and the
protocol's error code, so ``views.py`` maps them without a lookup table.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from django.utils.crypto import constant_time_compare
from django.utils.encoding import escape_uri_path

from .conf import federated_settings

if TYPE_CHECKING:
    from django.http import HttpRequest
    from requests import PreparedRequest

__all__ = [
    "HEADER_PROJECT",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MAX_CLOCK_SKEW",
    "BadRequestSignature",
    "ExpiredSignature",
    "MalformedRequest",
    "SignatureError",
    "UnknownPeer",
    "UnsignedRequest",
    "canonical_path",
    "sign_prepared_request",
    "sign_request",
    "signature_message",
    "verify_request",
]

HEADER_PROJECT = "X-Federation-Project"
HEADER_TIMESTAMP = "X-Federation-Timestamp"
HEADER_SIGNATURE = "X-Federation-Signature"

#: Seconds a timestamp may differ from the receiver's clock, in either direction.
MAX_CLOCK_SKEW = 300

_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_LENGTH_RE = re.compile(r"^[0-9]{1,19}\Z")


class SignatureError(Exception):
    """Refuse a request whose signature is missing or wrong (base of the verify errors)."""

    status: int = 403
    code: str = "bad_signature"


class UnsignedRequest(SignatureError):
    """A signature header is missing or empty (401 ``unsigned``)."""

    status = 401
    code = "unsigned"


class UnknownPeer(SignatureError):
    """The sender is not in this server's ``PEERS`` (403 ``unknown_peer``)."""

    code = "unknown_peer"


class BadRequestSignature(SignatureError):
    """The signature does not match the request (403 ``bad_signature``)."""

    code = "bad_signature"


class ExpiredSignature(SignatureError):
    """The signed timestamp is outside the clock-skew window (403 ``expired``)."""

    code = "expired"


class MalformedRequest(SignatureError):
    """The request cannot be read, e.g. a ``Content-Length`` that is not a number (400).

    Reading the body of such a request raises ``ValueError`` inside Django; refusing it
    before that keeps the answer a JSON 400 like every other refusal.
    """

    status = 400
    code = "bad_request"


def _check_content_length(request: HttpRequest) -> None:
    """Raise ``MalformedRequest`` unless ``Content-Length`` is absent or ASCII digits.

    ``int()`` would accept ``" 12"``, ``"+12"`` or full-width digits; HTTP allows only
    ``1*DIGIT``, and anything else must not reach ``request.body``.
    """
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return
    if not isinstance(raw, str) or not _CONTENT_LENGTH_RE.match(raw):
        raise MalformedRequest("The Content-Length header is not a decimal number.")


def canonical_path(path: str) -> str:
    """Return the path as it is signed: percent-decoded, then re-encoded like Django does.

    Clients and proxies may encode a path differently (``%7E`` or ``~``); decoding and
    re-encoding with ``escape_uri_path`` gives both ends the same bytes to sign.
    """
    return escape_uri_path(unquote(path))


def signature_message(
    method: str, path: str, query: str, timestamp: int | str, body: bytes
) -> bytes:
    """Return the bytes that are signed: the five lines of ``docs/protocol.md``."""
    lines = (
        method.upper(),
        canonical_path(path),
        query,
        str(timestamp),
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode()


def _signature(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign_request(
    method: str,
    path: str,
    query: str,
    body: bytes | str | None,
    *,
    project: str,
    key: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Return the three signature headers of a request from ``project`` keyed with ``key``.

    ``path`` is the URL path, ``query`` the raw query string without ``?`` (``""`` if
    none) and ``body`` the exact bytes sent. ``timestamp`` defaults to now.
    """
    if isinstance(body, str):
        body = body.encode()
    if timestamp is None:
        timestamp = int(time.time())
    message = signature_message(method, path, query, timestamp, body or b"")
    return {
        HEADER_PROJECT: project,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: _signature(key, message),
    }


def sign_prepared_request(
    prepared: PreparedRequest, *, project: str, key: str, timestamp: int | None = None
) -> PreparedRequest:
    """Add the signature headers to a ``requests.PreparedRequest`` and return it.

    It signs what will go on the wire, after ``requests`` has encoded the URL and body.
    """
    if prepared.url is None or prepared.method is None:
        raise ValueError("Cannot sign a request without a URL and a method.")
    parts = urlsplit(prepared.url)
    headers = sign_request(
        prepared.method,
        parts.path or "/",
        parts.query,
        prepared.body,
        project=project,
        key=key,
        timestamp=timestamp,
    )
    prepared.headers.update(headers)
    return prepared


def verify_request(request: HttpRequest, *, now: float | None = None) -> str:
    """Return the project name of the peer that signed ``request``, or raise.

    Raise ``UnsignedRequest`` when a header is missing, ``UnknownPeer`` when the sender is
    not in ``PEERS``, ``BadRequestSignature`` when the signature does not match (checked
    in constant time) and ``ExpiredSignature`` when a correctly signed timestamp is more
    than ``MAX_CLOCK_SKEW`` seconds away from this server's clock, and
    ``MalformedRequest`` when the ``Content-Length`` header is not a number. Reading the
    body may raise Django's ``RequestDataTooBig``.
    """
    project = request.headers.get(HEADER_PROJECT, "")
    timestamp = request.headers.get(HEADER_TIMESTAMP, "")
    signature = request.headers.get(HEADER_SIGNATURE, "")
    if not (project and timestamp and signature):
        raise UnsignedRequest(
            f"The request must carry the {HEADER_PROJECT}, {HEADER_TIMESTAMP} and "
            f"{HEADER_SIGNATURE} headers."
        )
    peer = federated_settings.PEERS.get(project)
    if peer is None:
        raise UnknownPeer("The sending project is not a peer of this server.")
    if not _TIMESTAMP_RE.match(timestamp) or not _SIGNATURE_RE.match(signature):
        raise BadRequestSignature("The timestamp or signature header is malformed.")
    _check_content_length(request)
    message = signature_message(
        request.method or "",
        request.path,
        request.META.get("QUERY_STRING", ""),
        timestamp,
        request.body,
    )
    if not constant_time_compare(_signature(peer["KEY"], message), signature):
        raise BadRequestSignature("The signature does not match the request.")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_CLOCK_SKEW:
        raise ExpiredSignature(
            f"The timestamp is more than {MAX_CLOCK_SKEW} seconds away from this "
            "server's clock."
        )
    return project
