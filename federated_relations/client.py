"""The HTTP client of one peer: signed, pooled, retried, time-bounded and size-bounded.

``get_client(peer)`` returns the process's client of a peer named in ``PEERS``. Each
client owns a ``requests.Session`` whose ``HTTPAdapter`` pools connections and retries
through urllib3's ``Retry`` (every endpoint is idempotent: batch lookups only read and
events carry ids the receiver applies once), sends a timeout with every request, never
follows redirects and stops reading an answer past ``max_response_bytes``. A circuit
breaker makes a peer that keeps failing cost nothing for ``cooldown`` seconds. The
breaker's state and each peer's discovery live in the cache of ``CACHE_ALIAS``
(``shared_cache``), so every worker process of a server shares them; while that cache
fails, each process carries on with its own. Every
answer is checked by the protocol's ``AnswerValidator`` before it is returned, so callers
get either well-formed data or a ``FederationError``:

* ``PeerUnavailable``: peer not configured, refused, timed out, 502/503/504, circuit open
  (the message names the peer, the URL and the cause in words: "connection refused",
  "timed out after 2 s", "DNS lookup of 'host' failed");
* ``PeerAuthError``: 401/403, the peer refused our signature (the message hints at the
  fix: both servers' ``KEY``s must match, the peer must list us, clocks must agree);
* ``NotExposed`` (a ``ProtocolError``): 404 ``not_exposed`` or 400 ``field_not_exposed``;
* ``ProtocolError``: any other status, a redirect, an oversized or malformed answer.

``peers.py`` is the only caller of this module in the package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin

import requests
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as URLLib3Error
from urllib3.util import Retry, Timeout

try:
    from urllib3.response import BaseHTTPResponse
except ImportError:  # urllib3 1.x: no read1(), iter_content() is used
    BaseHTTPResponse = None  # type: ignore[assignment,misc]

from . import signals
from .conf import federated_settings, on_reload
from .exceptions import FederationError, PeerAuthError, PeerUnavailable, ProtocolError
from .failures import signature_hint, transport_cause
from .protocol import DEFAULT_MAX_BATCH, LISTING_PARAMS, AnswerValidator, filter_text
from .signing import sign_prepared_request

__all__ = [
    "FederationClient",
    "NotExposed",
    "get_client",
    "reset_clients",
    "shared_cache",
    "shared_key",
]

logger = logging.getLogger("federated_relations")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
_CACHE_PREFIX = "federated_relations:v1"
_SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

T = TypeVar("T")


def shared_key(*parts: str) -> str:
    """Return the key of ``parts`` in the shared cache: ``federated_relations:v1:...``.

    Parts that are not safe in every cache backend's keys (memcached: no spaces, at most
    250 characters) are replaced by their SHA-256.
    """
    safe = [
        part if _SAFE_KEY_PART.match(part) else hashlib.sha256(part.encode()).hexdigest()
        for part in parts
    ]
    return ":".join([_CACHE_PREFIX, *safe])


_outage = threading.Event()


def shared_cache(operation: Callable[[Any], T], fallback: T) -> T:
    """Return ``operation(cache of CACHE_ALIAS)``, or ``fallback`` if the backend fails.

    What is shared through the cache (discoveries, circuit breakers, single-flight locks,
    remote objects) can always be learned again from the peers, so a cache outage must
    not fail a read: the error is logged once per outage and the caller goes on alone.
    """
    alias = federated_settings.CACHE_ALIAS
    try:
        result = operation(caches[alias])
    except Exception as error:  # any backend's errors: Redis, memcached, database
        if not _outage.is_set():
            _outage.set()
            logger.warning(
                "The cache %r failed (%s: %s); each process keeps its own discoveries and "
                "circuit breakers, and asks peers for what it does not know, until it "
                "answers again.", alias, type(error).__name__, error,
            )
        return fallback
    if _outage.is_set():
        _outage.clear()
        logger.info("The cache %r answers again.", alias)
    return result


class NotExposed(ProtocolError):
    """The peer does not expose the type (404) or a filtered field (400 ``field_not_exposed``)."""


def _http_error(cls: type[FederationError], message: str, status: int | None,
                code: str | None) -> FederationError:
    error = cls(message)
    error.status = status  # type: ignore[attr-defined]
    error.code = code  # type: ignore[attr-defined]
    return error


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"{kind} must be an identifier; got {value!r}.")
    return value


def _type_path(app_label: str, model: str) -> str:
    return f"objects/{_check_name('app_label', app_label)}/{_check_name('model', model)}/"


class _CircuitBreaker:
    """Count consecutive failures; open after ``threshold``, half-open after ``cooldown``.

    While open, calls fail fast. Once the cooldown is over a single trial call goes
    through (others still fail fast); its success closes the circuit, its failure opens
    it for another cooldown.

    With a ``key`` the state is the whole server's, in the shared cache: the count of
    consecutive failures (``<key>:failures``), when the circuit opened (``<key>:opened``,
    a ``clock()`` value: wall time, comparable across processes) and the reservation of
    the trial (``<key>:trial``, taken with ``add`` for ``trial_timeout`` seconds, so a
    process that dies during its trial does not hold it). One worker's failures open the
    circuit for every worker. The attributes mirror what the cache said last, and carry
    on alone while the cache fails.
    """

    #: Seconds the shared state outlives its last change: a peer that nobody asked for
    #: that long starts with a closed circuit.
    memory = 3600

    def __init__(self, threshold: int, cooldown: float, clock: Any = time.time, *,
                 key: str | None = None, trial_timeout: int = 60) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial = False
        self.key = key
        self.trial_timeout = trial_timeout
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        """Return the keys of the shared state (none without a ``key``)."""
        if self.key is None:
            return []
        return [f"{self.key}:failures", f"{self.key}:opened", f"{self.key}:trial"]

    def _read_shared(self) -> dict[str, Any] | None:
        """Mirror the shared state; return it (``{"opened", "trial"}``), None if unknown."""
        if self.key is None:
            return None
        failures, opened, trial = self.keys()
        found = shared_cache(lambda cache: cache.get_many([failures, opened, trial]), None)
        if found is None:
            return None
        with self._lock:
            self.failures = int(found.get(failures, 0))
            self.opened_at = found.get(opened)
        return {"opened": found.get(opened), "trial": trial in found}

    def before(self) -> bool:
        """Return whether a request may go out now (reserving the half-open trial)."""
        self._read_shared()
        with self._lock:
            if self.opened_at is None:
                return True
            if self.trial or self.clock() - self.opened_at < self.cooldown:
                return False
            self.trial = True
        if self.key is not None and not shared_cache(
            lambda cache: cache.add(f"{self.key}:trial", True, timeout=self.trial_timeout),
            True,
        ):
            with self._lock:
                self.trial = False  # another process has the trial
            return False
        return True

    def success(self) -> None:
        """Close the circuit."""
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self.trial = False
        if self.key is not None:
            shared_cache(lambda cache: cache.delete_many(self.keys()), None)

    def failure(self) -> None:
        """Count a failure; open (or reopen) the circuit at the threshold."""
        with self._lock:
            trial, self.trial = self.trial, False
            self.failures += 1
        if self.key is not None:
            counted = shared_cache(self._count_failure, None)
            if counted is not None:
                with self._lock:
                    self.failures = counted
        if trial or self.failures >= self.threshold:
            opened = self.clock()
            with self._lock:
                self.opened_at = opened
            if self.key is not None:
                shared_cache(lambda cache: cache.set(
                    f"{self.key}:opened", opened, timeout=self.memory
                ), None)
        if trial:
            self._release_trial()

    def _count_failure(self, cache: Any) -> int:
        key = f"{self.key}:failures"
        if cache.add(key, 1, timeout=self.memory):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=self.memory)
            return 1

    def release(self) -> None:
        """End a call that neither proved nor disproved the peer's health."""
        with self._lock:
            trial, self.trial = self.trial, False
        if trial:
            self._release_trial()

    def _release_trial(self) -> None:
        if self.key is not None:
            shared_cache(lambda cache: cache.delete(f"{self.key}:trial"), None)

    @property
    def is_open(self) -> bool:
        """Return whether calls currently fail fast."""
        shared = self._read_shared()
        with self._lock:
            trial = self.trial or (shared is not None and shared["trial"])
            return self.opened_at is not None and (
                trial or self.clock() - self.opened_at < self.cooldown
            )


