"""The wire format of the federation (``docs/protocol.md``): what the client and views share.

The version both sides speak, the limits of a request, the events and the one check of a
peer's answers. ``AnswerValidator`` is run by ``client.py`` on every answer before the
answer is returned, so the rest of the package only ever holds well-formed data;
``validate_event`` is run by ``views.py`` on every event a peer sends. Nothing here does
I/O or reads settings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from .exceptions import ProtocolError

__all__ = [
    "DEFAULT_MAX_BATCH",
    "EVENT_DELETED",
    "EVENT_KEYS",
    "EVENT_TYPES",
    "FILTER_BOOLEANS",
    "LISTING_PARAMS",
    "MAX_PK_LENGTH",
    "PROTOCOL_VERSION",
    "AnswerValidator",
    "Entry",
    "MalformedEvent",
    "filter_text",
    "is_unicode",
    "validate_event",
]

PROTOCOL_VERSION = 1
#: Pks a client sends per batch before it knows the peer's cap; a server with a lower cap
#: answers 413 ``too_many`` and the client discovers the cap and splits again.
DEFAULT_MAX_BATCH = 500
#: The longest pk string of a batch lookup or an event.
MAX_PK_LENGTH = 255
#: Query parameters of a listing that are not field filters.
LISTING_PARAMS = frozenset({"limit", "cursor", "search"})
#: A listing filter on a boolean field is written as JSON writes booleans.
FILTER_BOOLEANS = {"true": True, "false": False}

EVENT_DELETED = "deleted"
#: The event types of this version.
EVENT_TYPES = frozenset({EVENT_DELETED})
#: The keys of every event, each a non-empty string.
EVENT_KEYS = frozenset({"id", "type", "app_label", "model", "pk"})

#: One object of an answer: ``{"pk": int | str, "str": str, "fields": {name: value}}``.
Entry = dict[str, Any]

_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def is_unicode(value: str) -> bool:
    """Return whether ``value`` is encodable text (JSON may hold lone surrogates)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def filter_text(name: str, value: Any) -> str:
    """Return how a listing filter on field ``name`` sends ``value``: as text.

    The text is what ``DjangoJSONEncoder`` writes (decimals, dates), booleans as in JSON;
    the server parses it with the field. There is no filter for null or collections.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (dict, list, tuple, set, bytes)):
        raise ValueError(f"The filter on {name!r} needs a scalar value; got {value!r}.")
    encoded = json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    return encoded if isinstance(encoded, str) else str(encoded)


class AnswerValidator:
    """Check the answers of one peer; an answer that breaks the protocol is a ProtocolError.

    Each check returns what it validated, so callers keep only checked data. ``url`` is
    the peer's base URL, named when its discovery calls the server by another name.
    """

    def __init__(self, peer: str, url: str) -> None:
        self.peer = peer
        self.url = url

    def discovery(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return a discovery of our version, of the peer we think we ask."""

        def bad(what: str) -> ProtocolError:
            return ProtocolError(f"Peer {self.peer!r} sent a malformed discovery: {what}.")

        if set(data) != {"protocol", "project", "max_batch", "types"}:
            raise bad("expected exactly protocol, project, max_batch and types")
        if data["protocol"] != PROTOCOL_VERSION or isinstance(data["protocol"], bool):
            raise ProtocolError(
                f"Peer {self.peer!r} speaks protocol {data['protocol']!r}; this server "
                f"speaks {PROTOCOL_VERSION}."
            )
        if data["project"] != self.peer:
            raise ProtocolError(
                f"The server at {self.url} calls itself {data['project']!r}, not "
                f"{self.peer!r}: check FEDERATION['PEERS'][{self.peer!r}]['URL']."
            )
        max_batch = data["max_batch"]
        if not _is_int(max_batch) or max_batch < 1:
            raise bad("max_batch must be a positive integer")
        if not isinstance(data["types"], list):
            raise bad("types must be a list")
        for entry in data["types"]:
            if (
                not isinstance(entry, dict)
                or set(entry) != {"app_label", "model", "fields"}
                or not isinstance(entry["app_label"], str)
                or not isinstance(entry["model"], str)
                or not isinstance(entry["fields"], list)
                or not all(isinstance(name, str) for name in entry["fields"])
            ):
                raise bad("each type must be {app_label, model, fields: [names]}")
        return data

    def batch(self, data: dict[str, Any], asked: list[str]) -> tuple[list[Entry], list[str]]:
        """Return the objects and missing pks of a batch answer to the pks ``asked``.

        Every pk asked is answered exactly once, as an object whose ``str(pk)`` is it or
        in ``missing``, and nothing else is.
        """
        if set(data) != {"objects", "missing"}:
            raise ProtocolError(
                f"Peer {self.peer!r} answered a batch lookup without exactly 'objects' and "
                "'missing'."
            )
        objects = self._objects(data["objects"])
        missing = data["missing"]
        if not isinstance(missing, list) or not all(isinstance(pk, str) for pk in missing):
            raise ProtocolError(
                f"Peer {self.peer!r} sent 'missing' that is not a list of strings."
            )
        answered = [str(obj["pk"]) for obj in objects] + missing
        if len(answered) != len(set(answered)) or set(answered) != set(asked):
            raise ProtocolError(
                f"Peer {self.peer!r} did not answer each requested pk exactly once "
                f"({len(asked)} asked, {len(objects)} objects and {len(missing)} missing, "
                f"{len(set(answered) - set(asked))} not asked for)."
            )
        return objects, missing

    def page(self, data: dict[str, Any], *, limit: int | None) -> tuple[list[Entry], str | None]:
        """Return the objects and next cursor of a listing page of at most ``limit`` objects."""
        if set(data) != {"objects", "next"}:
            raise ProtocolError(
                f"Peer {self.peer!r} answered a listing without exactly 'objects' and 'next'."
            )
        objects = self._objects(data["objects"])
        pks = [str(obj["pk"]) for obj in objects]
        if len(pks) != len(set(pks)) or (limit is not None and len(pks) > limit):
            raise ProtocolError(
                f"Peer {self.peer!r} sent a listing page with repeated or too many objects."
            )
        cursor = data["next"]
        if cursor is not None and not (isinstance(cursor, str) and cursor):
            raise ProtocolError(f"Peer {self.peer!r} sent a 'next' cursor that is not a string.")
        return objects, cursor

    def acknowledgement(self, data: dict[str, Any], sent: list[dict[str, Any]]) -> list[str]:
        """Return the ids the peer accepted, each one of the events ``sent``."""
        ids = data.get("accepted")
        sent_ids = {str(event.get("id")) for event in sent}
        if (
            set(data) != {"accepted"}
            or not isinstance(ids, list)
            or not all(isinstance(event_id, str) and event_id in sent_ids for event_id in ids)
        ):
            raise ProtocolError(
                f"Peer {self.peer!r} answered events without a list of the ids we sent."
            )
        return ids

    def empty_acknowledgement(self, data: dict[str, Any]) -> None:
        """Check the answer to an empty batch of events (the probe of ``federation_check``)."""
        if data != {"accepted": []}:
            raise ProtocolError(
                f"Peer {self.peer!r} answered an empty batch of events with something "
                "other than {\"accepted\": []}."
            )

    def _objects(self, objects: Any) -> list[Entry]:
        if not isinstance(objects, list):
            raise ProtocolError(f"Peer {self.peer!r} sent 'objects' that is not a list.")
        for obj in objects:
            if (
                not isinstance(obj, dict)
                or set(obj) != {"pk", "str", "fields"}
                or not (_is_int(obj["pk"]) or isinstance(obj["pk"], str))
                or not isinstance(obj["str"], str)
                or not isinstance(obj["fields"], dict)
            ):
                raise ProtocolError(
                    f"Peer {self.peer!r} sent an object that is not "
                    "{pk: int or string, str: string, fields: object}."
                )
        return objects


