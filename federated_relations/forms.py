"""Inline formsets of the objects that point at an instance through a ``FederatedForeignKey``.

What ``django.contrib.contenttypes.forms`` gives ``GenericForeignKey``, for federated
relations: ``federated_inlineformset_factory`` builds a ``BaseFederatedInlineFormSet`` that
edits the rows whose type is this project's ``GenericContentType`` of the instance and whose
object id is the instance's pk, and fills both in on the rows it creates. Only local targets
can be edited this way: the parent of an inline is always a model instance of this server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms as _forms
from django.contrib.contenttypes.forms import BaseGenericInlineFormSet
from django.db import models
from django.forms import BaseModelFormSet, ModelForm, modelformset_factory
from django.utils.translation import gettext_lazy as _

from . import resolver
from .exceptions import FederationError
from .keys import pk_to_string
from .models import GenericContentType
from .objects import RemoteObject
from .widgets import (
    FederatedAutocompleteSelect,
    FederatedAutocompleteSelectMultiple,
    TargetValue,
    target_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["BaseFederatedInlineFormSet", "federated_inlineformset_factory"]


class BaseFederatedInlineFormSet(BaseGenericInlineFormSet):
    """A formset of the objects whose ``FederatedForeignKey`` points at ``instance``.

    ``BaseGenericInlineFormSet`` with this project's ``GenericContentType`` in place of
    ``ContentType``; the object id is written as the canonical string of the parent's pk
    (``keys.pk_to_string``), converted to the object-id column's type. The class attributes
    ``ct_field``, ``ct_fk_field`` and ``for_concrete_model`` are set by
    ``federated_inlineformset_factory``.
    """

    ct_field: models.ForeignKey
    ct_fk_field: models.Field
    for_concrete_model: bool

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        instance: models.Model | None = None,
        save_as_new: bool = False,
        prefix: str | None = None,
        queryset: models.QuerySet | None = None,
        **kwargs: Any,
    ) -> None:
        opts = self.model._meta
        self.instance = instance
        self.rel_name = (
            f"{opts.app_label}-{opts.model_name}-{self.ct_field.name}-{self.ct_fk_field.name}"
        )
        self.save_as_new = save_as_new
        if self.instance is None or not self.instance._is_pk_set():
            qs = self.model._default_manager.none()
        else:
            if queryset is None:
                queryset = self.model._default_manager
            qs = queryset.filter(
                **{
                    self.ct_field.name: self.get_content_type(),
                    self.ct_fk_field.name: self.get_object_id(),
                }
            )
        # BaseGenericInlineFormSet.__init__ would filter on a ContentType: skip to its base.
        BaseModelFormSet.__init__(
            self, queryset=qs, data=data, files=files, prefix=prefix, **kwargs
        )

    def get_content_type(self) -> GenericContentType:
        """Return this project's type of the parent instance."""
        return GenericContentType.objects.get_for_model(
            self.instance, for_concrete_model=self.for_concrete_model
        )

    def get_object_id(self) -> Any:
        """Return the parent's pk as the object-id column stores it (its canonical string)."""
        text = pk_to_string(self.instance._meta.pk, self.instance.pk)
        return self.ct_fk_field.to_python(text)

    def save_new(self, form: ModelForm, commit: bool = True) -> models.Model:
        """Point the new object at the parent instance, then save it."""
        # Unlike BaseGenericInlineFormSet.save_new, honour for_concrete_model here too, so a
        # row saved for a proxy parent is found again by the queryset of __init__.
        setattr(form.instance, self.ct_field.attname, self.get_content_type().pk)
        setattr(form.instance, self.ct_fk_field.attname, self.get_object_id())
        return form.save(commit=commit)


