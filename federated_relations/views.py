"""The peer endpoints of the federation protocol (``docs/protocol.md``, version 1).

Every endpoint verifies the request's signature before it looks at anything else (the
URL's model included), so an unsigned or forged request learns nothing about what this
server exposes. Only models and fields of ``registry.py`` are served. Every error is a
JSON ``{"error": {"code", "message"}}`` without stack traces or field values. What the
client shares (the version, the pk limit, the shape of an event) is in ``protocol.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.core import signing as django_signing
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.lookups import In
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from .conf import federated_settings
from .events import receive_events
from .keys import is_plain_integer_field, is_text_field, pk_to_string
from .models import GenericContentType, ReceivedEvent
from .protocol import (
    FILTER_BOOLEANS,
    MAX_PK_LENGTH,
    PROTOCOL_VERSION,
    MalformedEvent,
    is_unicode,
    validate_event,
)
from .registry import ExposedType, exposed_types, get_exposed_type, search_filter, serialize
from .signing import SignatureError, verify_request

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_BATCH",
    "MAX_SEARCH_LENGTH",
    "MAX_SEARCH_WORDS",
    "ApiError",
    "batch",
    "events",
    "listing",
    "not_found",
    "types",
]

logger = logging.getLogger("federated_relations.views")

#: The most pks one batch lookup (or events one events request) may carry.
MAX_BATCH = 500
#: Objects per listing page when the request gives no ``limit``.
DEFAULT_LIMIT = 100
#: The longest ``search`` term of a listing, and the most words it may hold.
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10
_CURSOR_SALT = "federated_relations.views.cursor"
_RANGE_VALIDATORS = (MinValueValidator, MaxValueValidator)

View = Callable[..., HttpResponse]


class ApiError(Exception):
    """Answer the request with a JSON error of ``status`` and protocol ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(data: Any, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status, encoder=DjangoJSONEncoder, safe=False)
    # Answers depend on who signed the request: no shared cache may keep them.
    patch_cache_control(response, private=True, no_store=True)
    return response


def _error(status: int, code: str, message: str) -> JsonResponse:
    return _json({"error": {"code": code, "message": message}}, status=status)


def _endpoint(*methods: str) -> Callable[[View], View]:
    """Wrap a view: CSRF-exempt, signature first, then method, then JSON errors only.

    No ``methods`` means any method is allowed.
    """

    def decorator(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                sender = verify_request(request)
            except SignatureError as error:
                return _error(error.status, error.code, str(error))
            except RequestDataTooBig:
                return _error(413, "too_large", "The request body is too large.")
            if methods and request.method not in methods:
                response = _error(
                    405,
                    "method_not_allowed",
                    f"Use {' or '.join(methods)} on this endpoint.",
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, sender, *args, **kwargs)
            except ApiError as error:
                return _error(error.status, error.code, error.message)
            except Exception:
                # The log keeps the traceback; the peer gets no detail of it.
                logger.exception("Federation endpoint %s failed", request.path)
                return _error(500, "server_error", "The server failed to answer.")

        return wrapper

    return decorator


def _exposed(app_label: str, model: str) -> ExposedType:
    exposed = get_exposed_type(app_label, model)
    if exposed is None:
        raise ApiError(404, "not_exposed", "This type is not exposed to peers.")
    return exposed


def _json_body(request: HttpRequest, key: str) -> list[Any]:
    """Return the list under ``key`` of a JSON object body that has only that key."""
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise ApiError(400, "bad_request", "The body must be application/json.")
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "bad_request", "The body is not valid JSON.") from None
    if not isinstance(data, dict) or set(data) != {key}:
        raise ApiError(400, "bad_request", f"The body must be an object with only {key!r}.")
    if not isinstance(data[key], list):
        raise ApiError(400, "bad_request", f"{key!r} must be a list.")
    if len(data[key]) > MAX_BATCH:
        raise ApiError(
            413, "too_many", f"At most {MAX_BATCH} {key} per request (max_batch)."
        )
    return data[key]


@_endpoint("GET")
def types(request: HttpRequest, sender: str) -> HttpResponse:
    """Answer the discovery: the protocol version, the batch cap and the exposed types."""
    return _json({
        "protocol": PROTOCOL_VERSION,
        "project": federated_settings.PROJECT_NAME,
        "max_batch": MAX_BATCH,
        "types": [
            {
                "app_label": exposed.app_label,
                "model": exposed.model_name,
                "fields": list(exposed.field_names),
            }
            for exposed in exposed_types()
        ],
    })


