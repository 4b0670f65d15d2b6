"""The form field of ``FederatedManyToManyField``: ModelForms and the admin edit it."""

import pytest
from django import forms
from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.auth.models import User as AuthUser
from django.test import RequestFactory

from federated_relations.forms import FederatedMultipleChoiceField
from federated_relations.models import GenericContentType
from tests.m2m_app.models import Concert, Opera, User

pytestmark = pytest.mark.django_db


class UserForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "preferred_shows"]


def value(obj):
    return f"{GenericContentType.objects.get_for_model(obj).pk}:{obj.pk}"


def test_model_form_offers_the_declared_models_grouped():
    opera, concert = Opera.objects.create(title="Tosca"), Concert.objects.create(title="Live")
    form = UserForm()
    field = form.fields["preferred_shows"]
    assert isinstance(field, FederatedMultipleChoiceField)
    assert not field.required  # blank=True
    assert list(field.choices) == [
        ("Operas", [(value(opera), "Tosca")]),
        ("Concerts", [(value(concert), "Live")]),
    ]
    assert "Tosca" in form.as_p()


def test_model_form_saves_and_shows_the_targets():
    opera, concert = Opera.objects.create(title="Tosca"), Concert.objects.create(title="Live")
    form = UserForm(data={"name": "ann", "preferred_shows": [value(opera), value(concert)]})
    assert form.is_valid(), form.errors
    user = form.save()
    assert set(user.preferred_shows.all()) == {opera, concert}
    form = UserForm(instance=user)
    assert set(form.initial["preferred_shows"]) == {opera, concert}
    assert f'value="{value(opera)}" ' in form.as_p() or f'value="{value(opera)}"' in form.as_p()
    form = UserForm(data={"name": "ann", "preferred_shows": [value(concert)]}, instance=user)
    assert form.has_changed() and form.is_valid()
    form.save()
    assert list(user.preferred_shows.all()) == [concert]
    form = UserForm(data={"name": "ann"}, instance=user)  # blank=True: nothing chosen
    assert form.is_valid(), form.errors
    form.save()
    assert list(user.preferred_shows.all()) == []


def test_invalid_choices_are_refused():
    opera = Opera.objects.create(title="Tosca")
    for bad in ["999999:1", f"{GenericContentType.objects.get_for_model(Opera).pk}:424242",
                "nonsense"]:
        form = UserForm(data={"name": "x", "preferred_shows": [value(opera), bad]})
        assert not form.is_valid()
        assert "preferred_shows" in form.errors


def test_required_when_not_blank():
    class VideosForm(forms.ModelForm):
        class Meta:
            model = User
            fields = ["preferred_videos"]

    form = VideosForm(data={})
    assert form.fields["preferred_videos"].required
    assert not form.is_valid()


def test_model_admin_edits_the_field():
    opera = Opera.objects.create(title="Tosca")
    admin = ModelAdmin(User, AdminSite())
    request = RequestFactory().get("/")
    request.user = AuthUser(is_superuser=True, is_staff=True)
    form_class = admin.get_form(request)
    assert "preferred_shows" in form_class.base_fields
    form = form_class(data={"name": "bob", "preferred_shows": [value(opera)],
                            "preferred_videos": [value(opera)]})
    # preferred_videos declares no model: nothing can be chosen (local targets only).
    assert not form.is_valid()
    form = form_class(data={"name": "bob", "preferred_shows": [value(opera)]})
    form.fields["preferred_videos"].required = False
    assert form.is_valid(), form.errors
    user = form.save()
    assert list(user.preferred_shows.all()) == [opera]