class _HeadersDeadline:
    """Abort a connection whose answer's headers are not all in within the read timeout.

    The socket timeout bounds each ``recv``, not the whole status line and headers: a
    peer dripping one byte at a time would hold the caller for as long as it likes. A
    timer shuts the socket down when the read timeout (what is left of ``TIMEOUT`` after
    connecting, per attempt) is over; the read then fails and is not retried.
    """

    timeout: Any
    sock: socket.socket | None
    _expired: bool = False

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        seconds = self.timeout if isinstance(self.timeout, (int, float)) else None
        if seconds is None and self.sock is not None:
            seconds = self.sock.gettimeout()
        timer = None
        self._expired = False
        if seconds is not None:
            timer = threading.Timer(seconds, self._abort)
            timer.daemon = True
            try:
                timer.start()
            except RuntimeError:
                # Python 3.12+ starts no thread once the interpreter exits (the flush of
                # deletion events at exit): each recv keeps its socket timeout, and the
                # flush its own overall bound (FLUSH_TIMEOUT).
                timer = None
        try:
            response = super().getresponse(*args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            if self._expired:
                # The shutdown made http.client see a closed connection: say what happened.
                raise TimeoutError(
                    f"The answer's headers took more than {seconds:g} s."
                ) from error
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if self._expired:
            # http.client takes the end of the stream for the end of the headers: what
            # arrived is a truncated answer, never to be used.
            response.close()
            raise TimeoutError(f"The answer's headers took more than {seconds:g} s.")
        return response

    def _abort(self) -> None:
        self._expired = True
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _DeadlineHTTPConnection(_HeadersDeadline, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_HeadersDeadline, HTTPSConnection):
    pass


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections bound the time to receive an answer's headers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPConnectionPool,
            "https": _DeadlineHTTPSConnectionPool,
        }


