"""System checks of ``FederatedManyToManyField`` (its ``check()`` runs them).

* ``E002`` the pk of a model it declares is longer than its ``pk_maxlength`` (or its
  through model's id column).
* ``E101``–``E110`` its ``through`` model and ``through_fields`` (gm2m E101–E110).
* ``E201``–``E205`` its reverse accessors and query names (gm2m E201–E205).
* ``E111``–``E113``, ``W114`` its tenant: ``E111`` ``tenant_field`` names no field of the
  source; a custom through model of a tenant-aware field declares no tenant (``E112``),
  has a unique constraint without it (``E113``) or a primary key without it (``W114``):
  Citus distributes a table only if every unique constraint holds the tenant column.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

from ..tenancy import tenant_field_of

__all__ = [
    "check_reverse_relations",
    "check_target_pk_lengths",
    "check_tenant_columns",
    "check_through_model",
]


def check_through_model(field: Any) -> list[checks.CheckMessage]:
    """Check a ``FederatedManyToManyField``'s through model and ``through_fields`` (E101–E110).

    gm2m's checks (after Django's fields.E331–E339), ``GenericForeignKey`` standing for
    the target: ``FederatedForeignKey``, or ``GenericForeignKey`` in a through model written
    for gm2m.
    """
    through = field.remote_field.through
    label = through._meta.label if hasattr(through, "_meta") else through
    registry = field.model._meta.apps
    if through is None or isinstance(through, str) or through not in registry.get_models(
        include_auto_created=True
    ):
        return [
            checks.Error(
                f"Field specifies a many-to-many relation through model '{label}', which "
                "has not been installed.",
                obj=field,
                id="federated_relations.E101",
            )
        ]
    errors: list[checks.CheckMessage] = []
    source = field.model
    source_name = source._meta.object_name
    opts = through._meta
    seen_from = sum(getattr(f, "related_model", None) is source for f in opts.fields)
    if seen_from == 0:
        errors.append(
            checks.Error(
                f"The model is used as an intermediate model by '{field}', but it does not "
                f"have a foreign key to '{source_name}'.",
                obj=through,
                id="federated_relations.E102",
            )
        )
    elif seen_from > 1 and not field.remote_field.through_fields:
        errors.append(
            checks.Error(
                f"The model is used as an intermediate model by '{field}', but it has more "
                f"than one foreign key from '{source_name}', which is ambiguous.",
                hint="Specify the foreign key to use with the through_fields argument.",
                obj=field,
                id="federated_relations.E103",
            )
        )
    gfks = [f for f in opts.private_fields if isinstance(f, GenericForeignKey)]
    if not gfks:
        errors.append(
            checks.Error(
                f"The model is used as an intermediate model by '{field}', but it does not "
                "have a federated (or generic) foreign key.",
                obj=through,
                id="federated_relations.E104",
            )
        )
    elif len(gfks) > 1 and not field.remote_field.through_fields:
        errors.append(
            checks.Error(
                f"The model is used as an intermediate model by '{field}', but it has more "
                "than one federated (or generic) foreign key, which is ambiguous.",
                hint="Specify the one to use with the through_fields argument.",
                obj=field,
                id="federated_relations.E105",
            )
        )
    through_fields = field.remote_field.through_fields
    if through_fields is None:
        return errors
    if not (len(through_fields) >= 2 and through_fields[0] and through_fields[1]):
        errors.append(
            checks.Error(
                "Field specifies 'through_fields' but does not provide the names of the two "
                f"link fields that should be used for the relation through model '{label}'.",
                hint="Make sure you specify 'through_fields' as "
                "through_fields=('field1', 'field2')",
                obj=field,
                id="federated_relations.E106",
            )
        )
        return errors
    source_field_name, target_field_name = through_fields[0], through_fields[1]
    candidates = [f.name for f in opts.fields if getattr(f, "related_model", None) is source]
    hint = (
        f"Did you mean one of the following foreign keys to '{source_name}': "
        f"{', '.join(candidates)}?"
        if candidates
        else None
    )
    try:
        source_field = opts.get_field(source_field_name)
    except FieldDoesNotExist:
        errors.append(
            checks.Error(
                f"The intermediary model '{label}' has no field '{source_field_name}'.",
                hint=hint,
                obj=field,
                id="federated_relations.E107",
            )
        )
    else:
        if getattr(source_field, "related_model", None) is not source:
            errors.append(
                checks.Error(
                    f"'{opts.object_name}.{source_field_name}' is not a foreign key to "
                    f"'{source_name}'.",
                    hint=hint,
                    obj=field,
                    id="federated_relations.E108",
                )
            )
    gfk_names = [f.name for f in gfks]
    hint = (
        f"Did you mean one of the following generic foreign keys: {', '.join(gfk_names)}?"
        if gfk_names
        else None
    )
    target = next(
        (f for f in opts.get_fields() if getattr(f, "name", None) == target_field_name), None
    )
    if target is None:
        errors.append(
            checks.Error(
                f"The intermediary model '{label}' has no federated (or generic) foreign key "
                f"named '{target_field_name}'.",
                hint=hint,
                obj=field,
                id="federated_relations.E109",
            )
        )
    elif not isinstance(target, GenericForeignKey):
        errors.append(
            checks.Error(
                f"'{opts.object_name}.{target_field_name}' is not a federated (or generic) "
                "foreign key.",
                hint=hint,
                obj=field,
                id="federated_relations.E110",
            )
        )
    return errors


def check_reverse_relations(field: Any) -> list[checks.CheckMessage]:
    """Check the reverse relations of a ``FederatedManyToManyField`` (E201–E205).

    gm2m's checks (after Django's fields.E301–E305): a target model swapped out, and its
    reverse accessor or query name clashing with a field or another reverse relation of a
    target model.
    """
    errors: list[checks.CheckMessage] = []
    field_name = f"{field.model._meta.object_name}.{field.name}"
    for model in field.declared_models:
        if isinstance(model, str):
            try:
                model = field.model._meta.apps.get_model(
                    model if "." in model else f"{field.model._meta.app_label}.{model}"
                )
            except (LookupError, ValueError):
                continue
        if model._meta.swapped:
            errors.append(
                checks.Error(
                    f"Field defines a relation with the model '{model._meta.label}', which "
                    "has been swapped out.",
                    hint=f"Update the relation to point at 'settings.{model._meta.swappable}'.",
                    obj=field,
                    id="federated_relations.E201",
                )
            )
    accessor = field.get_accessor_name()
    query_name = field.related_query_name()
    for model, reverse in field.reverse_fields.items():
        opts = model._meta
        for clash in [*opts.fields, *opts.many_to_many]:
            clash_name = f"{opts.object_name}.{clash.name}"
            if accessor and clash.name == accessor:
                errors.append(
                    checks.Error(
                        f"Reverse accessor '{opts.object_name}.{accessor}' for "
                        f"'{field_name}' clashes with field name '{clash_name}'.",
                        hint=f"Rename field '{clash_name}', or add/change a related_name "
                        f"argument to the definition for field '{field_name}'.",
                        obj=field,
                        id="federated_relations.E202",
                    )
                )
            if clash.name == query_name:
                errors.append(
                    checks.Error(
                        f"Reverse query name for '{field_name}' clashes with field name "
                        f"'{clash_name}'.",
                        hint=f"Rename field '{clash_name}', or add/change a related_name "
                        f"argument to the definition for field '{field_name}'.",
                        obj=field,
                        id="federated_relations.E203",
                    )
                )
        others = [
            (f"{r.related_model._meta.object_name}.{r.field.name}", r.get_accessor_name(),
             r.name)
            for r in opts.related_objects
        ]
        for other in opts.private_fields:
            other_field = getattr(other, "m2m_field", None)
            if other is reverse or other_field is None:
                continue
            others.append((
                f"{other_field.model._meta.object_name}.{other_field.name}",
                other_field.get_accessor_name(),
                other_field.related_query_name(),
            ))
        for clash_name, other_accessor, other_query_name in others:
            if accessor and other_accessor == accessor:
                errors.append(
                    checks.Error(
                        f"Reverse accessor '{opts.object_name}.{accessor}' for "
                        f"'{field_name}' clashes with reverse accessor for '{clash_name}'.",
                        hint=f"Add or change a related_name argument to the definition for "
                        f"'{field_name}' or '{clash_name}'.",
                        obj=field,
                        id="federated_relations.E204",
                    )
                )
            if other_query_name == query_name:
                errors.append(
                    checks.Error(
                        f"Reverse query name for '{field_name}' clashes with reverse query "
                        f"name for '{clash_name}'.",
                        hint=f"Add or change a related_name argument to the definition for "
                        f"'{field_name}' or '{clash_name}'.",
                        obj=field,
                        id="federated_relations.E205",
                    )
                )
    return errors


#: Characters of the string a pk of these fields is stored as (``keys.pk_to_string``).
_FIXED_PK_LENGTHS = {"UUIDField": 36, "DateField": 10}


def _pk_length(model: Any) -> tuple[int, str] | None:
    """Return the longest stored pk string of ``model`` and its field type, if bounded.

    Integer pks are left out: they would need 10**16 rows to pass the default
    ``pk_maxlength``. A text pk without ``max_length`` has no bound to compare.
    """
    pk = model._meta.pk
    while pk.is_relation:  # a multi-table child: its pk is the parent's
        pk = pk.target_field
    kind = pk.get_internal_type()
    if kind in _FIXED_PK_LENGTHS:
        return _FIXED_PK_LENGTHS[kind], kind
    if kind in ("CharField", "SlugField", "EmailField", "URLField") and pk.max_length:
        return pk.max_length, kind
    return None


def check_target_pk_lengths(field: Any) -> list[checks.CheckMessage]:
    """Check that the pks of the declared targets fit the through table's id column (E002)."""
    through = field.remote_field.through
    if through is None or isinstance(through, str):
        return []  # not installed: E101 says so
    try:
        max_length = field.link.object_id_field.max_length
    except (FieldDoesNotExist, StopIteration, ValueError):
        return []  # a malformed through model: E102–E110 say so
    if max_length is None:
        return []
    errors: list[checks.CheckMessage] = []
    field_name = f"{field.model._meta.label}.{field.name}"
    for model in field.get_related_models():
        length = _pk_length(model)
        if length is None or length[0] <= max_length:
            continue
        characters, kind = length
        if through._meta.auto_created:
            limit = f"pk_maxlength={max_length}"
            hint = (
                f"Set pk_maxlength={characters} (or more, or None for no limit) on "
                f"'{field_name}', then run makemigrations."
            )
        else:
            column = f"{through._meta.label}.{field.link.object_id}"
            limit = f"max_length={max_length} of {column}"
            hint = f"Raise the max_length of {column} to {characters} or more."
        errors.append(
            checks.Error(
                f"'{field_name}' declares '{model._meta.label}', whose pk ({kind}) is "
                f"{characters} characters long: more than its {limit}.",
                hint=hint,
                obj=field,
                id="federated_relations.E002",
            )
        )
    return errors



