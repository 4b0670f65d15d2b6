"""The form field of ``FederatedManyToManyField``: ModelForms and the admin edit it."""

import pytest
from django import forms
from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.auth.models import User as AuthUser
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

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


# --- a form never drops what it does not show --------------------------------------------

import re  # noqa: E402

from federated_relations import remote  # noqa: E402
from tests import fake_peers as fakes  # noqa: E402
from tests.admin_app.models import Gadget, Wishlist  # noqa: E402
from tests.m2m_app.models import Movie  # noqa: E402

fake_peers = fakes.fake_peers
SELECTED = re.compile(r'<option value="([^"]+)"[^>]*\bselected\b')


def rows(wishlist):
    return sorted(
        Wishlist.items.through.objects.filter(wishlist=wishlist).values_list(
            "pk", "content_type_id", "object_id"
        )
    )


@pytest.fixture
def wishlist(fake_peers):
    """A wishlist holding two of three gadgets, a movie (undeclared) and a peer's book."""
    fake_peers["shop_b"].add("library", "book", 7, "Cranford", title="Cranford")
    gadgets = [Gadget.objects.create(name=name) for name in ("phone", "radio", "watch")]
    wishlist = Wishlist.objects.create(name="ann")
    wishlist.items.add(
        gadgets[0], gadgets[1], Movie.objects.create(title="m"),
        remote("shop_b", "library.Book", 7), remote("shop_b", "library.Book", 404),
    )
    return wishlist, gadgets


def change_page(client, wishlist):
    return f"/admin/admin_app/wishlist/{wishlist.pk}/change/"


def test_an_unchanged_admin_save_changes_no_row(wishlist, client, admin_user):
    wishlist, gadgets = wishlist
    before = rows(wishlist)
    assert len(before) == 5
    client.force_login(admin_user)
    page = client.get(change_page(client, wishlist))
    assert page.status_code == 200
    shown = SELECTED.findall(page.content.decode())
    assert sorted(shown) == sorted(value(gadget) for gadget in gadgets[:2])
    answer = client.post(change_page(client, wishlist), {"name": "ann", "items": shown})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert rows(wishlist) == before


def test_an_admin_save_changes_only_what_the_form_shows(wishlist, client, admin_user):
    wishlist, (phone, radio, watch) = wishlist
    before = rows(wishlist)
    kept = [row for row in before if row[2] not in {str(phone.pk), str(radio.pk)}]
    client.force_login(admin_user)
    answer = client.post(
        change_page(client, wishlist), {"name": "ann", "items": [value(radio), value(watch)]}
    )
    assert answer.status_code == 302
    after = rows(wishlist)
    assert [row for row in after if row[2] not in {str(radio.pk), str(watch.pk)}] == kept
    assert {row[2] for row in after} == {row[2] for row in kept} | {str(radio.pk), str(watch.pk)}
    # Nothing chosen (blank=True): the gadgets go, the movie and the remote books stay.
    answer = client.post(change_page(client, wishlist), {"name": "ann", "items": ""})
    assert answer.status_code == 302
    assert rows(wishlist) == kept


def test_model_form_with_targets_it_cannot_show(wishlist):
    wishlist, (phone, radio, _watch) = wishlist

    class WishlistForm(forms.ModelForm):
        class Meta:
            model = Wishlist
            fields = ["name", "items"]

    before = rows(wishlist)
    form = WishlistForm(
        data={"name": "ann", "items": [value(phone), value(radio)]}, instance=wishlist
    )
    assert not form.has_changed()
    assert form.is_valid(), form.errors
    form.save()
    assert rows(wishlist) == before


def test_a_blank_value_is_valid_when_the_field_is_blank():
    # gm2m's form accepts {"field": ""}: so must a blank=True FederatedManyToManyField.
    form = UserForm(data={"name": "ann", "preferred_shows": ""})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["preferred_shows"] == []
    user = form.save()
    assert list(user.preferred_shows.all()) == []

    class VideosForm(forms.ModelForm):
        class Meta:
            model = User
            fields = ["preferred_videos"]

    form = VideosForm(data={"preferred_videos": ""})  # blank=False: required
    assert not form.is_valid()
    assert form.errors["preferred_videos"] == ["This field is required."]


def test_delete_confirmation_of_a_target_lists_its_relation_rows(client, admin_user):
    gadget = Gadget.objects.create(name="phone")
    for i in range(11):
        Wishlist.objects.create(name=f"list {i}").items.add(gadget)
    client.force_login(admin_user)
    page = client.get(f"/admin/admin_app/gadget/{gadget.pk}/delete/").content.decode()
    assert "wishlist-federated relationships: 11" in page.lower()
    listed = re.findall(r"<li>Wishlist-federated relationship: ([^<]+)</li>", page)
    assert sorted(listed) == sorted(
        f"list {i} → local_project:admin_app.gadget {gadget.pk}" for i in range(11)
    )
    client.post(f"/admin/admin_app/gadget/{gadget.pk}/delete/", {"post": "yes"})
    assert not Wishlist.items.through.objects.exists()


def test_validating_many_choices_reads_each_model_once():
    operas = [Opera.objects.create(title=f"o{i}") for i in range(5)]
    concert = Concert.objects.create(title="c")
    form = UserForm(data={"name": "ann", "preferred_shows": [value(o) for o in operas]
                          + [value(concert)]})
    with CaptureQueriesContext(connection) as queries:
        assert form.is_valid(), form.errors
    # Types come from the cache; the choices read each model once (not once per value).
    # Then the resolver loads the chosen objects: one query per model.
    choice_reads = [q for q in queries if "m2m_app_opera" in q["sql"] or "m2m_app_concert"
                    in q["sql"]]
    assert len(choice_reads) <= 4, [q["sql"] for q in queries]