def _default_session(pool_size: int) -> requests.Session:
    retry = Retry(
        total=2,
        # Retry what failed fast (refused connections, 502/503/504), never a read timeout:
        # a slow peer costs one TIMEOUT per request, and the breaker stops the next ones.
        connect=1,
        read=0,
        status=2,
        backoff_factor=0.1,
        status_forcelist=(502, 503, 504),
        allowed_methods={"GET", "POST"},
        raise_on_status=False,
        # A peer must not be able to park our workers with "Retry-After: 3600".
        respect_retry_after_header=False,
    )
    adapter = _DeadlineAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class FederationClient:
    """Talk to one peer of ``PEERS`` with signed, validated requests.

    ``session`` replaces the default pooled, retrying session (tests inject one that
    calls the peer in-process; it is used as given). ``timeout`` overrides ``TIMEOUT``:
    the seconds allowed for connecting and receiving the answer's headers together, per
    attempt, and again for reading its body.
    """

    #: Consecutive failures that open the circuit.
    failure_threshold = 3
    #: Seconds the circuit stays open before one trial request is let through.
    cooldown = 30.0
    #: Answers longer than this many bytes are refused (``ProtocolError``).
    max_response_bytes = 10 * 1024 * 1024
    #: Connections kept open to the peer (parallel fetches of the resolver).
    pool_size = 10

    def __init__(
        self,
        peer: str,
        *,
        session: requests.Session | None = None,
        timeout: float | None = None,
    ) -> None:
        peers = federated_settings.PEERS
        if peer not in peers:
            raise PeerUnavailable(
                f"No peer named {peer!r} is configured in FEDERATION['PEERS'] "
                f"(configured: {sorted(peers) or 'none'})."
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}.")
        self.peer = peer
        self.url: str = peers[peer]["URL"]
        self.project: str = federated_settings.PROJECT_NAME
        self._key: str = peers[peer]["KEY"]
        self.timeout: float = float(timeout if timeout is not None else federated_settings.TIMEOUT)
        self._owns_session = session is None
        self.session = session if session is not None else _default_session(self.pool_size)
        self.breaker = _CircuitBreaker(
            self.failure_threshold, self.cooldown, key=self._shared_key("breaker"),
            # A trial is one request: connecting and the headers, then the body, each
            # within the timeout.
            trial_timeout=math.ceil(2 * self.timeout) + 1,
        )
        self._answers = AnswerValidator(peer, self.url)
        self._discovery: dict[str, Any] | None = None
        self._discovery_lock = threading.Lock()
        self._last_failure: str | None = None

    def __repr__(self) -> str:
        return f"<FederationClient peer={self.peer!r} url={self.url!r}>"

    @property
    def config(self) -> tuple[str, str, str, float]:
        """Return what this client was built from: (URL, KEY, PROJECT_NAME, timeout)."""
        return (self.url, self._key, self.project, self.timeout)

    def close(self) -> None:
        """Close the pooled connections of a session this client created."""
        if self._owns_session:
            self.session.close()

    def _shared_key(self, what: str) -> str:
        return _peer_key(self.peer, self.url, what)

    # -- transport ---------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Iterable[tuple[str, str]] = (),
              payload: Any = None) -> tuple[int, Any]:
        """Send one signed request; return ``(status, decoded JSON)`` of a 2xx answer."""
        if not self.breaker.before():
            last = f" Last failure: {self._last_failure}" if self._last_failure else ""
            raise PeerUnavailable(
                f"Peer {self.peer!r} ({self.url}) failed {self.breaker.failures} times in a "
                f"row; not asking it again for up to {self.breaker.cooldown:g} s (circuit "
                f"open).{last}"
            )
        status: int | None = None
        try:
            status, data = self._exchange(method, path, params, payload)
        except PeerUnavailable as error:
            self._last_failure = str(error)
            self.breaker.failure()
            raise
        except ProtocolError as error:
            # A 5xx, a redirect or an answer that is not JSON means the peer (or its URL)
            # is unwell; a 4xx means it is up and the caller asked something wrong.
            code = getattr(error, "status", None)
            if code is not None and 400 <= code < 500:
                self.breaker.success()
            else:
                self._last_failure = str(error)
                self.breaker.failure()
            raise
        except FederationError:
            self.breaker.success()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()
        return status, data

    def _exchange(self, method: str, path: str, params: Iterable[tuple[str, str]],
                  payload: Any) -> tuple[int, Any]:
        url = urljoin(self.url, path)
        query = urlencode(list(params))
        if query:
            url = f"{url}?{query}"
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        prepared = self.session.prepare_request(
            requests.Request(method, url, headers=headers, data=body)
        )
        sign_prepared_request(prepared, project=self.project, key=self._key)
        status: int | None = None
        try:
            env = self.session.merge_environment_settings(
                prepared.url or url, {}, True, None, None
            )
            try:
                response = self.session.send(
                    prepared,
                    # urllib3's Timeout works here; the stubs only know (connect, read).
                    timeout=Timeout(total=self.timeout),  # type: ignore[arg-type]
                    allow_redirects=False,
                    **env,
                )
            except requests.RequestException as error:
                raise PeerUnavailable(
                    f"Peer {self.peer!r} did not answer {method} {self._where(url)}: "
                    f"{self._cause(error)}."
                ) from error
            status = response.status_code
            try:
                content = self._read(response, method, path)
            finally:
                response.close()
            return status, self._decode(status, response, content, method, path)
        finally:
            signals.peer_request.send(
                sender=type(self), peer=self.peer, method=method, path=path, status=status
            )

    def _read(self, response: requests.Response, method: str, path: str) -> bytes:
        """Read the body, refusing more than ``max_response_bytes`` or than the timeout."""
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _http_error(
                ProtocolError,
                f"Peer {self.peer!r} announced a {declared}-byte answer to {method} {path}; "
                f"the limit is {limit} bytes.",
                None, "too_large",
            )
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        if BaseHTTPResponse is not None and isinstance(raw, BaseHTTPResponse):
            # read1() returns what has arrived, so the deadline is checked as a slow peer
            # drips its answer; iter_content() would wait for each 64 KiB to fill up.
            pieces = iter(lambda: raw.read1(64 * 1024, decode_content=True), b"")
        else:
            pieces = response.iter_content(64 * 1024)
        try:
            for chunk in pieces:
                size += len(chunk)
                if size > limit:
                    raise _http_error(
                        ProtocolError,
                        f"Peer {self.peer!r} sent more than {limit} bytes in answer to "
                        f"{method} {path}.",
                        None, "too_large",
                    )
                if time.monotonic() > deadline:
                    raise PeerUnavailable(
                        f"Peer {self.peer!r} took more than {self.timeout:g} s to send its "
                        f"answer to {method} {self._where(response.url)} (FEDERATION['TIMEOUT'])."
                    )
                chunks.append(chunk)
        except (requests.RequestException, URLLib3Error, OSError) as error:
            raise PeerUnavailable(
                f"Peer {self.peer!r} broke off its answer to {method} "
                f"{self._where(response.url)}: {self._cause(error)}."
            ) from error
        return b"".join(chunks)

    def _decode(self, status: int, response: requests.Response, content: bytes,
                method: str, path: str) -> Any:
        """Return the JSON of a 2xx answer, or raise the error the status maps to."""
        where = f"Peer {self.peer!r} answered {method} {self._where(response.url)} with {status}"
        if 300 <= status < 400:
            raise _http_error(
                ProtocolError, f"{where} (a redirect, which the protocol never uses).",
                status, None,
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        data: Any = None
        if media_type == "application/json":
            try:
                data = json.loads(content, parse_constant=_refuse_constant)
            except (ValueError, RecursionError):
                data = None
        if 200 <= status < 300:
            if media_type != "application/json" or not isinstance(data, dict):
                raise _http_error(
                    ProtocolError, f"{where} but its body is not a JSON object.", status, None
                )
            return data
        code, message = _error_of(data)
        detail = f"{where} ({code or 'no error code'}): {message or 'no message'}"
        if status in (401, 403):
            raise _http_error(PeerAuthError, f"{detail} {self._auth_hint(code)}", status, code)
        if (status == 404 and code == "not_exposed") or (
            status == 400 and code == "field_not_exposed"
        ):
            raise _http_error(NotExposed, detail, status, code)
        if status in _UNAVAILABLE_STATUSES:
            raise _http_error(PeerUnavailable, detail, status, code)
        raise _http_error(ProtocolError, detail, status, code)

    # -- error messages ----------------------------------------------------------------

    def _where(self, url: str | None) -> str:
        """Return ``url`` without its query string (filter values stay out of logs)."""
        if not url:
            return self.url
        return url.split("?", 1)[0]

    def _cause(self, error: BaseException) -> str:
        return transport_cause(error, peer=self.peer, url=self.url, timeout=self.timeout)

    def _auth_hint(self, code: str | None) -> str:
        return signature_hint(code, peer=self.peer, project=self.project)

    # -- endpoints ---------------------------------------------------------------------

    def discover(self) -> dict[str, Any]:
        """Return the peer's discovery answer, asked at most once per client.

        ``{"protocol": 1, "project": <peer>, "max_batch": int, "types": [{"app_label",
        "model", "fields"}]}``; a peer speaking another version or calling itself by
        another name than ours for it is a ``ProtocolError``. The answer is shared with
        every worker through the cache for ``CACHE_TTL`` (300 s when that is 0): a
        client finding it there does not ask.
        """
        discovery = self._discovery
        if discovery is not None:
            return discovery
        with self._discovery_lock:
            discovery = self._discovery or self._shared_discovery()
            if discovery is None:
                _status, data = self._send("GET", "types/")
                discovery = self._answers.discovery(data)
                key, ttl = self._shared_key("discovery"), federated_settings.CACHE_TTL or 300
                shared_cache(lambda cache: cache.set(key, discovery, timeout=ttl), None)
                self._discovery = discovery
            return discovery

    def _shared_discovery(self) -> dict[str, Any] | None:
        """Keep and return the discovery another worker cached, if there is one."""
        key = self._shared_key("discovery")
        discovery = shared_cache(lambda cache: cache.get(key), None)
        if isinstance(discovery, dict):
            self._discovery = discovery
            return discovery
        return None

    def max_batch(self) -> int:
        """Return how many pks the peer accepts per batch lookup (from its discovery)."""
        return int(self.discover()["max_batch"])

    def page_size(self) -> int:
        """Return the pks per batch request: the known ``max_batch``, else the default.

        Known means discovered by this client or by any worker (the shared cache); the
        peer is not asked.
        """
        discovery = self._discovery or self._shared_discovery()
        return int(discovery["max_batch"]) if discovery is not None else DEFAULT_MAX_BATCH

    def fetch(self, app_label: str, model: str, pks: Iterable[str]) -> dict[str, Any]:
        """Return ``{"objects": [...], "missing": [...]}`` for ``pks`` of a peer's type.

        Ask in pages of the peer's ``max_batch`` and merge them. Without a discovery yet
        the first page holds up to ``DEFAULT_MAX_BATCH`` pks, so a cold lookup costs one
        request; a 413 answer makes the client discover the cap and split again. Each
        object is ``{"pk", "str", "fields"}`` and ``str(pk)`` is one of ``pks``; every
        requested pk is answered exactly once, as an object or as missing.
        """
        path = _type_path(app_label, model) + "batch/"
        if isinstance(pks, (str, bytes)):
            raise TypeError("pks must be a list of strings, not a string.")
        wanted = list(dict.fromkeys(pks))
        if not all(isinstance(pk, str) and pk for pk in wanted):
            raise TypeError("pks must be non-empty strings.")
        objects: list[dict[str, Any]] = []
        missing: list[str] = []
        start = 0
        while start < len(wanted):
            size = self.page_size()
            page = wanted[start:start + size]
            try:
                _status, data = self._send("POST", path, payload={"pks": page})
            except ProtocolError as error:
                known = self._discovery is not None
                if getattr(error, "code", None) != "too_many" or known:
                    raise
                self.discover()  # learn the real cap, then split again from here
                continue
            page_objects, page_missing = self._answers.batch(data, page)
            objects.extend(page_objects)
            missing.extend(page_missing)
            start += len(page)
        return {"objects": objects, "missing": missing}

    def send_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Deliver events to the peer; return ``{"accepted": [event ids]}``.

        The events are sent in pages of the peer's cap; every accepted id must be one we
        sent. A peer that does not take events answers 501, a ``ProtocolError`` whose
        ``code`` is ``"not_implemented"``.
        """
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise TypeError("events must be a list of dicts.")
        accepted: list[str] = []
        start = 0
        while start < len(events):
            page = events[start:start + self.page_size()]
            _status, data = self._send("POST", "events/", payload={"events": page})
            accepted.extend(self._answers.acknowledgement(data, page))
            start += len(page)
        return {"accepted": accepted}

    def check_events(self) -> None:
        """Send an empty batch of events; raise unless the peer's events endpoint takes it.

        A peer that does not mount the events endpoint answers 404 (a ``ProtocolError``
        whose ``status`` is 404) and would never receive this server's deletion events.
        """
        _status, data = self._send("POST", "events/", payload={"events": []})
        self._answers.empty_acknowledgement(data)

    def list(
        self,
        app_label: str,
        model: str,
        *,
        cursor: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
        search: str | None = None,
    ) -> dict[str, Any]:
        """Return one page ``{"objects": [...], "next": cursor or None}`` of a peer's type.

        ``filters`` are equalities on exposed fields (values sent as text: ``True`` as
        ``"true"``); ``search`` keeps the objects holding each of its words in one of the
        fields the peer lets be searched; ``next`` is passed back as ``cursor`` (with the
        same filters and search) for the following page.
        """
        path = _type_path(app_label, model)
        params: list[tuple[str, str]] = []
        if limit is not None:
            if not _is_int(limit) or limit < 1:
                raise ValueError(f"limit must be a positive integer; got {limit!r}.")
            params.append(("limit", str(limit)))
        if cursor is not None:
            if not isinstance(cursor, str):
                raise TypeError(f"cursor must be the string of a previous page; got {cursor!r}.")
            params.append(("cursor", cursor))
        if search is not None:
            if not isinstance(search, str):
                raise TypeError(f"search must be a string; got {search!r}.")
            params.append(("search", search))
        for name, value in (filters or {}).items():
            if name in LISTING_PARAMS or not isinstance(name, str):
                raise ValueError(f"Cannot filter on {name!r}: it is not a field name.")
            params.append((name, filter_text(name, value)))
        _status, data = self._send("GET", path, params=params)
        objects, cursor = self._answers.page(data, limit=limit)
        return {"objects": objects, "next": cursor}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error_of(data: Any) -> tuple[str | None, str | None]:
    """Return (code, message) of a protocol error body, or Nones if it is not one."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message[:500] if isinstance(message, str) else None,
    )


