"""Inline formsets of the objects that point at an instance through a ``FederatedForeignKey``.

What ``django.contrib.contenttypes.forms`` gives ``GenericForeignKey``, for federated
relations: ``federated_inlineformset_factory`` builds a ``BaseFederatedInlineFormSet`` that
edits the rows whose type is this project's ``GenericContentType`` of the instance and whose
object id is the instance's pk, and fills both in on the rows it creates. Only local targets
can be edited this way: the parent of an inline is always a model instance of this server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.forms import BaseGenericInlineFormSet
from django.db import models
from django.forms import BaseModelFormSet, ModelForm, modelformset_factory

from .keys import pk_to_string
from .models import GenericContentType

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
    fk = opts.get_field(fk_field)
    exclude = [*(exclude or []), ct.name, fk.name]
    FormSet = modelformset_factory(
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
    )
    FormSet.ct_field = ct
    FormSet.ct_fk_field = fk
    FormSet.for_concrete_model = for_concrete_model
    return FormSet


# --- FederatedManyToManyField ------------------------------------------------------------

from django import forms as _forms  # noqa: E402


class FederatedMultipleChoiceField(_forms.MultipleChoiceField):
    """The form field of a ``FederatedManyToManyField``: pick objects of its local models.

    Choices are grouped by model; a value is ``"<GenericContentType id>:<pk>"`` and
    ``clean()`` returns the model instances (loaded by the resolver), ready for
    ``manager.set()``. Remote targets are not offered: a form edits this server's objects.
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

    def prepare_value(self, value: Any) -> Any:
        """Return the choice values of objects (strings are already values)."""
        if value is None:
            return []
        if isinstance(value, (str, models.Model)):
            value = [value]
        prepared = []
        for item in value:
            if isinstance(item, models.Model):
                prepared.append(
                    f"{self._type(item).pk}:{pk_to_string(item._meta.pk, item.pk)}"
                )
            else:
                prepared.append(str(item))
        return prepared

    def clean(self, value: Any) -> list[Any]:
        """Validate the chosen values and return the objects they name."""
        values = super().clean(self.prepare_value(value))
        from . import resolver

        wanted: dict[GenericContentType, list[str]] = {}
        for item in values:
            type_id, _, object_id = item.partition(":")
            content_type = GenericContentType.objects.get_for_id(int(type_id))
            wanted.setdefault(content_type, []).append(object_id)
        found = resolver.resolve(wanted)
        objects = []
        for item in values:
            type_id, _, object_id = item.partition(":")
            content_type = GenericContentType.objects.get_for_id(int(type_id))
            obj = found.get(resolver.key_of(content_type, object_id))
            if obj is None:
                raise _forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice",
                    params={"value": item},
                )
            objects.append(obj)
        return objects

    def has_changed(self, initial: Any, data: Any) -> bool:
        """Compare chosen values as sets."""
        if self.disabled:
            return False
        return set(self.prepare_value(initial)) != set(self.prepare_value(data))


__all__ += ["FederatedMultipleChoiceField"]