def federated_inlineformset_factory(
    model: type[models.Model],
    form: type[ModelForm] = ModelForm,
    formset: type[BaseFederatedInlineFormSet] = BaseFederatedInlineFormSet,
    ct_field: str = "content_type",
    fk_field: str = "object_id",
    fields: Sequence[str] | str | None = None,
    exclude: Sequence[str] | None = None,
    extra: int = 3,
    can_order: bool = False,
    can_delete: bool = True,
    max_num: int | None = None,
    formfield_callback: Callable[..., Any] | None = None,
    validate_max: bool = False,
    for_concrete_model: bool = True,
    min_num: int | None = None,
    validate_min: bool = False,
    absolute_max: int | None = None,
    can_delete_extra: bool = True,
) -> type[BaseFederatedInlineFormSet]:
    """Return a ``BaseFederatedInlineFormSet`` subclass for ``model``.

    The arguments are those of ``generic_inlineformset_factory``. ``ct_field`` must be a
    ``ForeignKey`` to ``GenericContentType`` (``ValueError`` otherwise); a ``ct_field`` or
    ``fk_field`` that is not a field of ``model`` raises ``FieldDoesNotExist``. Both fields
    are excluded from the forms: the formset fills them in.
    """
    opts = model._meta
    # A missing field raises FieldDoesNotExist, as in generic_inlineformset_factory.
    ct = opts.get_field(ct_field)
    if not isinstance(ct, models.ForeignKey) or ct.remote_field.model != GenericContentType:
        raise ValueError(f"fk_name '{ct}' is not a ForeignKey to GenericContentType")
    fk = cast(models.Field, opts.get_field(fk_field))  # the object id column
    exclude = [*(exclude or []), ct.name, fk.name]
    # A subclass of formset, a BaseFederatedInlineFormSet; its attributes are set below.
    FormSet = cast(type[BaseFederatedInlineFormSet], modelformset_factory(
        model,
        form=form,
        formfield_callback=formfield_callback,
        formset=formset,
        extra=extra,
        can_delete=can_delete,
        can_order=can_order,
        fields=fields,
        exclude=exclude,
        max_num=max_num,
        validate_max=validate_max,
        min_num=min_num,
        validate_min=validate_min,
        absolute_max=absolute_max,
        can_delete_extra=can_delete_extra,
    ))
    FormSet.ct_field = ct
    FormSet.ct_fk_field = fk
    FormSet.for_concrete_model = for_concrete_model
    return FormSet


# --- FederatedManyToManyField ------------------------------------------------------------


class FederatedFormSelection(list):
    """The targets a ``FederatedMultipleChoiceField`` cleaned, and what the form offered.

    ``offered`` holds the ``(GenericContentType id, pk string)`` of every choice the field
    showed. ``FederatedManyToManyField.save_form_data`` replaces only those: a target the
    form could not show (a remote object, or a local object of a model the form does not
    list) is kept, so saving an unchanged form never changes a row.
    """

    def __init__(
        self, objects: Iterable[Any] = (), offered: Iterable[tuple[int, str]] = ()
    ) -> None:
        super().__init__(objects)
        self.offered = frozenset(offered)


def _choice_key(value: str) -> tuple[int, str] | None:
    """Return ``(type id, pk string)`` of a choice value ``"<type id>:<pk>"``."""
    type_id, sep, object_id = value.partition(":")
    if not sep or not type_id.isdigit():
        return None
    return int(type_id), object_id


