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
