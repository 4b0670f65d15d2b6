"""The one place that reads this app's settings.

Every key of the ``FEDERATION`` dict has a default in ``DEFAULTS``; ``federated_settings``
validates the whole dict the first time it is read (and again after ``setting_changed``),
so a malformed setting fails at startup with ``ImproperlyConfigured`` naming the key.
No other module reads ``settings.FEDERATION``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = [
    "DEFAULTS", "SHARED_PROJECT", "ExposedFields", "federated_settings", "FederatedSettings"
]

#: The reserved project of synchronized tables present on every server.
SHARED_PROJECT = "shared"

DEFAULTS: dict[str, Any] = {
    "PROJECT_NAME": None,
    "PEERS": {},
    "EXPOSE": {},
    "TIMEOUT": 2.0,
    "CACHE_ALIAS": "default",
    "CACHE_TTL": 300,
    "ON_REMOTE_ERROR": "placeholder",
    # Delivery of deletion events (events.py): the first retry waits RETRY_BACKOFF
    # seconds, each further one twice as long, at most RETRY_BACKOFF_MAX; at exit a
    # process waits at most FLUSH_TIMEOUT seconds for its events (0: not at all).
    "RETRY_BACKOFF": 1.0,
    "RETRY_BACKOFF_MAX": 300.0,
    "FLUSH_TIMEOUT": 5.0,
}

ON_REMOTE_ERROR_CHOICES = ("placeholder", "raise")
_PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_MODEL_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


def _is_absolute_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _fail(key: str, expected: str, got: Any) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"FEDERATION[{key}] must be {expected}; got {got!r}.")


def _validate_project_name(value: Any, key: str = "'PROJECT_NAME'") -> str:
    if not isinstance(value, str) or not _PROJECT_NAME_RE.match(value):
        raise _fail(key, "a non-empty string of letters, digits, '_', '-' or '.'", value)
    if value == SHARED_PROJECT:
        raise _fail(key, f"a name other than the reserved {SHARED_PROJECT!r}", value)
    return value


def _validate_peers(peers: Any, project_name: str) -> dict[str, dict[str, str]]:
    if not isinstance(peers, dict):
        raise _fail("'PEERS'", "a dict of peer name -> {'URL': ..., 'KEY': ...}", peers)
    clean = {}
    for name, peer in peers.items():
        key = f"'PEERS'][{name!r}"
        _validate_project_name(name, key)
        if name == project_name:
            raise _fail(key, "another server than this one (PROJECT_NAME)", name)
        if not isinstance(peer, dict):
            raise _fail(key, "a dict with 'URL' and 'KEY'", peer)
        unknown = set(peer) - {"URL", "KEY"}
        if unknown:
            raise _fail(key, "a dict with only 'URL' and 'KEY'", sorted(unknown))
        url = peer.get("URL")
        if not isinstance(url, str) or not _is_absolute_http_url(url):
            raise _fail(f"{key}]['URL'", "an absolute http(s) URL", url)
        secret = peer.get("KEY")
        if not isinstance(secret, str) or not secret:
            raise _fail(f"{key}]['KEY'", "a non-empty shared secret string", secret)
        clean[name] = {"URL": url if url.endswith("/") else url + "/", "KEY": secret}
    return clean


class ExposedFields(tuple):
    """The exposed field names of one ``EXPOSE`` entry, and the ones peers may search.

    A tuple of the names (so code reading ``EXPOSE[label]`` as a list of fields keeps
    working) with ``search``: the names the listing's ``search`` parameter looks in.
    """

    search: tuple[str, ...]

    def __new__(cls, fields: Any = (), search: Any = ()) -> ExposedFields:
        """Return the names ``fields``, searchable in ``search``."""
        value = super().__new__(cls, fields)
        value.search = tuple(search)
        return value


def _is_names(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(name, str) and name for name in value
    )


def _validate_expose(expose: Any) -> dict[str, ExposedFields]:
    if not isinstance(expose, dict):
        raise _fail("'EXPOSE'", "a dict of 'app_label.Model' -> list of field names", expose)
    clean = {}
    for label, entry in expose.items():
        if not isinstance(label, str) or not _MODEL_LABEL_RE.match(label):
            raise _fail("'EXPOSE'", "keys of the form 'app_label.Model'", label)
        key = f"'EXPOSE'][{label!r}"
        if isinstance(entry, dict):
            # The long form: {"fields": [...], "search": [...]}; "search" is optional.
            if not set(entry) <= {"fields", "search"} or "fields" not in entry:
                raise _fail(key, "a dict with 'fields' and optionally 'search'", entry)
            fields, search = entry["fields"], entry.get("search", ())
            if not _is_names(fields):
                raise _fail(f"{key}]['fields'", "a list of field names", fields)
            if not _is_names(search):
                raise _fail(f"{key}]['search'", "a list of field names", search)
            # Searching a field reveals its values: only exposed fields may be searched.
            hidden = [name for name in search if name not in fields]
            if hidden:
                raise _fail(f"{key}]['search'", "names listed in 'fields'", hidden)
            clean[label] = ExposedFields(fields, search)
        elif _is_names(entry):
            clean[label] = ExposedFields(entry)
        else:
            raise _fail(key, "a list of field names or {'fields': [...], 'search': [...]}",
                        entry)
    return clean


#: The largest value of each number setting, in seconds: beyond, a value is a mistake
#: (a day between two retries; ten minutes per request or for the exit's delivery; a year
#: in the cache), and a huge one would overflow the ``timedelta`` or ``sleep`` it becomes.
MAXIMUMS: dict[str, float] = {
    "TIMEOUT": 600.0,
    "CACHE_TTL": 365 * 86400.0,
    "RETRY_BACKOFF": 86400.0,
    "RETRY_BACKOFF_MAX": 86400.0,
    "FLUSH_TIMEOUT": 600.0,
}


def _validate_number(key: str, value: Any, *, integer: bool, allow_zero: bool) -> Any:
    kinds = (int,) if integer else (int, float)
    # NaN compares false with everything: without isfinite it would pass every bound.
    if (isinstance(value, bool) or not isinstance(value, kinds)
            or (isinstance(value, float) and not math.isfinite(value)) or value < 0):
        raise _fail(f"'{key}'", "a finite non-negative number", value)
    if not allow_zero and value == 0:
        raise _fail(f"'{key}'", "a positive number", value)
    if value > MAXIMUMS[key]:
        raise _fail(f"'{key}'", f"at most {MAXIMUMS[key]:g} (seconds)", value)
    return value


def load_settings() -> dict[str, Any]:
    """Read, merge with ``DEFAULTS`` and validate the user's settings."""
    user = getattr(settings, "FEDERATION", None)
    legacy = getattr(settings, "FEDERATION_PROJECT_NAME", None)
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured(f"FEDERATION must be a dict; got {user!r}.")
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"FEDERATION has unknown keys {sorted(unknown)}; "
            f"the known keys are {sorted(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **user}
    if legacy is not None:
        if "PROJECT_NAME" in user and user["PROJECT_NAME"] != legacy:
            raise ImproperlyConfigured(
                "FEDERATION_PROJECT_NAME and FEDERATION['PROJECT_NAME'] disagree "
                f"({legacy!r} != {user['PROJECT_NAME']!r}); set only one."
            )
        merged["PROJECT_NAME"] = legacy
    if merged["PROJECT_NAME"] is None:
        raise ImproperlyConfigured(
            "FEDERATION['PROJECT_NAME'] is required: the name of this server in the "
            "federation (or set the older FEDERATION_PROJECT_NAME)."
        )
    merged["PROJECT_NAME"] = _validate_project_name(merged["PROJECT_NAME"])
    merged["PEERS"] = _validate_peers(merged["PEERS"], merged["PROJECT_NAME"])
    merged["EXPOSE"] = _validate_expose(merged["EXPOSE"])
    _validate_number("TIMEOUT", merged["TIMEOUT"], integer=False, allow_zero=False)
    _validate_number("CACHE_TTL", merged["CACHE_TTL"], integer=True, allow_zero=True)
    _validate_number("RETRY_BACKOFF", merged["RETRY_BACKOFF"], integer=False, allow_zero=False)
    _validate_number(
        "RETRY_BACKOFF_MAX", merged["RETRY_BACKOFF_MAX"], integer=False, allow_zero=False
    )
    if merged["RETRY_BACKOFF_MAX"] < merged["RETRY_BACKOFF"]:
        raise _fail("'RETRY_BACKOFF_MAX'", "at least RETRY_BACKOFF", merged["RETRY_BACKOFF_MAX"])
    _validate_number("FLUSH_TIMEOUT", merged["FLUSH_TIMEOUT"], integer=False, allow_zero=True)
    alias = merged["CACHE_ALIAS"]
    if not isinstance(alias, str) or alias not in settings.CACHES:
        raise _fail("'CACHE_ALIAS'", f"one of settings.CACHES {sorted(settings.CACHES)}", alias)
    if merged["ON_REMOTE_ERROR"] not in ON_REMOTE_ERROR_CHOICES:
        raise _fail("'ON_REMOTE_ERROR'", f"one of {ON_REMOTE_ERROR_CHOICES}",
                    merged["ON_REMOTE_ERROR"])
    return merged


