"""Django REST Framework fields for federated relations (``pip install ...[drf]``).

``FederatedRelatedField`` reads and writes one reference of a ``FederatedForeignKey`` (or,
with ``many=True``, the targets of a ``FederatedManyToManyField``) as::

    {"type": "shop_b:library.book", "id": "5", "str": "Cranford"}

``type`` names the ``GenericContentType`` as it is stored (``<project>:<app_label>.<model>``),
``id`` is the pk as a string, ``str`` is ``str()`` of the target (for a remote object, as its
server renders it). Writes take ``{"type", "id"}``. With ``serializers={Model: Serializer}``
a local target of that model also gets its nested representation under ``"object"``; with
``remote_fields=True`` a remote target gets its exposed fields there.

A list serializer of many instances reads the field of every instance with one
``prefetch_related``: one query per local type and one batched request per (peer, type),
not one per row. With drf-spectacular installed, the field's OpenAPI schema is a ``oneOf``
of its allowed types with a discriminator on ``type`` (see ``FederatedRelatedFieldExtension``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import prefetch_related_objects
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from ..conf import SHARED_PROJECT, federated_settings
from ..exceptions import FederationError
from ..fields import FederatedManyToManyField
from ..keys import pk_to_string
from ..models import GenericContentType
from ..remote import RemoteObject, remote

__all__ = ["FederatedManyRelatedField", "FederatedRelatedField", "type_name"]


def type_name(content_type: GenericContentType) -> str:
    """Return ``"<project>:<app_label>.<model>"``, the wire name of a type."""
    return f"{content_type.project}:{content_type.app_label}.{content_type.model}"


def _parse_type(value: str) -> tuple[str, str, str]:
    project, colon, label = value.partition(":")
    app_label, dot, model = label.partition(".")
    if not (colon and dot and project and app_label and model) or "." in model:
        raise ValueError(value)
    return project, app_label, model.lower()


def _model_field(field: serializers.Field) -> Any:
    """Return the model field that ``field`` reads on its serializer's model, if any."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or len(field.source_attrs) != 1:
        return None
    try:
        return model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None


def _prefetch_siblings(field: serializers.Field, instance: Any) -> None:
    """Prefetch what ``field`` reads for every row of the list ``instance`` belongs to.

    ``field`` is bound to the serializer of one row, whose parent is the ``ListSerializer``
    of the whole list: it asks each row for the field, one query (or request) per row
    without this. The first row prefetches the field's source for all of them instead.
    """
    if not isinstance(instance, models.Model):
        return
    root = getattr(getattr(field, "parent", None), "parent", None)
    if not isinstance(root, serializers.ListSerializer):
        return
    siblings = root.instance
    if isinstance(siblings, models.QuerySet):
        siblings = siblings._result_cache
    if not isinstance(siblings, list):
        return
    lookup = "__".join(field.source_attrs)
    done = root.__dict__.setdefault("_federated_prefetched", set())
    if not lookup or lookup in done:
        return
    done.add(lookup)
    rows = [row for row in siblings if isinstance(row, models.Model)]
    pending = [
        row for row in rows if lookup not in getattr(row, "_prefetched_objects_cache", {})
    ]
    if pending:
        prefetch_related_objects(pending, lookup)


class FederatedManyRelatedField(serializers.ManyRelatedField):
    """``many=True`` of ``FederatedRelatedField``: every item is validated, errors by index."""

    child_relation: FederatedRelatedField

    def bind(self, field_name: str, parent: Any) -> None:
        """Bind the field, then give the child its default types from the model field."""
        super().bind(field_name, parent)
        self.child_relation._configure_types(self)

    def get_attribute(self, instance: Any) -> Any:
        """Read the targets, prefetching them for every instance of a list being serialized."""
        # DRF reads a many field here: the child's get_attribute() never runs.
        _prefetch_siblings(self, instance)
        return super().get_attribute(instance)

    def to_internal_value(self, data: Any) -> list[Any]:
        """Return the targets, or raise one error per invalid item (``{index: [...]}``)."""
        if isinstance(data, (str, Mapping)) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not self.allow_empty and len(data) == 0:
            self.fail("empty")
        targets, errors = [], {}
        for index, item in enumerate(data):
            try:
                targets.append(self.child_relation.to_internal_value(item))
            except serializers.ValidationError as error:
                errors[index] = error.detail
        if errors:
            # Keyed by index, as ListField's errors; the stubs want string keys.
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]
        return targets


