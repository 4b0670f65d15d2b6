"""Migration operations for Citus: distribute through tables, replicate the type tables.

django-multitenant's ``Distribute`` operation skips auto-created models, so the through
table of a tenant-aware ``FederatedManyToManyField`` is distributed here, co-located with
its source table: every join on (tenant, ...) then stays on one shard. The type table and
the outbox are read by every shard's joins and writes: they become reference tables (a
copy on each node). The operations only emit SQL, so ``sqlmigrate`` shows it.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

from .tenancy import tenant_field_of

__all__ = ["REFERENCE_MODELS", "CreateReferenceTables", "DistributeFederatedRelation"]

#: The models of federated_relations that every shard reads: Citus reference tables.
REFERENCE_MODELS = ("genericcontenttype", "outboxevent", "receivedevent")

Statement = tuple[str, list[Any]]



def _replace_constraint(table: str, name: str, definition: str) -> list[Statement]:
    """Return the statements that redefine constraint ``name`` of ``table``."""
    return [
        (f"ALTER TABLE {table} DROP CONSTRAINT {name}", []),
        (f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}", []),
    ]


class DistributeFederatedRelation(Operation):
    """Make the through table of ``model_name.field_name`` a distributed table.

    Citus wants the distribution column in the primary key and in the foreign key to a
    co-located table: the key becomes (tenant, id) and the source foreign key
    (tenant, source), then the table is distributed on the tenant, co-located with the
    source table (which must be distributed on its tenant already, with a primary or
    unique key on (tenant, id)).
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, field_name: str) -> None:
        self.model_name = model_name
        self.field_name = field_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return type(self).__qualname__, [self.model_name, self.field_name], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Change nothing in the state: the models stay as they are."""

    def _parts(self, schema_editor: Any, model: Any) -> dict[str, Any]:
        """Return the names the statements need, quoted."""
        field = model._meta.get_field(self.field_name)
        link = field.link
        through = link.through
        tenant = tenant_field_of(through)
        source_tenant = field.source_tenant_field
        if tenant is None or source_tenant is None:
            raise ValueError(
                f"{model._meta.label}.{self.field_name} is not tenant-aware: give it a "
                "tenant_field (or a TenantModel source) before distributing its table."
            )
        qn = schema_editor.quote_name
        source_fk = link.source_field
        pk = through._meta.pk
        pk_columns = [f.column for f in getattr(pk, "fields", None) or [pk]]
        fk_name = None
        if source_fk.db_constraint and not source_tenant.primary_key:
            fk_name = str(
                schema_editor._fk_constraint_name(
                    through, source_fk, "_fk_%(to_table)s_%(to_column)s"
                )
            )
        return {
            "qn": qn,
            "table_name": through._meta.db_table,
            "table": qn(through._meta.db_table),
            "pkey": qn(f"{through._meta.db_table}_pkey"),
            "pk": ", ".join(qn(column) for column in pk_columns),
            "tenant_name": tenant.column,
            "tenant": qn(tenant.column),
            "pk_has_tenant": tenant.column in pk_columns,
            "fk": qn(fk_name) if fk_name else None,
            "source_column": qn(source_fk.column),
            "source_table_name": model._meta.db_table,
            "source_table": qn(model._meta.db_table),
            "source_tenant": qn(source_tenant.column),
            "source_pk": qn(model._meta.pk.column),
        }

    def forward_statements(self, schema_editor: Any, model: Any) -> list[Statement]:
        """Return the SQL that distributes the table (with its parameters)."""
        p = self._parts(schema_editor, model)
        statements: list[Statement] = []
        if not p["pk_has_tenant"]:
            statements += _replace_constraint(
                p["table"], p["pkey"], f"PRIMARY KEY ({p['tenant']}, {p['pk']})"
            )
        if p["fk"]:
            statements += _replace_constraint(
                p["table"], p["fk"],
                f"FOREIGN KEY ({p['tenant']}, {p['source_column']}) REFERENCES "
                f"{p['source_table']} ({p['source_tenant']}, {p['source_pk']}) "
                "DEFERRABLE INITIALLY DEFERRED",
            )
        statements.append(
            (
                "SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                [p["table_name"], p["tenant_name"], p["source_table_name"]],
            )
        )
        return statements

    def backward_statements(self, schema_editor: Any, model: Any) -> list[Statement]:
        """Return the SQL that makes the table a plain one again, with its old keys."""
        p = self._parts(schema_editor, model)
        statements: list[Statement] = [("SELECT undistribute_table(%s)", [p["table_name"]])]
        if p["fk"]:
            statements += _replace_constraint(
                p["table"], p["fk"],
                f"FOREIGN KEY ({p['source_column']}) REFERENCES {p['source_table']} "
                f"({p['source_pk']}) DEFERRABLE INITIALLY DEFERRED",
            )
        if not p["pk_has_tenant"]:
            statements += _replace_constraint(p["table"], p["pkey"], f"PRIMARY KEY ({p['pk']})")
        return statements

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        for sql, params in self.forward_statements(schema_editor, model):
            schema_editor.execute(sql, params or None)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        for sql, params in self.backward_statements(schema_editor, model):
            schema_editor.execute(sql, params or None)

    def describe(self) -> str:
        return f"Distribute the through table of {self.model_name}.{self.field_name} (Citus)"

    @property
    def migration_name_fragment(self) -> str:
        return f"distribute_{self.model_name}_{self.field_name}"


class CreateReferenceTables(Operation):
    """Make the type table and the outbox tables Citus reference tables (on every node).

    Run it before distributing a through table: a distributed table may reference a
    reference table, not a local one.
    """

    reduces_to_sql = True
    reversible = True

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return type(self).__qualname__, [], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Change nothing in the state."""

    def _tables(self, state: Any) -> list[str]:
        return [
            state.apps.get_model("federated_relations", name)._meta.db_table
            for name in REFERENCE_MODELS
        ]

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        for table in self._tables(to_state):
            schema_editor.execute("SELECT create_reference_table(%s)", [table])

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        for table in reversed(self._tables(from_state)):
            schema_editor.execute("SELECT undistribute_table(%s)", [table])

    def describe(self) -> str:
        return "Make the federated type and outbox tables Citus reference tables"

    @property
    def migration_name_fragment(self) -> str:
        return "federated_reference_tables"
