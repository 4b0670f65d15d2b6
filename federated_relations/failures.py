"""What went wrong talking to a peer, in words: the text of transport and signature errors.

``requests`` and urllib3 wrap a refused connection in three exceptions whose messages name
pool classes (``_DeadlineHTTPConnectionPool(...): Max retries exceeded``). The client says
instead what a person can act on: "connection refused", "timed out after 2 s", "DNS lookup
of 'host' failed", and for a refused signature which settings must agree.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, ReadTimeoutError

__all__ = ["signature_hint", "transport_cause"]


def transport_cause(error: BaseException, *, peer: str, url: str, timeout: float) -> str:
    """Return in words why a request to ``peer`` (base ``url``) failed with ``error``."""
    chain = _chain(error)
    parts = urlsplit(url)
    host = parts.hostname or url
    netloc = parts.netloc or url

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(NameResolutionError, socket.gaierror):
        return (
            f"DNS lookup of {host!r} failed (check the host name in "
            f"FEDERATION['PEERS'][{peer!r}]['URL'])"
        )
    if has(ConnectionRefusedError):
        return f"connection refused (is the peer's server running and listening on {netloc}?)"
    after = f"timed out after {timeout:g} s"
    if has(ConnectTimeoutError, requests.ConnectTimeout):
        return f"{after} connecting to {netloc} (FEDERATION['TIMEOUT'])"
    if has(ReadTimeoutError, requests.Timeout, TimeoutError):
        return f"{after} waiting for the answer (FEDERATION['TIMEOUT'])"
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None or has(requests.exceptions.SSLError):
        reason = getattr(tls, "reason", None) or (tls.strerror if tls else None)
        return f"the TLS handshake with {netloc} failed ({reason or 'see the cause'})"
    if has(ConnectionResetError):
        return "the peer reset the connection"
    if has(http.client.RemoteDisconnected):
        return "the peer closed the connection without answering"
    if has(requests.exceptions.RetryError):
        return "it kept answering 502/503/504 through every retry"
    # Something else: the innermost error says the most and names no pool class.
    return str(chain[-1]) or type(chain[-1]).__name__


def signature_hint(code: str | None, *, peer: str, project: str) -> str:
    """Return what to fix when ``peer`` refuses the signature of ``project`` (401/403)."""
    ours = f"FEDERATION['PEERS'][{peer!r}]['KEY']"
    theirs = f"FEDERATION['PEERS'][{project!r}]['KEY']"
    if code == "unknown_peer":
        return (
            f"Hint: {peer!r} has no peer named {project!r}; add it to the peer's "
            f"FEDERATION['PEERS'] with the KEY this server has in {ours}."
        )
    if code == "expired":
        return (
            "Hint: the two servers' clocks disagree by more than the signature's tolerance; "
            "synchronize them (NTP)."
        )
    if code == "unsigned":
        return (
            "Hint: the request reached the peer without its signature headers; a proxy in "
            "between may drop them."
        )
    return (
        f"Hint: the KEYs of both servers must match: {ours} here and {theirs} on {peer!r} "
        "must be the same secret."
    )


def _chain(error: BaseException) -> list[BaseException]:
    """Return ``error`` and its causes, outermost first (urllib3 keeps some in ``reason``)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        following = current.__cause__ or getattr(current, "reason", None)
        if not isinstance(following, BaseException):
            # requests puts urllib3's MaxRetryError in args, not in __cause__.
            following = next((a for a in current.args if isinstance(a, BaseException)), None)
        if following is None:
            following = current.__context__
        current = following
    return chain