class FederatedSettings:
    """Attribute access to the validated ``FEDERATION`` settings, e.g. ``.PROJECT_NAME``."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid federation setting: {name!r}")
        if self._values is None:
            self._values = load_settings()
        return self._values[name]

    def reload(self) -> None:
        """Forget the cached values; the next read validates the settings again."""
        self._values = None

    def validate(self) -> None:
        """Load and validate now (``AppConfig.ready`` calls this at startup)."""
        self.reload()
        self._values = load_settings()


federated_settings = FederatedSettings()


#: What each module derived from the settings, dropped when they change (``on_reload``).
_RELOAD_HOOKS: list[Callable[[], None]] = []


def on_reload(hook: Callable[[], None]) -> Callable[[], None]:
    """Register ``hook`` to run when the federation settings change (a decorator).

    The one listener of Django's ``setting_changed`` is here: modules that keep something
    derived from the settings (clients, the exposure registry, the type cache, receivers)
    register a hook instead of each filtering ``setting_changed`` themselves.
    """
    _RELOAD_HOOKS.append(hook)
    return hook


def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in ("FEDERATION", "FEDERATION_PROJECT_NAME", "CACHES"):
        federated_settings.reload()
        for hook in _RELOAD_HOOKS:
            hook()


setting_changed.connect(_reload_settings)
