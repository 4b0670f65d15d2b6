"""Tenants of federated relations: the tenant column of through tables and of joins.

On a sharded PostgreSQL (Citus) every join must compare the distribution column of both
tables, or the query crosses shards. A tenant-aware relation stores the source's tenant
in each through row and adds ``tenant = tenant`` to every join and correlated subquery.

The tenant of a model is named by the field's ``tenant_field`` option or by the model's
``TenantMeta`` (``tenant_field_name``, or the older ``tenant_id``), as django-multitenant
declares it. Nothing here imports django-multitenant: it stays optional, and its current
tenant is read only if the project has loaded it.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.expressions import Col
from django.db.models.fields.related_lookups import RelatedExact
from django.db.models.lookups import Lookup
from django.db.models.sql import AND
from django.db.models.sql.where import WhereNode

from .keys import ObjectIdExact

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType

__all__ = [
    "CrossTenantError",
    "TenantJoinForeignKey",
    "TenantRelatedExact",
    "check_same_tenant",
    "current_tenant_filter",
    "current_tenant_value",
    "declared_tenant_name",
    "object_id_exact_for",
    "same_tenant",
    "tenant_field_of",
    "tenant_of",
]

#: The attribute of a through model naming its tenant field (set by ``m2m.through``).
THROUGH_TENANT_ATTRIBUTE = "_federated_tenant"


class CrossTenantError(ValueError):
    """A write that would relate objects of two tenants."""


def declared_tenant_name(model: Any) -> str | None:
    """Return the tenant field a model declares (``TenantMeta`` or ours), without an instance.

    django-multitenant's own ``get_tenant_column()`` instantiates the model; reading the
    declaration works on historical models and abstract parents too.
    """
    meta = getattr(model, "TenantMeta", None)
    for attribute in ("tenant_field_name", "tenant_id"):
        name = getattr(meta, attribute, None)
        if isinstance(name, str):
            return name
    name = getattr(model, THROUGH_TENANT_ATTRIBUTE, None)
    return name if isinstance(name, str) else None


def tenant_field_of(model: Any, name: str | None = None) -> models.Field | None:
    """Return the tenant field of ``model``: ``name`` (name, attname or column) or declared.

    Raises ``FieldDoesNotExist`` when the name matches no concrete field (yet).
    """
    name = name or declared_tenant_name(model)
    if name is None:
        return None
    for field in model._meta.concrete_fields:
        if name in (field.name, field.attname, field.column):
            return field
    raise FieldDoesNotExist(f"{model._meta.label} has no tenant field {name!r}.")


def tenant_of(obj: models.Model, field: models.Field) -> Any:
    """Return the tenant value of ``obj`` (the column's value, an id for a foreign key)."""
    return getattr(obj, field.attname)


def check_same_tenant(source: Any, source_tenant: Any, target: Any) -> None:
    """Refuse relating ``source`` (of tenant ``source_tenant``) to a local target of another.

    A target without a tenant (a shared model, a remote object) may be related to any
    tenant's source.
    """
    if not isinstance(target, models.Model):
        return
    target_field = tenant_field_of(type(target))
    if target_field is None:
        return
    target_tenant = tenant_of(target, target_field)
    if target_tenant != source_tenant:
        raise CrossTenantError(
            f"Cannot relate {source!r} (tenant {source_tenant!r}) to {target!r} "
            f"(tenant {target_tenant!r}): they belong to different tenants."
        )


def current_tenant_value() -> Any:
    """Return django-multitenant's current tenant value (a list for several), or None.

    Read from the module only if it was imported: ``set_current_tenant()`` imports it, so
    a project that never calls it (or does not install django-multitenant) sees None.
    """
    utils = sys.modules.get("django_multitenant.utils")
    if utils is None:
        return None
    value = utils.get_current_tenant_value()
    return None if value == [] else value


def current_tenant_filter(field: models.Field, prefix: str = "") -> dict[str, Any]:
    """Return the filter keeping the current tenant's rows, or {} when no tenant is set."""
    value = current_tenant_value()
    if value is None:
        return {}
    if isinstance(value, list):
        return {f"{prefix}{field.attname}__in": value}
    return {f"{prefix}{field.attname}": value}


def same_tenant(lhs: models.Field, lhs_alias: str, rhs: models.Field, rhs_alias: str) -> Lookup:
    """Return ``lhs_alias.tenant = rhs_alias.tenant``."""
    exact = cast(type[Lookup], lhs.get_lookup("exact"))
    return exact(lhs.get_col(lhs_alias), rhs.get_col(rhs_alias))


class TenantJoinForeignKey(models.ForeignKey):
    """A through table's foreign key to the source whose joins compare the tenants too.

    ``through_tenant`` names the through model's tenant field, ``source_tenant`` the
    source's. Joins in both directions (source to rows, rows to source) get
    ``through.tenant = source.tenant`` in their ON clause.
    """

    def __init__(self, *args: Any, through_tenant: str, source_tenant: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.through_tenant = through_tenant
        self.source_tenant = source_tenant

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(through_tenant=self.through_tenant, source_tenant=self.source_tenant)
        return name, path, args, kwargs

    def tenant_fields(self) -> tuple[models.Field, models.Field]:
        """Return (the through model's tenant field, the source's)."""
        through_tenant = tenant_field_of(self.model, self.through_tenant)
        source_tenant = tenant_field_of(self.related_model, self.source_tenant)
        assert through_tenant is not None and source_tenant is not None  # names given
        return through_tenant, source_tenant

    def get_extra_restriction(
        self, alias: str | None, related_alias: str | None
    ) -> WhereNode | None:
        """Return ``through.tenant = source.tenant``: ``alias`` is the source's table.

        exclude() and Exists() subqueries pass no alias: ``TenantRelatedExact`` adds the
        condition to their correlation instead.
        """
        if not (alias and related_alias):
            return None
        through_tenant, source_tenant = self.tenant_fields()
        condition: Any = same_tenant(through_tenant, related_alias, source_tenant, alias)
        return WhereNode([condition], connector=AND)  # the stubs take only nodes


def _outer_pk_of(lhs: Any, rhs: Any, model: Any) -> bool:
    """Whether ``rhs`` is a column of ``model``'s pk, correlated with the column ``lhs``."""
    return (
        isinstance(lhs, Col)
        and isinstance(rhs, Col)
        and rhs.target.primary_key
        and rhs.target.model._meta.concrete_model is model._meta.concrete_model
    )


class TenantRelatedExact(RelatedExact):
    """``through.source = <outer source pk>``, correlating the tenant columns as well.

    Django correlates exclude() and Exists() subqueries of through rows with the outer
    source by this lookup alone (django-multitenant misses these too).
    """

    def as_sql(self, compiler: Any, connection: Any) -> _AsSqlType:
        sql, params = super().as_sql(compiler, connection)
        foreign_key = getattr(self.lhs, "target", None)
        if not isinstance(foreign_key, TenantJoinForeignKey) or not _outer_pk_of(
            self.lhs, self.rhs, foreign_key.related_model
        ):
            return sql, params
        through_tenant, source_tenant = foreign_key.tenant_fields()
        extra_sql, extra_params = compiler.compile(
            same_tenant(through_tenant, self.lhs.alias, source_tenant, self.rhs.alias)
        )
        return f"{sql} AND {extra_sql}", (*params, *extra_params)


TenantJoinForeignKey.register_lookup(TenantRelatedExact)


class _TenantObjectIdExact(ObjectIdExact):
    """``rows.object_id = <outer target pk>`` plus ``rows.tenant = target.tenant``.

    The subqueries of exclude() from the target side correlate by this lookup alone.
    ``rows_tenant`` names the rows' tenant field (set on each subclass).
    """

    rows_tenant: str

    def as_sql(self, compiler: Any, connection: Any) -> _AsSqlType:
        sql, params = super().as_sql(compiler, connection)
        lhs, rhs = self.lhs, self.rhs
        if not (isinstance(rhs, Col) and _outer_pk_of(lhs, rhs, rhs.target.model)):
            return sql, params
        target_tenant = tenant_field_of(rhs.target.model)
        if target_tenant is None:
            return sql, params
        rows_tenant = cast(models.Field, tenant_field_of(lhs.target.model, self.rows_tenant))
        extra_sql, extra_params = compiler.compile(
            same_tenant(rows_tenant, lhs.alias, target_tenant, rhs.alias)
        )
        return f"{sql} AND {extra_sql}", (*params, *extra_params)


@functools.cache
def object_id_exact_for(rows_tenant: str | None) -> type[ObjectIdExact]:
    """Return the ``exact`` lookup of an object-id column whose rows have ``rows_tenant``."""
    if rows_tenant is None:
        return ObjectIdExact
    return type(
        "TenantObjectIdExact", (_TenantObjectIdExact,), {"rows_tenant": rows_tenant}
    )