def _parse_pk(exposed: ExposedType, value: str) -> Any:
    """Return the pk value written canonically as ``value``, or ``None`` if there is none.

    A string that is not the canonical text of a pk (``"01"``, ``"x"`` for an integer
    key) names no object: it is reported missing, so every pk of an answer is exactly a
    requested string.
    """
    pk_field = exposed.model._meta.pk
    if "\x00" in value or not is_unicode(value):
        # No key holds a NUL or half a surrogate pair (JSON can carry both): the database
        # would refuse the query (PostgreSQL refuses NUL in text, neither encodes "\ud800").
        return None
    try:
        pk = pk_field.to_python(value)
        # The field's validators include the database's integer range: an out-of-range
        # integer names no row, and must not reach the query (OverflowError on SQLite).
        pk_field.run_validators(pk)
        canonical = pk_to_string(pk_field, pk)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return None
    return pk if pk is not None and canonical == value else None


def _is_valid(field: models.Field, value: Any) -> bool:
    try:
        field.run_validators(value)
    except ValidationError:
        return False
    return True


def _parse_pks(exposed: ExposedType, requested: list[str]) -> dict[str, Any]:
    """Return ``{pk string: pk value}`` of the strings of ``requested`` that name a pk.

    As ``_parse_pk`` for each string, in one pass for the usual integer keys: their
    ``to_python()`` is ``int()`` and their canonical text ``str(int)`` (which no string
    holding a NUL or a surrogate equals), and when their only validators are the range
    ones, the smallest and largest value passing means that every value passes.
    """
    pk_field = exposed.model._meta.pk
    if not is_plain_integer_field(pk_field):
        parsed = ((text, _parse_pk(exposed, text)) for text in requested)
        return {text: value for text, value in parsed if value is not None}
    values = {}
    for text in requested:
        try:
            number = int(text)
        except ValueError:
            continue
        if str(number) == text:
            values[text] = number
    if not values:
        return values
    monotone = all(type(validator) in _RANGE_VALIDATORS for validator in pk_field.validators)
    bounds = {min(values.values()), max(values.values())}
    if monotone and all(_is_valid(pk_field, bound) for bound in bounds):
        return values
    return {text: number for text, number in values.items() if _is_valid(pk_field, number)}


class _PkIn(In):
    """``pk IN (...)`` that PostgreSQL receives as ``pk = ANY(%s)``: one array parameter.

    Django writes one placeholder per value, and psycopg parses such a query anew on
    every execution (it caches only queries of at most 50 parameters): for a batch of
    500 pks that parsing costs more than the database's own work. Up to 50 values the
    cached ``IN`` is the cheaper one.
    """

    #: psycopg's ``MAX_CACHED_STATEMENT_PARAMS``.
    cached_params = 50

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        field = self.lhs.output_field
        # Text keys as text[]: a cast to varchar(n)[] would cut longer strings to n.
        db_type = (None if len(self.rhs) <= self.cached_params
                   else "text" if is_text_field(field) else field.db_type(connection))
        if db_type is None:
            return self.as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [field.get_db_prep_value(value, connection, prepared=True)
                  for value in self.rhs]
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, values]


@_endpoint("POST")
def batch(request: HttpRequest, sender: str, app_label: str, model: str) -> HttpResponse:
    """Answer a batch lookup: the requested objects that exist and the pks that do not."""
    exposed = _exposed(app_label, model)
    pks = _json_body(request, "pks")
    if not all(isinstance(pk, str) and 0 < len(pk) <= MAX_PK_LENGTH for pk in pks):
        raise ApiError(
            400, "bad_request",
            f"'pks' must be a list of non-empty strings of at most {MAX_PK_LENGTH} characters.",
        )
    requested = list(dict.fromkeys(pks))
    values = _parse_pks(exposed, requested)
    found = {}
    if values:
        meta = exposed.model._meta
        pk_column = meta.pk.get_col(meta.db_table)
        lookup = _PkIn(pk_column, list(values.values()))
        for obj in exposed.model._base_manager.filter(lookup):
            data = serialize(obj, exposed)
            found[str(data["pk"])] = data
    return _json({
        "objects": [found[pk] for pk in requested if pk in found],
        "missing": [pk for pk in requested if pk not in found],
    })


def _cursor_pk(exposed: ExposedType, cursor: str) -> Any:
    try:
        label, pk = django_signing.loads(cursor, salt=_CURSOR_SALT)
    except (django_signing.BadSignature, ValueError, TypeError):
        raise ApiError(400, "bad_request", "The cursor is invalid.") from None
    value = _parse_pk(exposed, pk) if isinstance(pk, str) else None
    if label != exposed.label or value is None:
        raise ApiError(400, "bad_request", "The cursor belongs to another listing.")
    return value


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH:
        raise ApiError(
            400, "bad_request", f"'limit' must be an integer from 1 to {MAX_BATCH}."
        )
    return int(raw)