def _peer_key(peer: str, url: str, what: str) -> str:
    """Return the shared cache key of ``what`` (discovery, breaker) of ``peer`` at ``url``."""
    return shared_key("peer", peer, url, what)


def _shared_keys(peer: str, url: str) -> list[str]:
    """Return every key of what the workers share of ``peer`` at ``url``."""
    breaker = _peer_key(peer, url, "breaker")
    return [_peer_key(peer, url, "discovery"),
            *(f"{breaker}:{part}" for part in ("failures", "opened", "trial"))]


_clients: dict[str, FederationClient] = {}
_clients_lock = threading.Lock()


def get_client(peer: str) -> FederationClient:
    """Return this process's client of ``peer`` (``PeerUnavailable`` if not in ``PEERS``).

    The client is built once and shared, so its pooled connections, discovery and circuit
    breaker are per peer per process. Changing the settings (``conf.on_reload``) drops
    every client; a client built from other values than the current settings (URL, KEY,
    ``PROJECT_NAME``, ``TIMEOUT``) is never returned.
    """
    peers = federated_settings.PEERS
    if peer not in peers:
        raise PeerUnavailable(
            f"No peer named {peer!r} is configured in FEDERATION['PEERS'] "
            f"(configured: {sorted(peers) or 'none'})."
        )
    wanted = (
        peers[peer]["URL"],
        peers[peer]["KEY"],
        federated_settings.PROJECT_NAME,
        float(federated_settings.TIMEOUT),
    )
    with _clients_lock:
        client = _clients.get(peer)
        if client is None or client.config != wanted:
            if client is not None:
                client.close()
            client = _clients[peer] = FederationClient(peer)
        return client


@on_reload
def reset_clients() -> None:
    """Drop every cached client: new sessions, discoveries and closed circuits.

    What the workers share of the dropped clients' peers and of the configured ones is
    forgotten too (the settings changed: what was learned of them may no longer hold).
    """
    with _clients_lock:
        dropped = list(_clients.values())
        _clients.clear()
    keys = []
    for client in dropped:
        client.close()
        keys.extend(_shared_keys(client.peer, client.url))
    try:
        configured = federated_settings.PEERS
    except ImproperlyConfigured:  # the new settings are invalid: nothing to ask or forget
        return
    for name, peer in configured.items():
        keys.extend(_shared_keys(name, peer["URL"]))
    if keys:
        shared_cache(lambda cache: cache.delete_many(keys), None)