class MalformedEvent(ValueError):
    """An event no receiver could ever apply: the sender must drop it (400 ``bad_event``)."""


def validate_event(event: Any, *, name_lengths: Mapping[str, int]) -> dict[str, str]:
    """Return ``event`` if a receiver can apply it, else raise ``MalformedEvent``.

    ``name_lengths``: the longest ``app_label`` and ``model`` the receiver can store.
    """
    if not isinstance(event, dict) or set(event) != EVENT_KEYS:
        raise MalformedEvent(
            f"Each event must be an object with exactly the keys {sorted(EVENT_KEYS)}."
        )
    if not all(isinstance(value, str) and value for value in event.values()):
        raise MalformedEvent("Every key of an event must be a non-empty string.")
    try:
        canonical = str(uuid.UUID(event["id"]))
    except ValueError:
        canonical = None
    if canonical != event["id"]:
        # One spelling per id, so the receiver's ids and the sender's compare equal.
        raise MalformedEvent(
            "An event id must be a UUID in canonical (lower-case, hyphenated) form."
        )
    if event["type"] not in EVENT_TYPES:
        raise MalformedEvent(f"Event types are {sorted(EVENT_TYPES)}.")
    if len(event["pk"]) > MAX_PK_LENGTH:
        raise MalformedEvent(f"An event pk has at most {MAX_PK_LENGTH} characters.")
    if not all("\x00" not in value and is_unicode(value) for value in event.values()):
        # Such an event could never be stored (no column holds half a surrogate pair,
        # PostgreSQL no NUL): a 400 tells the sender to drop it rather than retry forever.
        raise MalformedEvent("An event holds text no database can store.")
    for key in ("app_label", "model"):
        # The names of a type that could be a row of the tables that record it, nothing
        # longer (PostgreSQL would refuse it with a 500, SQLite store it).
        longest = name_lengths[key]
        if len(event[key]) > longest or not _IDENTIFIER_RE.match(event[key]):
            raise MalformedEvent(
                f"An event's {key!r} must be an identifier of at most {longest} characters."
            )
    return event