def _unique_column_sets(opts: Any) -> list[tuple[str, list[str]]]:
    """Return ``(description, columns)`` of each unique constraint of a model but its pk."""
    found = []
    for names in opts.unique_together:
        fields = [opts.get_field(name) for name in names]
        found.append((f"unique_together {tuple(names)}", [f.column for f in fields]))
    for constraint in opts.constraints:
        names = getattr(constraint, "fields", ())
        if names and type(constraint).__name__ == "UniqueConstraint":
            fields = [opts.get_field(name) for name in names]
            found.append((f"constraint {constraint.name!r}", [f.column for f in fields]))
    for field in opts.concrete_fields:
        if field.unique and not field.primary_key:
            found.append((f"unique field {field.name!r}", [field.column]))
    return found


def check_tenant_columns(field: Any) -> list[checks.CheckMessage]:
    """Check the tenant of a tenant-aware field and its custom through model (E111–W114)."""
    try:
        source_tenant = field.source_tenant_field
    except FieldDoesNotExist:
        return [
            checks.Error(
                f"tenant_field={field.tenant_field!r} names no field of "
                f"'{field.model._meta.label}'.",
                hint="Name the source's tenant column (a field name, attname or column).",
                obj=field,
                id="federated_relations.E111",
            )
        ]
    through = field.remote_field.through
    if source_tenant is None or not hasattr(through, "_meta") or through._meta.auto_created:
        return []  # the auto-created through model carries the tenant (m2m.through)
    label = through._meta.label
    try:
        tenant = tenant_field_of(through)
    except FieldDoesNotExist:
        tenant = None
    if tenant is None:
        return [
            checks.Error(
                f"'{field.model._meta.label}.{field.name}' is tenant-aware, but its through "
                f"model '{label}' declares no tenant column.",
                hint="Give it the source's tenant column and declare it: class TenantMeta: "
                "tenant_field_name = '<column>' (a django-multitenant TenantModel does).",
                obj=through,
                id="federated_relations.E112",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for description, columns in _unique_column_sets(through._meta):
        if tenant.column not in columns:
            errors.append(
                checks.Error(
                    f"The {description} of '{label}' lacks the tenant column "
                    f"'{tenant.column}': Citus cannot distribute the table on it.",
                    hint=f"Add '{tenant.name}' to it (first, for the index's sake).",
                    obj=through,
                    id="federated_relations.E113",
                )
            )
    pk = through._meta.pk
    pk_columns = [f.column for f in getattr(pk, "fields", None) or [pk]]
    if tenant.column not in pk_columns:
        errors.append(
            checks.Warning(
                f"The primary key of '{label}' ({', '.join(pk_columns)}) lacks the tenant "
                f"column '{tenant.column}': Citus wants it in the primary key.",
                hint="Declare pk = models.CompositePrimaryKey(...) with the tenant, or make "
                "the database key (tenant, id) with federated_relations.citus."
                "DistributeFederatedRelation in a migration.",
                obj=through,
                id="federated_relations.W114",
            )
        )
    return errors