class FederatedMultipleChoiceField(_forms.MultipleChoiceField):
    """The form field of a ``FederatedManyToManyField``: pick objects of its local models.

    Choices are grouped by model; a value is ``"<GenericContentType id>:<pk>"`` and
    ``clean()`` returns the model instances (loaded by the resolver) as a
    ``FederatedFormSelection``, ready for ``save_form_data``. Remote targets are not
    offered, and saving keeps every target that was not offered.
    """

    def __init__(
        self,
        *,
        target_models: Sequence[type[models.Model]] = (),
        for_concrete_model: bool = True,
        **kwargs: Any,
    ) -> None:
        self.target_models = list(target_models)
        self.for_concrete_model = for_concrete_model
        kwargs.pop("max_length", None)
        self._offered: set[str] | None = None
        super().__init__(choices=self._model_choices, **kwargs)

    def _type(self, model: Any) -> GenericContentType:
        return GenericContentType.objects.get_for_model(
            model, for_concrete_model=self.for_concrete_model
        )

    def _model_choices(self) -> list[tuple[str, list[tuple[str, str]]]]:
        groups = []
        for model in self.target_models:
            type_id = self._type(model).pk
            options = [
                (f"{type_id}:{pk_to_string(model._meta.pk, obj.pk)}", str(obj))
                for obj in model._default_manager.all()
            ]
            groups.append((str(model._meta.verbose_name_plural).capitalize(), options))
        return groups

    def offered_values(self) -> set[str]:
        """Return the values of every choice the field shows (read once per form).

        The choices are a callable, which Django evaluates on every pass: validating each
        chosen value, then ``clean()`` and ``has_changed()``, would each read every model.
        """
        if self._offered is None:
            # The groups of _model_choices(), as ChoiceField normalized them.
            groups = cast("Iterable[tuple[str, Iterable[tuple[str, str]]]]", self.choices)
            self._offered = {value for _group, options in groups for value, _label in options}
        return self._offered

    def valid_value(self, value: Any) -> bool:
        """Return whether ``value`` is one of the choices (without reading them again)."""
        return str(value) in self.offered_values()

    def __deepcopy__(self, memo: dict[int, Any]) -> FederatedMultipleChoiceField:
        result = super().__deepcopy__(memo)  # type: ignore[misc]  # Field's, not in the stubs
        result._offered = None  # each form reads the choices afresh
        return result

    def prepare_value(self, value: Any) -> Any:
        """Return the choice values of targets (strings are already values)."""
        if value is None or value == "":
            return []
        if isinstance(value, (str, models.Model, RemoteObject)):
            value = [value]
        prepared = []
        for item in value:
            if isinstance(item, models.Model):
                prepared.append(
                    f"{self._type(item).pk}:{pk_to_string(item._meta.pk, item.pk)}"
                )
            elif isinstance(item, RemoteObject):
                prepared.append(f"{item.content_type.pk}:{pk_to_string(None, item.pk)}")
            elif item not in (None, ""):  # an empty select posts "" (or nothing)
                prepared.append(str(item))
        return prepared

    def clean(self, value: Any) -> FederatedFormSelection:
        """Validate the chosen values and return the objects they name."""
        values = super().clean(self.prepare_value(value))
        wanted: dict[GenericContentType, list[str]] = {}
        keys = []
        for item in values:
            type_id, object_id = _choice_key(item) or (0, "")
            content_type = GenericContentType.objects.get_for_id(type_id)
            wanted.setdefault(content_type, []).append(object_id)
            keys.append((content_type, object_id))
        found = resolver.resolve(wanted)
        objects = []
        for item, (content_type, object_id) in zip(values, keys):
            obj = found.get(resolver.key_of(content_type, object_id))
            if obj is None:
                raise _forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice",
                    params={"value": item},
                )
            objects.append(obj)
        offered = (_choice_key(choice) for choice in self.offered_values())
        return FederatedFormSelection(objects, [key for key in offered if key is not None])

    def has_changed(self, initial: Any, data: Any) -> bool:
        """Compare the offered choices as sets: targets the form does not show never count."""
        if self.disabled:
            return False
        offered = self.offered_values()
        return set(self.prepare_value(initial)) & offered != set(self.prepare_value(data))


__all__ += ["FederatedFormSelection", "FederatedMultipleChoiceField"]


# --- autocomplete fields (local and remote targets) -------------------------------------


