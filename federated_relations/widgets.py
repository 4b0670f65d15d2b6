"""Autocomplete widgets of federated fields: one search box over local and remote targets.

``FederatedAutocompleteSelect`` (a ``FederatedForeignKey``) and
``FederatedAutocompleteSelectMultiple`` (a ``FederatedManyToManyField``) are what Django's
``AutocompleteSelect`` and ``AutocompleteSelectMultiple`` are to a ``ForeignKey``: select2
with the admin's own assets, asking a JSON view (``FederatedAdminMixin``'s, see
``federated_relations.admin``) as the user types. Each hit and each selected target shows
its ``str()`` and a badge naming its server and model (``shop_b · book``); a target whose
peer cannot be reached right now keeps its place, marked unavailable.

Values are ``"<GenericContentType id>:<pk>"``, as the other federated form fields write
them. Only the selected targets are rendered as options, each labelled from the object the
form field hands over (``TargetValue``), so rendering the form asks nothing twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import get_select2_language
from django.db import models
from django.utils.translation import gettext as _

from . import resolver
from .keys import pk_to_string
from .models import GenericContentType

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "FederatedAutocompleteSelect",
    "FederatedAutocompleteSelectMultiple",
    "TargetValue",
    "badge_of",
    "target_key",
]


def target_key(obj: Any, *, for_concrete_model: bool = True) -> str:
    """Return the form value ``"<type id>:<pk>"`` of a model instance or remote target.

    Anything with a ``content_type`` and a ``pk`` (a ``RemoteObject``, a
    ``MissingTarget``) is written from those; a ``MissingTarget`` whose type row is gone
    keeps the type id of its row.
    """
    content_type: GenericContentType | None
    if isinstance(obj, models.Model):
        content_type = GenericContentType.objects.get_for_model(
            obj, for_concrete_model=for_concrete_model
        )
        return f"{content_type.pk}:{pk_to_string(obj._meta.pk, obj.pk)}"
    content_type = getattr(obj, "content_type", None)
    if content_type is None:
        type_id, pk = obj._row_key
        return f"{type_id}:{pk}"
    return f"{content_type.pk}:{pk_to_string(None, obj.pk)}"


def badge_of(content_type: GenericContentType | None) -> str:
    """Return the badge of a type: its server and model, ``"shop_b · book"``."""
    if content_type is None:
        return _("unknown type")
    return f"{content_type.project} · {content_type.model}"


class TargetValue(str):
    """A form value ``"<type id>:<pk>"`` that carries the target it names.

    Form fields prepare their values as these, so the widget labels the options without
    loading the targets again.
    """

    target: Any

    def __new__(cls, value: str, target: Any = None) -> TargetValue:
        """Return ``value``, carrying ``target``."""
        instance = super().__new__(cls, value)
        instance.target = target
        return instance


def _describe(values: Iterable[str]) -> list[tuple[str, str, str, bool]]:
    """Return ``(value, label, badge, available)`` of each value that names a target.

    Values carrying their target (``TargetValue``) are described from it; the others
    (a form shown again with the data it was sent) are loaded in one batch per type.
    """
    described: dict[str, Any] = {}
    wanted: dict[GenericContentType, list[str]] = defaultdict(list)
    keys: dict[str, tuple[int, str]] = {}
    for value in values:
        target = getattr(value, "target", None)
        if target is not None:
            described[value] = target
            continue
        type_id, sep, pk = str(value).partition(":")
        if not sep or not type_id.isdigit():
            continue
        try:
            content_type = GenericContentType.objects.get_for_id(int(type_id))
        except GenericContentType.DoesNotExist:
            continue
        wanted[content_type].append(pk)
        keys[str(value)] = resolver.key_of(content_type, pk)
    if wanted:
        found = resolver.resolve(wanted)
        for value, key in keys.items():
            if key in found:
                described[value] = found[key]
    rows = []
    for value in values:
        target = described.get(value)
        if target is None:
            # Never drop a value: an option left out is a target the next save removes.
            rows.append((str(value), _("%(value)s (unavailable)") % {"value": value},
                         badge_of(None), False))
            continue
        target_type: GenericContentType | None
        if isinstance(target, models.Model):
            target_type = GenericContentType.objects.get_for_model(target)
        else:
            target_type = getattr(target, "content_type", None)
        available = getattr(target, "is_available", True) is not False
        rows.append((str(value), str(target), badge_of(target_type), available))
    return rows


class FederatedAutocompleteMixin:
    """Select2 attributes, selected options with badges and the admin's select2 media.

    ``url`` is the JSON view to ask; ``app_label``, ``model_name`` and ``field_name``
    name the field being edited (sent with every search, as Django's autocomplete does).
    """

    allow_multiple_selected: bool
    is_required: bool

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        url: str = "",
        app_label: str = "",
        model_name: str = "",
        field_name: str = "",
    ) -> None:
        super().__init__(attrs)  # type: ignore[call-arg]
        self.url = url
        self.app_label = app_label
        self.model_name = model_name
        self.field_name = field_name
        self.i18n_name = get_select2_language()

    def build_attrs(
        self, base_attrs: dict[str, Any], extra_attrs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return the attributes with select2's data attributes added."""
        attrs = super().build_attrs(base_attrs, extra_attrs=extra_attrs)  # type: ignore[misc]
        classes = attrs.get("class", "")
        attrs.update(
            {
                "data-ajax--cache": "true",
                "data-ajax--delay": 250,
                "data-ajax--type": "GET",
                "data-ajax--url": str(self.url),
                "data-app-label": self.app_label,
                "data-model-name": self.model_name,
                "data-field-name": self.field_name,
                "data-theme": "admin-autocomplete",
                "data-allow-clear": json.dumps(not self.is_required),
                "data-placeholder": "",  # lets select2 clear a single choice
                "lang": self.i18n_name,
                # Not "admin-autocomplete": Django's autocomplete.js would take the
                # element over and ask its own view.
                "class": f"{classes} federated-autocomplete".strip(),
            }
        )
        return attrs

    def format_value(self, value: Any) -> list[str]:
        """Return the selected values, keeping the targets ``TargetValue``s carry."""
        if value is None:
            return []
        if not isinstance(value, (tuple, list)):
            value = [value]
        return [v if isinstance(v, TargetValue) else str(v) for v in value if v is not None]

    def optgroups(
        self, name: str, value: list[str], attrs: dict[str, Any] | None = None
    ) -> list[tuple[str | None, list[dict[str, Any]], int | None]]:
        """Return one option per selected target, with its badge and availability."""
        options: list[dict[str, Any]] = []
        if not self.is_required and not self.allow_multiple_selected:
            options.append(self.create_option(name, "", "", False, 0))  # type: ignore[attr-defined]
        chosen = [item for item in value if item not in ("", None)]
        for option_value, label, badge, available in _describe(chosen):
            option = self.create_option(  # type: ignore[attr-defined]
                name, option_value, label, True, len(options)
            )
            option["attrs"]["data-badge"] = badge
            if not available:
                option["attrs"]["data-unavailable"] = "true"
            options.append(option)
            if not self.allow_multiple_selected:
                break
        return [(None, options, 0)]

    @property
    def media(self) -> forms.Media:
        """Return the admin's jQuery and select2, then this package's script and styles."""
        extra = "" if settings.DEBUG else ".min"
        i18n_file = (
            (f"admin/js/vendor/select2/i18n/{self.i18n_name}.js",) if self.i18n_name else ()
        )
        return forms.Media(
            js=(
                f"admin/js/vendor/jquery/jquery{extra}.js",
                f"admin/js/vendor/select2/select2.full{extra}.js",
                *i18n_file,
                "admin/js/jquery.init.js",
                "federated_relations/js/autocomplete.js",
            ),
            css={
                "screen": (
                    f"admin/css/vendor/select2/select2{extra}.css",
                    "admin/css/autocomplete.css",
                    "federated_relations/css/autocomplete.css",
                ),
            },
        )


# format_value() returns a list, as ChoiceWidget's does (whose stub ignores that override):
# mypy still compares the mixin's with Widget's.
class FederatedAutocompleteSelect(FederatedAutocompleteMixin, forms.Select):  # type: ignore[misc]
    """The autocomplete box of a ``FederatedForeignKey``: one target, local or remote."""


class FederatedAutocompleteSelectMultiple(  # type: ignore[misc]  # as above
    FederatedAutocompleteMixin, forms.SelectMultiple
):
    """The autocomplete box of a ``FederatedManyToManyField``: local and remote targets."""