def _search(exposed: ExposedType, raw: str | None) -> Q | None:
    """Return the filter of the listing's ``search`` parameter (``None`` without one)."""
    if raw is None:
        return None
    if not exposed.search_fields:
        raise ApiError(400, "search_not_exposed", "This type cannot be searched.")
    if "\x00" in raw or not is_unicode(raw) or len(raw) > MAX_SEARCH_LENGTH:
        raise ApiError(
            400, "bad_request",
            f"'search' must be text of at most {MAX_SEARCH_LENGTH} characters.",
        )
    if len(raw.split()) > MAX_SEARCH_WORDS:
        raise ApiError(400, "bad_request", f"'search' has at most {MAX_SEARCH_WORDS} words.")
    return search_filter(exposed, raw)


@_endpoint("GET")
def listing(request: HttpRequest, sender: str, app_label: str, model: str) -> HttpResponse:
    """Answer one page of a type's objects in pk order, filtered by exposed fields.

    ``search`` keeps the objects that hold every word of it in one of the type's search
    fields (``EXPOSE``'s ``"search"``); a type without them answers 400.
    """
    exposed = _exposed(app_label, model)
    params = dict(request.GET.lists())
    for name, values in params.items():
        if len(values) != 1:
            raise ApiError(400, "bad_request", f"Give {name!r} at most once.")
    limit = _limit(params.pop("limit", [None])[0])
    cursor = params.pop("cursor", [None])[0]
    search = _search(exposed, params.pop("search", [None])[0])
    lookups = {}
    for name, (raw,) in params.items():
        field = exposed.get_field(name)
        if field is None:
            raise ApiError(400, "field_not_exposed", "Filters may only use exposed fields.")
        # A relation filters on the value of the field it points at.
        target = cast(models.Field, field.target_field) if field.is_relation else field  # type: ignore[attr-defined]
        if "\x00" in raw:
            # PostgreSQL refuses NUL in text; no stored value holds one anywhere.
            raise ApiError(
                400, "bad_request", f"The value of the filter on {name!r} is invalid."
            )
        value: Any = raw
        if isinstance(target, models.BooleanField) and raw in FILTER_BOOLEANS:
            value = FILTER_BOOLEANS[raw]
        try:
            lookups[field.attname] = target.to_python(value)
        except (ValidationError, ValueError, TypeError):
            raise ApiError(
                400, "bad_request", f"The value of the filter on {name!r} is invalid."
            ) from None
    queryset = exposed.model._base_manager.filter(**lookups).order_by("pk")
    if search is not None:
        queryset = queryset.filter(search)
    if cursor is not None:
        queryset = queryset.filter(pk__gt=_cursor_pk(exposed, cursor))
    page = list(queryset[: limit + 1])
    objects = [serialize(obj, exposed) for obj in page[:limit]]
    next_cursor = None
    if len(page) > limit:
        last = pk_to_string(exposed.model._meta.pk, page[limit - 1].pk)
        next_cursor = django_signing.dumps([exposed.label, last], salt=_CURSOR_SALT)
    return _json({"objects": objects, "next": next_cursor})


def _column_length(name: str) -> int:
    """Return the shortest ``max_length`` of column ``name`` among the event tables."""
    return min(
        cast(models.Field, model._meta.get_field(name)).max_length or 0
        for model in (GenericContentType, ReceivedEvent)
    )


@_endpoint("POST")
def events(request: HttpRequest, sender: str) -> HttpResponse:
    """Accept signed events from a peer and hand them to ``events.receive_events``."""
    body = _json_body(request, "events")
    name_lengths = {key: _column_length(key) for key in ("app_label", "model")}
    try:
        received = [validate_event(event, name_lengths=name_lengths) for event in body]
    except MalformedEvent as error:
        raise ApiError(400, "bad_event", str(error)) from None
    accepted = receive_events(sender, received)
    sent = {event["id"] for event in received}
    accepted = [str(event_id) for event_id in accepted]
    if not set(accepted) <= sent:
        raise ValueError("receive_events() accepted an event id it was not given.")
    return _json({"accepted": accepted})


@_endpoint()
def not_found(request: HttpRequest, sender: str, path: str = "") -> HttpResponse:
    """Answer an unknown URL under the federation prefix with a JSON 404."""
    raise ApiError(404, "not_exposed", "There is no such endpoint.")

