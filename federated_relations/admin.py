"""Admin integration: federated inlines and a read-only admin of ``GenericContentType``.

``FederatedStackedInline`` and ``FederatedTabularInline`` are what ``GenericStackedInline``
and ``GenericTabularInline`` are to ``GenericForeignKey``: on the admin page of a local
object, they edit the objects whose ``FederatedForeignKey`` points at it::

    class TaggedItemInline(FederatedTabularInline):
        model = TaggedItem  # ct_field="content_type", ct_fk_field="object_id"

    @admin.register(Animal)
    class AnimalAdmin(admin.ModelAdmin):
        inlines = [TaggedItemInline]

Checks of a federated inline (run by ``manage.py check`` on the ``ModelAdmin`` using it),
in the order of contenttypes' ``admin.E301``–``admin.E304``:

* ``federated_relations.E501`` the inline's model has no ``FederatedForeignKey``.
* ``federated_relations.E502`` ``ct_field`` is not a field of the inline's model.
* ``federated_relations.E503`` ``ct_fk_field`` is not a field of the inline's model.
* ``federated_relations.E504`` no ``FederatedForeignKey`` of the model uses ``ct_field``
  and ``ct_fk_field``.
* ``federated_relations.E505`` ``ct_field`` is not a ``ForeignKey`` to ``GenericContentType``.

When ``django.contrib.admin`` is installed, its autodiscovery imports this module, which
registers ``GenericContentTypeAdmin`` on the default site: types are created by the app
(on ``migrate`` and on demand), so the admin only lists them.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.options import flatten_fieldsets
from django.contrib.contenttypes.admin import (
    GenericInlineModelAdmin,
    GenericInlineModelAdminChecks,
)
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.forms import ALL_FIELDS
from django.forms.models import modelform_defines_fields
from django.utils.translation import gettext_lazy as _

from .fields import FederatedForeignKey
from .forms import BaseFederatedInlineFormSet, federated_inlineformset_factory
from .models import GenericContentType

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = [
    "FederatedInlineModelAdmin",
    "FederatedInlineModelAdminChecks",
    "FederatedStackedInline",
    "FederatedTabularInline",
    "GenericContentTypeAdmin",
]


class FederatedInlineModelAdminChecks(GenericInlineModelAdminChecks):
    """The checks of ``GenericInlineModelAdmin``, for a ``FederatedForeignKey``."""

    def _check_relation(
        self, obj: FederatedInlineModelAdmin, parent_model: type[models.Model]
    ) -> list[checks.CheckMessage]:
        # There is no ForeignKey to the parent: check instead that ct_field and ct_fk_field
        # exist and belong to one FederatedForeignKey (E501-E505, see the module docstring).
        opts = obj.model._meta
        ffks = [f for f in opts.private_fields if isinstance(f, FederatedForeignKey)]
        if not ffks:
            return [
                checks.Error(
                    f"'{opts.label}' has no FederatedForeignKey.",
                    hint="Use FederatedInlineModelAdmin for models with a FederatedForeignKey, "
                    "GenericInlineModelAdmin for a GenericForeignKey.",
                    obj=obj.__class__,
                    id="federated_relations.E501",
                )
            ]
        try:
            ct_field = opts.get_field(obj.ct_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"'ct_field' references '{obj.ct_field}', which is not a field on "
                    f"'{opts.label}'.",
                    obj=obj.__class__,
                    id="federated_relations.E502",
                )
            ]
        try:
            opts.get_field(obj.ct_fk_field)
        except FieldDoesNotExist:
            return [
                checks.Error(
                    f"'ct_fk_field' references '{obj.ct_fk_field}', which is not a field on "
                    f"'{opts.label}'.",
                    obj=obj.__class__,
                    id="federated_relations.E503",
                )
            ]
        if (
            not isinstance(ct_field, models.ForeignKey)
            or ct_field.remote_field.model != GenericContentType
        ):
            return [
                checks.Error(
                    f"'ct_field' references '{opts.label}.{obj.ct_field}', which is not a "
                    "ForeignKey to 'federated_relations.GenericContentType'.",
                    obj=obj.__class__,
                    id="federated_relations.E505",
                )
            ]
        if any(f.ct_field == obj.ct_field and f.fk_field == obj.ct_fk_field for f in ffks):
            return []
        return [
            checks.Error(
                f"'{opts.label}' has no FederatedForeignKey using content type field "
                f"'{obj.ct_field}' and object ID field '{obj.ct_fk_field}'.",
                obj=obj.__class__,
                id="federated_relations.E504",
            )
        ]


class FederatedInlineModelAdmin(GenericInlineModelAdmin):
    """An inline of the objects whose ``FederatedForeignKey`` points at the edited object.

    Set ``model``, and ``ct_field``/``ct_fk_field`` when they are not ``"content_type"``
    and ``"object_id"``. Use ``FederatedStackedInline`` or ``FederatedTabularInline``.
    """

    ct_field = "content_type"
    ct_fk_field = "object_id"
    formset = BaseFederatedInlineFormSet

    checks_class = FederatedInlineModelAdminChecks

    def get_formset(
        self, request: HttpRequest | None, obj: models.Model | None = None, **kwargs: Any
    ) -> type[BaseFederatedInlineFormSet]:
        """Return the formset class of this inline (``federated_inlineformset_factory``)."""
        # GenericInlineModelAdmin.get_formset() calls generic_inlineformset_factory(), which
        # requires a ContentType; this is its body with the federated factory instead.
        if "fields" in kwargs:
            fields = kwargs.pop("fields")
        else:
            fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        exclude = [*(self.exclude or []), *self.get_readonly_fields(request, obj)]
        if self.exclude is None and hasattr(self.form, "_meta") and self.form._meta.exclude:
            # Take the custom ModelForm's Meta.exclude into account only if the inline
            # doesn't define its own.
            exclude.extend(self.form._meta.exclude)
        can_delete = self.can_delete and self.has_delete_permission(request, obj)
        defaults: dict[str, Any] = {
            "ct_field": self.ct_field,
            "fk_field": self.ct_fk_field,
            "form": self.form,
            "formfield_callback": partial(self.formfield_for_dbfield, request=request),
            "formset": self.formset,
            "extra": self.get_extra(request, obj),
            "can_delete": can_delete,
            "can_order": False,
            "fields": fields,
            "min_num": self.get_min_num(request, obj),
            "max_num": self.get_max_num(request, obj),
            "exclude": exclude or None,
            **kwargs,
        }

        base_model_form = defaults["form"]
        can_change = self.has_change_permission(request, obj) if request else True
        can_add = self.has_add_permission(request, obj) if request else True

        class PermissionProtectedModelForm(base_model_form):  # type: ignore[misc,valid-type]
            def has_changed(self) -> bool:
                # Protect against unauthorized edits.
                if not can_change and not self.instance._state.adding:
                    return False
                if not can_add and self.instance._state.adding:
                    return False
                return super().has_changed()

        defaults["form"] = PermissionProtectedModelForm
        if defaults["fields"] is None and not modelform_defines_fields(defaults["form"]):
            defaults["fields"] = ALL_FIELDS
        return federated_inlineformset_factory(self.model, **defaults)


class FederatedStackedInline(FederatedInlineModelAdmin):
    """A federated inline laid out like ``StackedInline``."""

    template = "admin/edit_inline/stacked.html"


class FederatedTabularInline(FederatedInlineModelAdmin):
    """A federated inline laid out like ``TabularInline``."""

    template = "admin/edit_inline/tabular.html"


class GenericContentTypeAdmin(admin.ModelAdmin):
    """A read-only list of the known types, local and remote: nobody may add, edit or delete."""

    list_display = ("project", "app_label", "model", "is_local")
    list_filter = ("project",)
    search_fields = ("project", "app_label", "model")
    ordering = ("project", "app_label", "model")

    @admin.display(boolean=True, description=_("local"))
    def is_local(self, obj: GenericContentType) -> bool:
        """Return whether the type belongs to this server's project."""
        return obj.is_local

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Return ``False``: types are created by the app, not by hand."""
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: GenericContentType | None = None
    ) -> bool:
        """Return ``False``: a type is identified by its fields, which must not change."""
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: GenericContentType | None = None
    ) -> bool:
        """Return ``False``: deleting a type would cascade to every row that uses it."""
        return False


# Autodiscovery only imports this module when the admin is installed; importing it for
# the inlines alone must not register anything on a site that does not exist.
if apps.is_installed("django.contrib.admin"):
    admin.site.register(GenericContentType, GenericContentTypeAdmin)
