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

import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.contenttypes.admin import (
    GenericInlineModelAdmin,
    GenericInlineModelAdminChecks,
)
from django.core import checks
from django.core import signing as django_signing
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.forms.models import ALL_FIELDS, modelform_defines_fields
from django.http import HttpResponseBadRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import resolver
from .conf import federated_settings
from .exceptions import FederationError
from .fields import FederatedForeignKey, FederatedManyToManyField
from .forms import (
    BaseFederatedInlineFormSet,
    FederatedAutocompleteField,
    FederatedAutocompleteMultipleField,
    FederatedTargets,
    federated_inlineformset_factory,
)
from .models import GenericContentType
from .widgets import (
    FederatedAutocompleteSelect,
    FederatedAutocompleteSelectMultiple,
    badge_of,
    target_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.forms import BaseForm
    from django.http import HttpRequest, HttpResponse

__all__ = [
    "FederatedAdminMixin",
    "FederatedInlineModelAdmin",
    "FederatedInlineModelAdminChecks",
    "FederatedStackedInline",
    "FederatedTabularInline",
    "GenericContentTypeAdmin",
]


class FederatedInlineModelAdminChecks(GenericInlineModelAdminChecks):
    """The checks of ``GenericInlineModelAdmin``, for a ``FederatedForeignKey``."""

    # Only FederatedInlineModelAdmin uses these checks (checks_class).
    def _check_relation(  # type: ignore[override]
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

    # A generic inline's formset is no BaseInlineFormSet, which the stubs want returned.
    def get_formset(  # type: ignore[override]
        self, request: HttpRequest, obj: models.Model | None = None, **kwargs: Any
    ) -> type[BaseFederatedInlineFormSet]:
        """Return the formset class of this inline (``federated_inlineformset_factory``)."""
        # GenericInlineModelAdmin.get_formset() calls generic_inlineformset_factory(), which
        # requires a ContentType; this is its body with the federated factory instead.
        if "fields" in kwargs:
            fields = kwargs.pop("fields")
        else:
            fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        excluded = self.get_exclude(request, obj)
        exclude = [*(excluded or []), *self.get_readonly_fields(request, obj)]
        if excluded is None and hasattr(self.form, "_meta") and self.form._meta.exclude:
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

logger = logging.getLogger("federated_relations.admin")

_CURSOR_SALT = "federated_relations.admin.autocomplete"
#: Error codes of a peer that is up but does not let this type be searched.
_NOT_SEARCHABLE = frozenset({"search_not_exposed", "not_exposed", "field_not_exposed"})


class FederatedAdminMixin:
    """Autocomplete boxes for federated fields, on a ``ModelAdmin`` or an inline.

    List the fields in ``federated_autocomplete_fields``, as Django's
    ``autocomplete_fields``: a ``FederatedManyToManyField`` or the name of a
    ``FederatedForeignKey`` (``"content_object"``, which then replaces the form's type and
    object id inputs). One search box looks through the local models (their
    ``ModelAdmin.search_fields``, for users with view permission) and the peers' types
    (their listing's ``search``), peers in parallel; every hit and every chosen target
    shows its ``str()`` with its server and model as a badge. A dict configures what each
    field offers, as ``limit_choices_to`` does::

        federated_autocomplete_fields = {
            "books": {"models": ["library.Book"], "peers": ["shop_b"]},
            "content_object": {"remote_models": ["library.Book"]},
        }

    ``models``: local models (labels or classes; default: the field's declared models, or
    for a ``FederatedForeignKey`` every model registered on the site with
    ``search_fields``); ``peers``: peer names (default: every peer of ``PEERS``);
    ``remote_models``: the labels searched on those peers (default: the labels of
    ``models``). Override ``get_federated_targets()`` to decide per request.

    The search view is a URL of the ``ModelAdmin`` (``<app>_<model>_federated_autocomplete``);
    an inline's boxes ask the view of its parent, so the parent ``ModelAdmin`` uses this
    mixin too. Federated fields named in ``list_display`` are rendered with their badges,
    the page's objects prefetched together (one query per type, one request per peer).
    """

    federated_autocomplete_fields: Sequence[str] | Mapping[str, Mapping[str, Any]] = ()
    #: Hits per local model and per remote type in one page of the dropdown.
    federated_autocomplete_page_size = 20

    # -- configuration -----------------------------------------------------------------

    def _federated_options(self) -> dict[str, Mapping[str, Any]]:
        fields = self.federated_autocomplete_fields
        if isinstance(fields, Mapping):
            return {name: dict(options or {}) for name, options in fields.items()}
        return {name: {} for name in fields}

    def _federated_field(self, name: str) -> Any:
        opts = self.model._meta  # type: ignore[attr-defined]
        for field in (*opts.private_fields, *opts.many_to_many):
            if field.name == name and isinstance(
                field, (FederatedForeignKey, FederatedManyToManyField)
            ):
                return field
        return None

    def get_federated_targets(self, request: HttpRequest | None, name: str) -> FederatedTargets:
        """Return the local models and remote types the field ``name`` offers."""
        options = self._federated_options().get(name, {})
        field = self._federated_field(name)
        chosen = options.get("models")
        if chosen is None:
            if isinstance(field, FederatedManyToManyField):
                chosen = field.get_related_models()
            else:
                site = self.admin_site  # type: ignore[attr-defined]
                chosen = [
                    model for model, model_admin in site._registry.items()
                    if model is not GenericContentType and model_admin.search_fields
                ]
        local = tuple(
            apps.get_model(model) if isinstance(model, str) else model for model in chosen
        )
        peers = options.get("peers")
        if peers is None:
            peers = list(federated_settings.PEERS)
        labels = options.get("remote_models")
        if labels is None:
            labels = [model._meta.label_lower for model in local]
        remote = tuple(
            (peer, label.lower()) for peer in peers for label in labels
            if peer in federated_settings.PEERS
        )
        return FederatedTargets(models=local, remote=remote)

    def _federated_url(self) -> str:
        parent = getattr(self, "parent_model", None) or self.model  # type: ignore[attr-defined]
        opts = parent._meta
        site = self.admin_site.name  # type: ignore[attr-defined]
        return reverse(f"{site}:{opts.app_label}_{opts.model_name}_federated_autocomplete")

    def _federated_widget_kwargs(self, name: str) -> dict[str, Any]:
        opts = self.model._meta  # type: ignore[attr-defined]
        return {
            "url": self._federated_url(),
            "app_label": opts.app_label,
            "model_name": opts.model_name,
            "field_name": name,
        }

    # -- forms -------------------------------------------------------------------------

    def formfield_for_dbfield(
        self, db_field: models.Field, request: HttpRequest | None, **kwargs: Any
    ) -> Any:
        """Give a listed ``FederatedManyToManyField`` the autocomplete field and widget."""
        if (
            isinstance(db_field, FederatedManyToManyField)
            and db_field.name in self._federated_options()
        ):
            widget = FederatedAutocompleteSelectMultiple(
                **self._federated_widget_kwargs(db_field.name)
            )
            return FederatedAutocompleteMultipleField(
                targets=self.get_federated_targets(request, db_field.name),
                for_concrete_model=db_field.for_concrete_model,
                required=not db_field.blank,
                label=capfirst(db_field.verbose_name),
                help_text=db_field.help_text,
                widget=widget,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]

    def _federated_foreign_keys(self, request: HttpRequest | None, obj: Any) -> list[Any]:
        readonly = set(self.get_readonly_fields(request, obj))  # type: ignore[attr-defined]
        return [
            field for name in self._federated_options()
            if isinstance(field := self._federated_field(name), FederatedForeignKey)
            and name not in readonly
        ]

    def get_exclude(self, request: HttpRequest | None, obj: Any = None) -> Any:
        """Leave out the type and object id inputs of a ``FederatedForeignKey`` with a box."""
        exclude = super().get_exclude(request, obj)  # type: ignore[misc]
        hidden = [
            name for field in self._federated_foreign_keys(request, obj)
            for name in (field.ct_field, field.fk_field)
        ]
        if not hidden:
            return exclude
        return [*(exclude or ()), *hidden]

    def _federated_fields_kwarg(
        self, request: HttpRequest | None, obj: Any, kwargs: dict[str, Any]
    ) -> list[Any]:
        """Take the ``FederatedForeignKey`` names out of ``fields`` (no model field has them)."""
        ffks = self._federated_foreign_keys(request, obj)
        names = {field.name for field in ffks}
        if "fields" in kwargs:
            fields = kwargs["fields"]
        else:
            fields = flatten_fieldsets(self.get_fieldsets(request, obj))  # type: ignore[attr-defined]
        if fields is not None:
            ffks = [field for field in ffks if field.name in fields]
            fields = [name for name in fields if name not in names]
        kwargs["fields"] = fields
        return ffks

    def _federated_form(
        self, form: type[BaseForm], request: HttpRequest | None, ffks: list[Any]
    ) -> type[BaseForm]:
        if not ffks:
            return form
        declared: dict[str, Any] = {
            field.name: FederatedAutocompleteField(
                targets=self.get_federated_targets(request, field.name),
                for_concrete_model=field.for_concrete_model,
                required=not field.model._meta.get_field(field.ct_field).blank,
                label=_verbose_name(field),
                widget=FederatedAutocompleteSelect(**self._federated_widget_kwargs(field.name)),
            )
            for field in ffks
        }
        declared["federated_foreign_keys"] = tuple(declared)
        return type(form.__name__, (_FederatedForeignKeyForm, form), declared)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[BaseForm]:
        """Return the admin's form with a box for each listed ``FederatedForeignKey``."""
        ffks = self._federated_fields_kwarg(request, obj, kwargs)
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        return self._federated_form(form, request, ffks)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        """Return the inline's formset, its form with a box per ``FederatedForeignKey``."""
        ffks = self._federated_fields_kwarg(request, obj, kwargs)
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        if not ffks:
            return formset
        form = self._federated_form(formset.form, request, ffks)
        return type(formset.__name__, (formset,), {"form": form})

    # -- changelist --------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Run the admin's checks; a federated field in ``list_display`` is allowed."""
        errors = super().check(**kwargs)  # type: ignore[misc]
        # admin.E109 refuses many-to-many fields in list_display, as Django cannot show
        # them; get_list_display() gives federated ones a column, so let those through.
        allowed = {
            f"The value of 'list_display[{index}]'"
            for index, item in enumerate(getattr(self, "list_display", ()))
            if isinstance(item, str) and self._federated_field(item) is not None
        }
        return [
            error for error in errors
            if not (error.id == "admin.E109" and error.msg.split(" must ")[0] in allowed)
        ]

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        """Replace federated field names with columns showing the targets and badges."""
        columns = []
        for item in super().get_list_display(request):  # type: ignore[misc]
            field = self._federated_field(item) if isinstance(item, str) else None
            columns.append(item if field is None else _targets_column(field))
        return columns

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Prefetch the federated fields of the page: one batch per type and peer."""
        changelist = super().get_changelist_instance(request)  # type: ignore[misc]
        names = [
            item for item in super().get_list_display(request)  # type: ignore[misc]
            if isinstance(item, str) and self._federated_field(item) is not None
        ]
        if names and isinstance(changelist.result_list, models.QuerySet):
            changelist.result_list = changelist.result_list.prefetch_related(*names)
        return changelist

    # -- the search view ---------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        """Add the autocomplete view to the ``ModelAdmin``'s URLs."""
        opts = self.model._meta  # type: ignore[attr-defined]
        view = self.admin_site.admin_view(self.federated_autocomplete_view)  # type: ignore[attr-defined]
        return [
            path(
                "federated-autocomplete/", view,
                name=f"{opts.app_label}_{opts.model_name}_federated_autocomplete",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def _federated_source(self, request: HttpRequest) -> tuple[Any, str]:
        """Return the admin (this one or an inline) and field a search is for."""
        label = f"{request.GET.get('app_label', '')}.{request.GET.get('model_name', '')}"
        name = request.GET.get("field_name", "")
        candidates = [self]
        if hasattr(self, "get_inline_instances"):
            candidates += self.get_inline_instances(request)
        for candidate in candidates:
            if (
                isinstance(candidate, FederatedAdminMixin)
                and candidate.model._meta.label_lower == label  # type: ignore[attr-defined]
                and name in candidate._federated_options()
                and candidate._federated_field(name) is not None
            ):
                return candidate, name
        raise PermissionDenied

    def federated_autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        """Answer a search of the box: ``{"results", "pagination": {"more"}, "cursor"}``.

        ``term`` is searched in each offered local model (its ``ModelAdmin``'s search, only
        for models the user may view) and on each offered peer type at once; a peer that
        fails or does not answer within ``TIMEOUT`` is one disabled "unavailable" entry.
        The signed ``cursor`` of an answer asks for the next page of every source that had
        more.
        """
        has_view = self.has_view_or_change_permission(request)  # type: ignore[attr-defined]
        if not has_view:
            raise PermissionDenied
        source, name = self._federated_source(request)
        targets = source.get_federated_targets(request, name)
        term = request.GET.get("term", "")[:200]
        size = self.federated_autocomplete_page_size
        state = {"local": None, "remote": None}
        raw_cursor = request.GET.get("cursor") or ""
        page = request.GET.get("page", "1") or "1"
        if not page.isdigit():
            return HttpResponseBadRequest("Invalid page.")
        if raw_cursor and int(page) > 1:
            try:
                state = django_signing.loads(raw_cursor, salt=_CURSOR_SALT)
            except django_signing.BadSignature:
                return HttpResponseBadRequest("Invalid cursor.")
            if state.get("term") != term:
                return HttpResponseBadRequest("The cursor belongs to another search.")
        remote_wanted: dict[GenericContentType, str | None] = {}
        for content_type in targets.remote_types():
            key = str(content_type.pk)
            if state["remote"] is None:
                remote_wanted[content_type] = None
            elif key in state["remote"]:
                remote_wanted[content_type] = state["remote"][key]
        # The peers are asked first, so their round trips overlap the local queries.
        pending = resolver.start_search(remote_wanted, term, limit=size) if remote_wanted else None
        results: list[dict[str, Any]] = []
        next_local: dict[str, int] = {}
        for model in targets.models:
            label = model._meta.label_lower
            offset = 0 if state["local"] is None else state["local"].get(label)
            if offset is None:
                continue
            hits = self._federated_local_hits(request, model, term, offset, size + 1)
            for obj in hits[:size]:
                results.append(_hit(obj, target_key(obj)))
            if len(hits) > size:
                next_local[label] = offset + size
        next_remote: dict[str, str] = {}
        for content_type, answer in (pending.results() if pending else {}).items():
            if isinstance(answer, FederationError):
                results.append(_unavailable(content_type, answer))
                continue
            objects, cursor = answer
            results.extend(_hit(obj, target_key(obj)) for obj in objects)
            if cursor is not None:
                next_remote[str(content_type.pk)] = cursor
        more = bool(next_local or next_remote)
        cursor = django_signing.dumps(
            {"term": term, "local": next_local, "remote": next_remote}, salt=_CURSOR_SALT
        ) if more else None
        return JsonResponse(
            {"results": results, "pagination": {"more": more}, "cursor": cursor}
        )

    def _federated_local_hits(
        self, request: HttpRequest, model: type[models.Model], term: str, offset: int,
        count: int,
    ) -> list[models.Model]:
        """Return hits of ``model``'s own admin search, if the user may view the model."""
        site = self.admin_site  # type: ignore[attr-defined]
        model_admin = site._registry.get(model)
        if (
            model_admin is None
            or not model_admin.get_search_fields(request)
            or not model_admin.has_view_permission(request)
        ):
            return []
        queryset = model_admin.get_queryset(request)
        queryset, use_distinct = model_admin.get_search_results(request, queryset, term)
        if use_distinct:
            queryset = queryset.distinct()
        if not queryset.ordered:
            queryset = queryset.order_by("pk")
        return list(queryset[offset:offset + count])


class _FederatedForeignKeyForm:
    """The form part of ``FederatedAdminMixin`` that edits ``FederatedForeignKey`` boxes."""

    federated_foreign_keys: tuple[str, ...] = ()
    initial: dict[str, Any]
    instance: models.Model
    cleaned_data: dict[str, Any]
    changed_data: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.federated_foreign_keys:
            if name not in self.initial and self.instance.pk is not None:
                self.initial[name] = getattr(self.instance, name)

    def _post_clean(self) -> None:
        # Assigned before the model's validation, so Model.clean() sees the target.
        for name in self.federated_foreign_keys:
            # Only a changed box: an empty one may stand for a target that is gone, and
            # saving the rest of the form must not clear that reference.
            if name in self.cleaned_data and name in self.changed_data:
                setattr(self.instance, name, self.cleaned_data[name])
        super()._post_clean()  # type: ignore[misc]
        if not self.federated_foreign_keys or self._errors:  # type: ignore[attr-defined]
            return
        # The type and id columns are not form fields, so ModelForm left the constraints
        # and unique checks that use them out: run those now, or a duplicate would reach
        # the database as an IntegrityError.
        hidden = set()
        for name in self.federated_foreign_keys:
            field = cast(FederatedForeignKey, self.instance._meta.get_field(name))
            hidden |= {field.ct_field, field.fk_field}
        exclude = self._get_validation_exclusions() - hidden  # type: ignore[attr-defined]
        try:
            self.instance.validate_unique(exclude=exclude)
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as error:
            self._update_errors(error)  # type: ignore[attr-defined]


def _hit(obj: Any, value: str) -> dict[str, Any]:
    if isinstance(obj, models.Model):
        content_type = GenericContentType.objects.get_for_model(obj)
    else:
        content_type = obj.content_type
    return {"id": value, "text": str(obj), "badge": badge_of(content_type)}


def _unavailable(content_type: GenericContentType, error: FederationError) -> dict[str, Any]:
    if getattr(error, "code", None) in _NOT_SEARCHABLE:
        text = gettext("%(project)s does not let %(model)s be searched") % {
            "project": content_type.project, "model": content_type.model,
        }
    else:
        text = gettext("%(project)s is unavailable") % {"project": content_type.project}
    logger.warning("Search of %s failed: %s", content_type, error)
    return {
        "id": f"unavailable:{content_type.pk}",
        "text": text,
        "badge": badge_of(content_type),
        "disabled": True,
        "unavailable": True,
    }


def _targets_column(field: Any) -> Callable[[Any], Any]:
    """Return a ``list_display`` column showing a federated field's targets with badges."""

    def column(obj: Any) -> Any:
        value = getattr(obj, field.name)
        targets = list(value.all()) if isinstance(field, FederatedManyToManyField) else (
            [] if value is None else [value]
        )
        if not targets:
            return "-"
        return format_html_join(
            ", ", "{} <span class=\"federated-badge\">{}</span>",
            ((str(target), _target_badge(target)) for target in targets),
        )

    column.short_description = _verbose_name(field)  # type: ignore[attr-defined]
    column.__name__ = field.name
    return column


def _verbose_name(field: Any) -> str:
    return capfirst(getattr(field, "verbose_name", None) or field.name.replace("_", " "))


def _target_badge(target: Any) -> str:
    if isinstance(target, models.Model):
        return badge_of(GenericContentType.objects.get_for_model(target))
    return badge_of(getattr(target, "content_type", None))



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