class FederatedRelatedField(serializers.RelatedField):
    """A reference to a local model instance or a remote object (see the module docstring).

    ``types`` limits what may be written: model classes or ``"app_label.Model"`` labels for
    local models, ``"<project>:<app_label>.<model>"`` for a peer's type, or ``"<project>:*"``
    for every type of a peer. Without it, a field of a ``FederatedManyToManyField`` accepts
    the models that field declares and any type of a configured peer; a writable field of
    anything else (a ``FederatedForeignKey``) must be given ``types``, or binding it raises
    ``ImproperlyConfigured``. A ``"shared:..."`` type is never written: its objects read as
    this project's type, and are written so. Reading never filters: what is stored is shown.
    """

    default_error_messages = {
        "invalid": "Expected an object with \"type\" and \"id\", got {value!r}.",
        "invalid_type": "{type!r} is not a type: expected \"<project>:<app_label>.<model>\".",
        "type_not_allowed": "Objects of type {type!r} cannot be referenced here.",
        "does_not_exist": "{type} {id!r} does not exist.",
        "unknown_peer": "{project!r} is not a configured peer.",
        "shared_type": "{type!r} is a shared type: write it as {local!r}, as it reads.",
    }

    def __init__(
        self,
        *,
        types: Iterable[Any] | None = None,
        serializers: Mapping[type[models.Model], Any] | None = None,
        remote_fields: bool = False,
        **kwargs: Any,
    ) -> None:
        self.types = None if types is None else list(types)
        self.nested = dict(serializers or {})
        self.remote_fields = remote_fields
        # The models allowed when ``types`` is not given; set when the field is bound.
        self._default_models: list[type[models.Model]] | None = None
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> FederatedManyRelatedField:
        """Return the ``many=True`` field, which reports errors per item."""
        list_kwargs: dict[str, Any] = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({k: v for k, v in kwargs.items() if k in MANY_RELATION_KWARGS})
        return FederatedManyRelatedField(**list_kwargs)

    def get_queryset(self) -> None:
        """Return ``None``: targets are found by type, not in one queryset."""
        return None

    def get_choices(self, cutoff: int | None = None) -> dict[Any, Any]:
        """Return no choices: the browsable API cannot list every model of every peer."""
        return {}

    # -- allowed types ------------------------------------------------------------------

    def bind(self, field_name: str, parent: Any) -> None:
        """Bind the field and set its default types (the ``many=True`` field does it too)."""
        super().bind(field_name, parent)
        if not isinstance(parent, serializers.ManyRelatedField):
            self._configure_types(self)

    def _configure_types(self, bound: serializers.Field) -> None:
        """Take the default types from the model field that ``bound`` reads.

        Raise ``ImproperlyConfigured`` for a writable field without ``types`` whose model
        field declares no models: accepting any installed model would let a client
        reference (and read ``str()`` of) rows of any table, ``auth.User`` included.
        """
        if self.types is not None or self.read_only:
            return
        model_field = _model_field(bound)
        if isinstance(model_field, FederatedManyToManyField):
            self._default_models = model_field.get_related_models()
            return
        raise ImproperlyConfigured(
            f"The writable FederatedRelatedField {bound.field_name!r} of "
            f"{type(bound.parent).__name__} needs `types=[...]` (the models and peer types "
            "it may reference): only a FederatedManyToManyField declares its models. "
            "Pass `types`, or `read_only=True`."
        )

    def _allowed(self, content_type: GenericContentType) -> bool:
        if self.types is not None:
            types = self.types
        elif self._default_models is not None:
            types = [*self._default_models, *(f"{p}:*" for p in federated_settings.PEERS)]
        else:
            raise ImproperlyConfigured(
                "A FederatedRelatedField without `types` can only be written once bound "
                "to a FederatedManyToManyField of a ModelSerializer."
            )
        name = type_name(content_type)
        for allowed in types:
            if isinstance(allowed, type) and issubclass(allowed, models.Model):
                if content_type.resolves_locally and (
                    content_type.model_class() is allowed._meta.concrete_model
                    or content_type.model_class() is allowed
                ):
                    return True
            elif ":" in allowed:
                if allowed == name or allowed == f"{content_type.project}:*":
                    return True
            elif content_type.resolves_locally and allowed.lower() == (
                f"{content_type.app_label}.{content_type.model}"
            ):
                return True
        return False

    def allowed_type_names(self) -> list[str]:
        """Return the wire names of the allowed types that are known (for the schema)."""
        names = []
        for allowed in self.types or ():
            if isinstance(allowed, type):
                names.append(type_name(GenericContentType.objects.get_for_model(allowed)))
            elif ":" in allowed:
                names.append(allowed)
            else:
                app_label, _, model = allowed.partition(".")
                names.append(f"{federated_settings.PROJECT_NAME}:{app_label}.{model.lower()}")
        return names

    # -- reading ------------------------------------------------------------------------

    def get_attribute(self, instance: Any) -> Any:
        """Read the target, prefetching it for every instance of a list being serialized."""
        _prefetch_siblings(self, instance)
        return super().get_attribute(instance)

    def to_representation(self, value: Any) -> dict[str, Any]:
        """Return ``{"type", "id", "str"}`` (and ``"object"`` when configured)."""
        if isinstance(value, RemoteObject):
            content_type, pk = value.content_type, pk_to_string(None, value.pk)
        else:
            content_type = GenericContentType.objects.db_manager(value._state.db).get_for_model(
                value
            )
            pk = pk_to_string(value._meta.pk, value.pk)
        data: dict[str, Any] = {"type": type_name(content_type), "id": pk, "str": str(value)}
        if isinstance(value, RemoteObject):
            if self.remote_fields:
                data["object"] = value.exposed_fields if value.is_available else None
        else:
            serializer_class = self.nested.get(type(value)) or self.nested.get(
                type(value)._meta.concrete_model
            )
            if serializer_class is not None:
                data["object"] = serializer_class(value, context=self.context).data
        return data

    # -- writing ------------------------------------------------------------------------

    def to_internal_value(self, data: Any) -> Any:
        """Return the model instance or remote object that ``{"type", "id"}`` names."""
        if not isinstance(data, Mapping) or not {"type", "id"} <= data.keys():
            self.fail("invalid", value=data)
        name, object_id = data["type"], data["id"]
        if (
            not isinstance(name, str)
            or not isinstance(object_id, (str, int))
            or isinstance(object_id, bool)  # True is an int: it would name pk 1
        ):
            self.fail("invalid", value=data)
        try:
            project, app_label, model = _parse_type(name)
        except ValueError:
            self.fail("invalid_type", type=name)
        if project == SHARED_PROJECT:
            # A written model instance is stored, and reads back, as this project's type.
            local = f"{federated_settings.PROJECT_NAME}:{app_label}.{model}"
            self.fail("shared_type", type=name, local=local)
        local = project == federated_settings.PROJECT_NAME
        if not local and project not in federated_settings.PEERS:
            self.fail("unknown_peer", project=project)
        if local:
            try:
                content_type = GenericContentType.objects.get_by_natural_key(
                    project, app_label, model
                )
            except GenericContentType.DoesNotExist:
                self.fail("invalid_type", type=name)
            model_class = content_type.model_class()
            if model_class is None:
                self.fail("invalid_type", type=name)
            if not self._allowed(content_type):
                self.fail("type_not_allowed", type=name)
            try:
                return model_class._default_manager.get(pk=object_id)
            except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError):
                self.fail("does_not_exist", type=name, id=object_id)
        content_type = GenericContentType.objects.get_for_remote(project, app_label, model)
        if not self._allowed(content_type):
            self.fail("type_not_allowed", type=name)
        try:
            return remote(project, f"{app_label}.{model}", object_id)
        except (ValueError, FederationError) as error:
            raise serializers.ValidationError(str(error)) from error


try:  # drf-spectacular is optional: the schema extension exists only when it is installed
    from drf_spectacular.extensions import OpenApiSerializerFieldExtension
except ImportError:  # pragma: no cover - exercised without the extra
    pass
else:

    class FederatedRelatedFieldExtension(OpenApiSerializerFieldExtension):
        """The OpenAPI schema of ``FederatedRelatedField``: one alternative per type."""

        target_class = FederatedRelatedField

        def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
            """Return a ``oneOf`` of the allowed types, discriminated by ``type``."""
            field = self.target
            names = field.allowed_type_names() or [None]
            alternatives = []
            for name in names:
                properties: dict[str, Any] = {
                    "type": {"type": "string", **({"enum": [name]} if name else {})},
                    "id": {"type": "string"},
                }
                if direction == "response":
                    properties["str"] = {"type": "string", "readOnly": True}
                alternatives.append(
                    {"type": "object", "properties": properties, "required": ["type", "id"]}
                )
            return {"oneOf": alternatives, "discriminator": {"propertyName": "type"}}

    __all__ += ["FederatedRelatedFieldExtension"]
