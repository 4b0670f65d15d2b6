"""Deletion handlers of ``FederatedManyToManyField`` (``on_delete``, ``on_delete_src``,
``on_delete_tgt``), with the meanings django-gm2m gives them.

* ``CASCADE`` (default): the through rows go with the deleted source or target.
* ``DO_NOTHING``: the rows stay (keeping the database consistent is up to you).
* ``CASCADE_SIGNAL``: send ``signals.deleting``, then cascade.
* ``CASCADE_SIGNAL_VETO``: send ``deleting``; cascade unless a receiver returns a truthy
  value (then the rows stay).
* ``DO_NOTHING_SIGNAL``: send ``deleting`` and keep the rows.

On the source side a handler is the ``on_delete`` of the through model's foreign key, so
Django's ``Collector`` calls it. On the target side each target model's private
``FederatedManyToManyReverse`` field asks ``target_rows_to_delete`` which rows the
``Collector`` must delete. ``handle_remote_deletion`` applies the same handlers when a peer
reports that its objects were deleted. In every case the signal's sender is the field,
``del_objs`` the objects being deleted and ``rel_objs`` the through rows pointing at them
(gm2m's meaning).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.deletion import CASCADE, DO_NOTHING, SET_NULL, Collector

from .keys import key_of
from .objects import RemoteObject
from .reverse_related import FederatedManyToManyRel
from .signals import deleting

if TYPE_CHECKING:
    from .models import GenericContentType

__all__ = [
    "CASCADE",
    "CASCADE_SIGNAL",
    "CASCADE_SIGNAL_VETO",
    "DO_NOTHING",
    "DO_NOTHING_SIGNAL",
    "apply_on_remote_delete",
    "handle_remote_deletion",
    "handlers_do_nothing",
    "handlers_with_signal",
    "target_rows_to_delete",
]


def _collected(collector: Collector) -> Iterator[Any]:
    for instances in list(collector.data.values()):
        yield from instances


def _sender(field: Any) -> Any:
    # On the source side, ``field`` is the through model's foreign key.
    return getattr(field.model, "_federated_field", field)


def _vetoed(responses: list[tuple[Any, Any]]) -> bool:
    return any(response for _receiver, response in responses)


def CASCADE_SIGNAL(collector: Collector, field: Any, sub_objs: Any, using: str) -> None:  # noqa: N802
    """Send ``deleting``, then delete the related rows."""
    deleting.send(sender=_sender(field), del_objs=_collected(collector), rel_objs=sub_objs)
    CASCADE(collector, field, sub_objs, using)


def CASCADE_SIGNAL_VETO(collector: Collector, field: Any, sub_objs: Any, using: str) -> None:  # noqa: N802
    """Send ``deleting``; delete the related rows unless a receiver vetoes (truthy return)."""
    responses = deleting.send(
        sender=_sender(field), del_objs=_collected(collector), rel_objs=sub_objs
    )
    if not _vetoed(responses):
        CASCADE(collector, field, sub_objs, using)


def DO_NOTHING_SIGNAL(collector: Collector, field: Any, sub_objs: Any, using: str) -> None:  # noqa: N802
    """Send ``deleting`` and keep the related rows."""
    deleting.send(sender=_sender(field), del_objs=_collected(collector), rel_objs=sub_objs)


handlers_do_nothing = (DO_NOTHING, DO_NOTHING_SIGNAL)
handlers_with_signal = (CASCADE_SIGNAL, CASCADE_SIGNAL_VETO, DO_NOTHING_SIGNAL)
_handlers = (CASCADE, DO_NOTHING, *handlers_with_signal)


def target_rows_to_delete(
    field: Any, handler: Any, del_objs: Iterable[Any], rows: models.QuerySet
) -> models.QuerySet:
    """Return the through ``rows`` to delete with targets ``del_objs`` under ``handler``.

    Sends ``deleting`` for the ``*_SIGNAL`` handlers; an empty queryset keeps the rows.
    """
    if handler is DO_NOTHING:
        return rows.none()
    responses: list[tuple[Any, Any]] = []
    if handler in handlers_with_signal:
        responses = deleting.send(sender=field, del_objs=list(del_objs), rel_objs=rows)
    if handler is CASCADE or handler is CASCADE_SIGNAL:
        return rows
    if handler is CASCADE_SIGNAL_VETO and not _vetoed(responses):
        return rows
    if handler not in _handlers:
        raise ValueError(
            f"{field} has on_delete_tgt={handler!r}; targets accept CASCADE, DO_NOTHING, "
            "CASCADE_SIGNAL, CASCADE_SIGNAL_VETO and DO_NOTHING_SIGNAL."
        )
    return rows.none()


def federated_m2m_fields() -> list[Any]:
    """Return every installed ``FederatedManyToManyField`` (by its ``remote_field``)."""
    return [
        field
        for model in apps.get_models()
        for field in model._meta.local_many_to_many
        if isinstance(field.remote_field, FederatedManyToManyRel) and field.model is model
    ]


def handle_remote_deletion(
    content_type: GenericContentType, pks: Iterable[Any], using: str = DEFAULT_DB_ALIAS
) -> None:
    """Apply ``on_delete_tgt`` to the through rows pointing at deleted remote objects.

    Called when a peer reports that its objects of ``content_type`` with these pks were
    deleted. For every ``FederatedManyToManyField`` with rows pointing at them, the rows
    are deleted (``CASCADE``), kept (``DO_NOTHING``) or signalled exactly as for a local
    target: ``del_objs`` are lazy ``RemoteObject`` references (no request is made) and
    ``rel_objs`` the through rows. Fields with no such rows are not signalled. Then the
    ``on_remote_delete`` of every ``FederatedForeignKey`` applies (``apply_on_remote_delete``).
    """
    pk_strings = sorted({key_of(content_type, pk)[1] for pk in pks})
    if not pk_strings:
        return
    for field in federated_m2m_fields():
        link = field.link
        if not link.is_generic:
            continue  # ContentType-typed through models hold local targets only
        rows = link.through._base_manager.using(using).filter(
            **{
                link.content_type_field.attname: content_type.pk,
                f"{link.object_id}__in": pk_strings,
            }
        )
        if not rows.exists():
            continue
        del_objs = [
            RemoteObject(content_type, object_id)
            for object_id in sorted(set(rows.values_list(link.object_id, flat=True)))
        ]
        to_delete = target_rows_to_delete(field, field.on_delete_tgt, del_objs, rows)
        to_delete.delete()
    apply_on_remote_delete(content_type, pk_strings, using=using)


def federated_foreign_keys() -> list[Any]:
    """Return every installed ``FederatedForeignKey`` that acts on remote deletions.

    They are the private fields with an ``on_remote_delete`` handler other than
    ``DO_NOTHING`` (no other field has one).
    """
    return [
        field
        for model in apps.get_models()
        for field in model._meta.private_fields
        if getattr(field, "on_remote_delete", DO_NOTHING) is not DO_NOTHING
        and field.model is model
    ]


def _object_ids(field: Any, pk_strings: list[str]) -> list[Any]:
    """Return the pks as values of ``field``'s object id column (skipping misfits)."""
    column = field.model._meta.get_field(field.fk_field)
    values = []
    for pk in pk_strings:
        try:
            value = column.to_python(pk)
            column.run_validators(value)
        except (ValidationError, ValueError, TypeError, OverflowError):
            continue  # no row of this column can hold that pk
        values.append(value)
    return values


def apply_on_remote_delete(
    content_type: GenericContentType, pk_strings: list[str], using: str = DEFAULT_DB_ALIAS
) -> None:
    """Apply ``FederatedForeignKey(on_remote_delete=...)`` to rows pointing at these objects.

    ``CASCADE`` deletes the rows with ``QuerySet.delete()`` (Django's collector: their own
    relations cascade and the deletion signals are sent); ``SET_NULL`` sets both fields
    to ``None`` with one update, as Django's ``SET_NULL`` does.
    """
    for field in federated_foreign_keys():
        object_ids = _object_ids(field, pk_strings)
        if not object_ids:
            continue
        ct_attname = field.model._meta.get_field(field.ct_field).attname
        rows = field.model._base_manager.using(using).filter(
            **{ct_attname: content_type.pk, f"{field.fk_field}__in": object_ids}
        )
        if field.on_remote_delete is CASCADE:
            rows.delete()
        elif field.on_remote_delete is SET_NULL:
            rows.update(**{ct_attname: None, field.fk_field: None})