@dataclass(frozen=True)
class FederatedTargets:
    """What an autocomplete field offers: local models and types of peers.

    ``models`` are local model classes; ``remote`` holds ``(peer, "app_label.model")``
    pairs (lower-case model name). A value naming anything else is refused.
    """

    models: tuple[type[models.Model], ...] = ()
    remote: tuple[tuple[str, str], ...] = ()

    def allows(self, content_type: GenericContentType) -> bool:
        """Return whether objects of ``content_type`` may be chosen."""
        if content_type.resolves_locally:
            model = content_type.model_class()
            return model is not None and any(
                model is offered or model is offered._meta.concrete_model
                for offered in self.models
            )
        label = f"{content_type.app_label}.{content_type.model}"
        return (content_type.project, label) in self.remote

    def remote_types(self) -> list[GenericContentType]:
        """Return the ``GenericContentType`` of each remote pair (created on demand)."""
        types = []
        for peer, label in self.remote:
            app_label, _dot, model = label.partition(".")
            types.append(GenericContentType.objects.get_for_remote(peer, app_label, model))
        return types


class _TargetsMixin:
    """Turn posted ``"<type id>:<pk>"`` values into targets of the allowed types."""

    error_messages: dict[str, Any]

    def __init__(
        self,
        *,
        targets: FederatedTargets = FederatedTargets(),
        for_concrete_model: bool = True,
        **kwargs: Any,
    ) -> None:
        self.targets = targets
        self.for_concrete_model = for_concrete_model
        super().__init__(**kwargs)

    def _prepare(self, obj: Any) -> Any:
        if obj is None or obj == "":
            return ""
        if isinstance(obj, str):
            return obj
        return TargetValue(target_key(obj, for_concrete_model=self.for_concrete_model), obj)

    def _invalid(self, value: str) -> _forms.ValidationError:
        return _forms.ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice",
            params={"value": value},
        )

    def _load(self, values: Sequence[str], known: dict[str, Any]) -> list[Any]:
        """Return the target of each value: known ones as given, others loaded and checked."""
        wanted: dict[GenericContentType, list[str]] = {}
        keys: dict[str, tuple[GenericContentType, str]] = {}
        for value in values:
            if value in known:
                continue
            key = _choice_key(value)
            content_type = None
            if key is not None:
                try:
                    content_type = GenericContentType.objects.get_for_id(key[0])
                except GenericContentType.DoesNotExist:
                    content_type = None
            if key is None or content_type is None or not self.targets.allows(content_type):
                raise self._invalid(value)
            wanted.setdefault(content_type, []).append(key[1])
            keys[value] = (content_type, key[1])
        try:
            found = resolver.resolve(wanted) if wanted else {}
        except FederationError as error:
            raise _forms.ValidationError(
                _("A chosen object's server cannot be reached: %(error)s"),
                code="unavailable", params={"error": error},
            ) from None
        objects = []
        for value in values:
            if value in known:
                objects.append(known[value])
                continue
            obj = found.get(resolver.key_of(*keys[value]))
            if obj is None:
                raise self._invalid(value)
            objects.append(obj)
        return objects


class FederatedAutocompleteField(_TargetsMixin, _forms.Field):
    """The autocomplete form field of a ``FederatedForeignKey``: one local or remote target.

    ``clean()`` returns the model instance or ``RemoteObject`` (``None`` when nothing is
    chosen), ready to be assigned to the ``FederatedForeignKey``. The target the form
    started with is kept as it is, so an unchanged form asks no peer; a new choice must
    be of a type of ``targets`` and exist.
    """

    widget = FederatedAutocompleteSelect
    default_error_messages = {
        "invalid_choice": _("Select a valid choice. %(value)s is not one of the available "
                            "choices."),
    }

    def prepare_value(self, value: Any) -> Any:
        """Return the value of a target (strings are already values)."""
        return self._prepare(value)

    def _clean_bound_field(self, bf: Any) -> Any:
        # The initial target is known without asking anyone: keep it when it comes back.
        initial = bf.initial
        if self.disabled:
            return initial
        known = {} if initial in (None, "") else {self._prepare(initial): initial}
        return self._clean(bf.data, known)

    def clean(self, value: Any) -> Any:
        """Validate the chosen value and return the target it names (or ``None``)."""
        return self._clean(value, {})

    def _clean(self, value: Any, known: dict[str, Any]) -> Any:
        value = self._prepare(value)
        if value in self.empty_values:
            if self.required:
                raise _forms.ValidationError(self.error_messages["required"], code="required")
            return None
        (target,) = self._load([str(value)], {str(k): v for k, v in known.items()})
        self.run_validators(target)
        return target

    def has_changed(self, initial: Any, data: Any) -> bool:
        """Return whether another target (or none) was chosen."""
        if self.disabled:
            return False
        return str(self._prepare(initial)) != str(self._prepare(data))


