"""``manage.py federation_audit``: find stored references to remote objects that are gone."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, cast

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, models

from ... import peers
from ...conf import SHARED_PROJECT, federated_settings
from ...deletion import federated_m2m_fields
from ...events import apply_deletion
from ...fields import FederatedForeignKey
from ...models import GenericContentType

__all__ = ["Command", "ReferenceColumn", "reference_columns"]

#: Pks asked of a peer per existence check (the client pages further by the peer's cap).
CHUNK = 500


@dataclass(frozen=True)
class ReferenceColumn:
    """A (type, object id) pair of columns that stores references: an FFK or a through table."""

    label: str
    model: type[models.Model]
    ct_attname: str
    object_id: str
    has_on_delete: bool


def reference_columns() -> list[ReferenceColumn]:
    """Return every column pair holding federated references, each table/pair once.

    ``FederatedForeignKey``s have no ``on_delete`` of their own (like ``GenericForeignKey``);
    the through tables of ``FederatedManyToManyField``s have their field's ``on_delete_tgt``.
    """
    columns: dict[tuple[Any, str, str], ReferenceColumn] = {}
    for field in federated_m2m_fields():
        link = field.link
        if not link.is_generic:
            continue
        key = (link.through, link.content_type_field.attname, link.object_id)
        columns[key] = ReferenceColumn(
            f"{field.model._meta.label}.{field.name} (through {link.through._meta.label})",
            link.through, key[1], key[2], True,
        )
    for model in apps.get_models():
        for field in model._meta.private_fields:
            if not isinstance(field, FederatedForeignKey) or field.model is not model:
                continue
            ct_attname = cast(models.Field, model._meta.get_field(field.ct_field)).attname
            key = (model, ct_attname, field.fk_field)
            if key not in columns:
                columns[key] = ReferenceColumn(
                    f"{model._meta.label}.{field.name}", model, ct_attname, field.fk_field, False
                )
    return sorted(columns.values(), key=lambda column: column.label)


class Command(BaseCommand):
    """Scan stored references to remote objects and report those whose peer says are gone."""

    help = (
        "Scan every FederatedForeignKey and FederatedManyToManyField for references to "
        "remote objects, ask their peers which still exist, and report the dangling ones. "
        "With --apply, apply the fields' on_delete policy to them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply", action="store_true",
            help="Apply on_delete_tgt of the many-to-many fields to the dangling references.",
        )
        parser.add_argument(
            "--peer", action="append", dest="peers", metavar="NAME",
            help="Only check references to this peer's objects (repeatable).",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        local = [federated_settings.PROJECT_NAME, SHARED_PROJECT]
        types = GenericContentType.objects.db_manager(using).exclude(project__in=local)
        if options["peers"]:
            types = types.filter(project__in=options["peers"])
        remote_types = {ct.pk: ct for ct in types}
        if not remote_types:
            self.stdout.write("No remote types: nothing to audit.")
            return

        # {column: {(type id, pk string): rows}} and {type id: {pk strings}}
        rows: dict[ReferenceColumn, Counter] = {}
        wanted: dict[int, set[str]] = defaultdict(set)
        for column in reference_columns():
            counter: Counter = Counter()
            queryset = column.model._base_manager.using(using).filter(
                **{f"{column.ct_attname}__in": list(remote_types)}
            ).values_list(column.ct_attname, column.object_id)
            for ct_id, object_id in queryset.iterator(chunk_size=2000):
                if object_id is None:
                    continue
                counter[(ct_id, str(object_id))] += 1
                wanted[ct_id].add(str(object_id))
            rows[column] = counter
            self.stdout.write(
                f"Scanned {column.label}: {sum(counter.values())} reference(s) to "
                f"{len(counter)} remote object(s)."
            )

        missing: dict[int, set[str]] = defaultdict(set)
        unchecked = 0
        for ct_id, pks in sorted(wanted.items()):
            content_type = remote_types[ct_id]
            name = f"{content_type.project} {content_type.app_label}.{content_type.model}"
            ordered = sorted(pks)
            for start in range(0, len(ordered), CHUNK):
                chunk = ordered[start:start + CHUNK]
                gone, errors = peers.check_existence(content_type, chunk)
                missing[ct_id] |= gone
                unchecked += len(errors)
                if errors:
                    first = next(iter(errors.values()))
                    self.stderr.write(f"  {name}: {len(errors)} not checked: {first}")
                self.stdout.write(
                    f"  {name}: checked {min(start + CHUNK, len(ordered))}/{len(ordered)}, "
                    f"{len(missing[ct_id])} missing so far"
                )

        dangling = 0
        for column, counter in rows.items():
            for (ct_id, pk), count in sorted(counter.items()):
                if pk in missing.get(ct_id, ()):
                    dangling += count
                    ct = remote_types[ct_id]
                    self.stdout.write(
                        f"DANGLING {column.label} -> {ct.project} {ct.app_label}.{ct.model} "
                        f"pk={pk} ({count} row(s))"
                    )
        objects = sum(len(pks) for pks in missing.values())
        self.stdout.write(
            f"{dangling} dangling reference(s) to {objects} missing remote object(s); "
            f"{unchecked} object(s) could not be checked."
        )
        if options["apply"] and objects:
            self._apply(remote_types, missing, rows, using)
        if unchecked:
            raise CommandError(f"{unchecked} remote object(s) could not be checked.")

    def _apply(
        self,
        remote_types: dict[int, GenericContentType],
        missing: dict[int, set[str]],
        rows: dict[ReferenceColumn, Counter],
        using: str,
    ) -> None:
        for ct_id, pks in sorted(missing.items()):
            if pks:
                apply_deletion(remote_types[ct_id], sorted(pks), using=using)
        self.stdout.write(
            f"Applied on_delete_tgt to the many-to-many references of "
            f"{sum(len(p) for p in missing.values())} missing object(s)."
        )
        if any(not column.has_on_delete and counter for column, counter in rows.items()):
            self.stdout.write(
                "FederatedForeignKey rows have no on_delete policy (as GenericForeignKey): "
                "they were reported, not changed."
            )
