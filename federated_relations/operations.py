"""Migration operations: move django-gm2m relations into a ``FederatedManyToManyField``.

Switching a field from ``GM2MField`` to ``FederatedManyToManyField`` takes three
migrations steps, the middle one being ``CopyGM2MRelations``::

    operations = [
        migrations.AddField("user", "videos_new", FederatedManyToManyField()),
        CopyGM2MRelations("user", from_field="videos", to_field="videos_new"),
        migrations.RemoveField("user", "videos"),
        migrations.RenameField("user", "videos_new", "videos"),
    ]

Each gm2m row (source, ``ContentType``, pk) becomes a row (source, this project's
``GenericContentType`` of the same model, pk string). Unapplying copies the local rows
back, so the sequence above is reversible. Rows already present are kept (no duplicates).
"""

from __future__ import annotations

from typing import Any

from django.db import router
from django.db.migrations.operations.base import Operation

from .conf import federated_settings

__all__ = ["CopyGM2MRelations", "copy_gm2m_relations"]


def _gm2m_names(field: Any) -> tuple[str, str, str]:
    """Return the through field names of a ``GM2MField``: source, content type, pk."""
    through_fields = field.remote_field.through_fields
    if through_fields and len(through_fields) == 4:
        source, _target, content_type, object_id = through_fields
        return source, content_type, object_id
    names = field.remote_field.through._meta._field_names
    return names["src"], names["tgt_ct"], names["tgt_fk"]


def copy_gm2m_relations(
    apps: Any, model: Any, from_field: str, to_field: str, using: str, backwards: bool = False
) -> int:
    """Copy the rows of ``model.<from_field>`` (gm2m) into ``model.<to_field>`` (ours).

    With ``backwards``, copy our rows whose type is local back into the gm2m table.
    Return the number of rows written.
    """
    gm2m = model._meta.get_field(from_field)
    ours = model._meta.get_field(to_field)
    source, content_type, object_id = _gm2m_names(gm2m)
    gm2m_through = gm2m.remote_field.through
    link = ours.link
    content_types = apps.get_model("contenttypes", "ContentType")
    generic_types = apps.get_model("federated_relations", "GenericContentType")
    project = federated_settings.PROJECT_NAME
    source_attname = gm2m_through._meta.get_field(source).attname
    ct_attname = gm2m_through._meta.get_field(content_type).attname
    if not backwards:
        type_map = {}
        for ct in content_types.objects.using(using).all():
            type_map[ct.pk] = generic_types.objects.using(using).get_or_create(
                project=project, app_label=ct.app_label, model=ct.model
            )[0].pk
        rows = [
            link.through(
                **{
                    link.source_field.attname: src,
                    link.content_type_field.attname: type_map[ct_id],
                    link.object_id: str(pk),
                }
            )
            for src, ct_id, pk in gm2m_through._base_manager.using(using).values_list(
                source_attname, ct_attname, object_id
            )
        ]
        link.through._base_manager.using(using).bulk_create(rows, ignore_conflicts=True)
        return len(rows)
    type_map = {}
    for gct in generic_types.objects.using(using).filter(project=project):
        ct = content_types.objects.using(using).filter(
            app_label=gct.app_label, model=gct.model
        ).first()
        if ct is not None:
            type_map[gct.pk] = ct.pk
    existing = set(
        gm2m_through._base_manager.using(using).values_list(source_attname, ct_attname, object_id)
    )
    rows = []
    for src, gct_id, pk in link.through._base_manager.using(using).values_list(
        link.source_field.attname, link.content_type_field.attname, link.object_id
    ):
        if gct_id in type_map and (src, type_map[gct_id], pk) not in existing:
            rows.append(
                gm2m_through(
                    **{source_attname: src, ct_attname: type_map[gct_id], object_id: pk}
                )
            )
    gm2m_through._base_manager.using(using).bulk_create(rows)
    return len(rows)


class CopyGM2MRelations(Operation):
    """Copy a ``GM2MField``'s rows into a ``FederatedManyToManyField`` of the same model."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, from_field: str, to_field: str) -> None:
        self.model_name = model_name
        self.from_field = from_field
        self.to_field = to_field

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        """Return the arguments that rebuild this operation in a migration file."""
        return (
            type(self).__qualname__,
            [],
            {
                "model_name": self.model_name,
                "from_field": self.from_field,
                "to_field": self.to_field,
            },
        )

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Change nothing in the state: only rows move."""

    def _copy(self, app_label: str, schema_editor: Any, state: Any, backwards: bool) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        using = schema_editor.connection.alias
        if router.allow_migrate_model(using, model):
            copy_gm2m_relations(
                state.apps, model, self.from_field, self.to_field, using, backwards=backwards
            )

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        """Copy the gm2m rows into the federated through table."""
        self._copy(app_label, schema_editor, to_state, backwards=False)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        """Copy the local federated rows back into the gm2m through table."""
        self._copy(app_label, schema_editor, from_state, backwards=True)

    def describe(self) -> str:
        """Describe the operation for ``migrate`` output."""
        return (
            f"Copy the rows of GM2MField {self.model_name}.{self.from_field} into "
            f"{self.model_name}.{self.to_field}"
        )

    @property
    def migration_name_fragment(self) -> str:
        return f"copy_{self.model_name.lower()}_{self.from_field}_to_{self.to_field}"