class FederatedAutocompleteMultipleField(_TargetsMixin, _forms.Field):
    """The autocomplete form field of a ``FederatedManyToManyField``: local and remote targets.

    The widget shows every current target (a remote one with its server's badge, marked
    unavailable when its peer cannot be reached), so the field speaks for all of them:
    ``clean()`` returns a ``FederatedFormSelection`` whose ``offered`` keys are the
    targets the form showed plus the ones it was sent. Saving it removes the targets the
    user took out and adds the new ones; a target the form never showed (added elsewhere
    while the page was open) is kept. Targets the form started with are kept as they
    are, so an unchanged form asks no peer and changes no row.
    """

    widget = FederatedAutocompleteSelectMultiple
    default_error_messages = {
        "invalid_choice": _("Select a valid choice. %(value)s is not one of the available "
                            "choices."),
        "invalid_list": _("Enter a list of values."),
    }

    def prepare_value(self, value: Any) -> list[Any]:
        """Return the values of the targets (strings are already values)."""
        if value in (None, ""):
            return []
        if isinstance(value, str) or not isinstance(value, Iterable):
            value = [value]
        return [item for item in (self._prepare(obj) for obj in value) if item != ""]

    def bound_data(self, data: Any, initial: Any) -> Any:
        """Return the posted values, the initial targets among them as those targets.

        A form shown again (it had an error) then labels them without asking anyone, and
        keeps every one of them, even a target that is gone.
        """
        if self.disabled:
            return initial
        if data in (None, "") or isinstance(data, str) or not isinstance(data, Iterable):
            return data
        known = {
            str(self._prepare(obj)): obj
            for obj in (initial if isinstance(initial, Iterable) else ())
            if not isinstance(obj, str)
        }
        return [known.get(str(value), value) for value in data]

    def _clean_bound_field(self, bf: Any) -> FederatedFormSelection:
        initial = list(bf.initial or ()) if not isinstance(bf.initial, str) else []
        if self.disabled:
            data = initial
        else:
            data = bf.data
        known = {str(self._prepare(obj)): obj for obj in initial if not isinstance(obj, str)}
        return self._clean(data, known)

    def clean(self, value: Any) -> FederatedFormSelection:
        """Validate the chosen values and return the targets they name."""
        return self._clean(value, {})

    def _clean(self, value: Any, known: dict[str, Any]) -> FederatedFormSelection:
        if value not in (None, "") and (
            isinstance(value, str) or not isinstance(value, Iterable)
        ):
            raise _forms.ValidationError(self.error_messages["invalid_list"],
                                         code="invalid_list")
        values = list(dict.fromkeys(str(item) for item in self.prepare_value(value)))
        if not values and self.required:
            raise _forms.ValidationError(self.error_messages["required"], code="required")
        objects = self._load(values, known)
        self.run_validators(objects)
        offered = (_choice_key(key) for key in [*known, *values])
        return FederatedFormSelection(objects, [key for key in offered if key is not None])

    def has_changed(self, initial: Any, data: Any) -> bool:
        """Compare the chosen targets with the initial ones as sets."""
        if self.disabled:
            return False
        before = {str(item) for item in self.prepare_value(initial)}
        return before != {str(item) for item in self.prepare_value(data)}


__all__ += [
    "FederatedAutocompleteField",
    "FederatedAutocompleteMultipleField",
    "FederatedTargets",
]
