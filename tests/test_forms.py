"""Tests of ``federated_relations.forms``, after Django's ``generic_relations.test_forms``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django import forms
from django.core.exceptions import FieldDoesNotExist

from federated_relations.forms import BaseFederatedInlineFormSet, federated_inlineformset_factory
from federated_relations.models import GenericContentType
from tests.admin_app.models import Bookmark, Category, Episode, Media, Note, ProxyEpisode

pytestmark = pytest.mark.django_db

PREFIX = "admin_app-media-content_type-object_id"


@pytest.fixture(autouse=True)
def _clear_type_cache():
    # Types created inside a test are rolled back with it: don't keep their ids cached.
    yield
    GenericContentType.objects.clear_cache()


def formset_data(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    """Return POST data for a formset of ``rows`` whose first ``initial`` rows exist."""
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = value
    return data


def media_for(obj: Any, url: str, **kwargs: Any) -> Media:
    return Media.objects.create(content_object=obj, url=url, **kwargs)


MediaFormSet = federated_inlineformset_factory(Media, fields=["url", "description"], extra=1)


class TestFactory:
    def test_returns_a_federated_formset(self):
        assert issubclass(MediaFormSet, BaseFederatedInlineFormSet)
        assert MediaFormSet.ct_field is Media._meta.get_field("content_type")
        assert MediaFormSet.ct_fk_field is Media._meta.get_field("object_id")
        assert MediaFormSet.for_concrete_model is True
        assert MediaFormSet.get_default_prefix() == PREFIX

    def test_type_and_id_fields_are_excluded(self):
        formset = federated_inlineformset_factory(Media, fields="__all__", extra=1)()
        assert list(formset.forms[0].fields) == ["url", "description", "id", "DELETE"]

    def test_options_are_passed_to_modelformset_factory(self):
        FormSet = federated_inlineformset_factory(
            Media,
            exclude=["description"],
            extra=2,
            can_delete=False,
            can_order=True,
            max_num=5,
            min_num=1,
            validate_max=True,
            validate_min=True,
            absolute_max=10,
        )
        formset = FormSet(instance=Episode(name="unsaved"))
        assert len(formset.forms) == 3
        assert "description" not in formset.forms[0].fields
        assert "DELETE" not in formset.forms[0].fields
        assert "ORDER" in formset.forms[0].fields
        assert (FormSet.max_num, FormSet.min_num, FormSet.absolute_max) == (5, 1, 10)
        assert FormSet.validate_max and FormSet.validate_min

    def test_custom_form_and_formfield_callback(self):
        class MediaForm(forms.ModelForm):
            class Meta:
                model = Media
                fields = ["url"]

        def callback(field: Any, **kwargs: Any) -> Any:
            formfield = field.formfield(**kwargs)
            formfield.help_text = "from callback"
            return formfield

        FormSet = federated_inlineformset_factory(
            Media, form=MediaForm, formfield_callback=callback
        )
        form = FormSet().forms[0]
        assert list(form.fields) == ["url", "id", "DELETE"]
        assert form.fields["url"].help_text == "from callback"

    def test_ct_field_that_is_not_a_foreign_key(self):
        with pytest.raises(
            ValueError,
            match="fk_name 'admin_app.Media.url' is not a ForeignKey to GenericContentType",
        ):
            federated_inlineformset_factory(Media, ct_field="url")

    def test_ct_field_that_is_a_foreign_key_to_content_type(self):
        # Django's GenericForeignKey layout is refused: its type is a ContentType.
        with pytest.raises(ValueError, match="is not a ForeignKey to GenericContentType"):
            federated_inlineformset_factory(Bookmark, fields=["url"])

    def test_missing_fields_raise_field_does_not_exist(self):
        with pytest.raises(FieldDoesNotExist):
            federated_inlineformset_factory(Media, ct_field="nope")
        with pytest.raises(FieldDoesNotExist):
            federated_inlineformset_factory(Media, fk_field="nope")

    def test_renamed_fields(self):
        FormSet = federated_inlineformset_factory(
            Note, ct_field="owner_type", fk_field="owner_id", fields=["text"]
        )
        assert FormSet.get_default_prefix() == "admin_app-note-owner_type-owner_id"


class TestInitialForms:
    def test_no_instance_or_unsaved_instance_has_no_initial_forms(self):
        assert MediaFormSet().initial_form_count() == 0
        assert MediaFormSet(instance=Episode(name="unsaved")).initial_form_count() == 0

    def test_initial_forms_are_the_objects_pointing_at_the_instance(self):
        episode = Episode.objects.create(name="Pilot")
        first = media_for(episode, "https://example.com/1")
        second = media_for(episode, "https://example.com/2")
        media_for(Episode.objects.create(name="Other"), "https://example.com/other")

        formset = MediaFormSet(instance=episode)

        assert formset.initial_form_count() == 2
        assert len(formset.forms) == 3
        assert [form.instance for form in formset.initial_forms] == [first, second]
        assert formset.forms[0].initial["url"] == "https://example.com/1"
        assert formset.prefix == PREFIX

    def test_rows_of_other_types_with_the_same_pk_are_not_included(self):
        episode = Episode.objects.create(name="Pilot")
        own = media_for(episode, "https://example.com/own")
        # Same object id, but a remote type and another local type.
        remote_type = GenericContentType.objects.get_for_remote("shop_b", "admin_app", "episode")
        Media.objects.create(
            content_type=remote_type, object_id=str(episode.pk), url="https://b.example.com/"
        )
        Media.objects.create(
            content_type=GenericContentType.objects.get_for_model(Note),
            object_id=str(episode.pk),
            url="https://example.com/note",
        )

        formset = MediaFormSet(instance=episode)

        assert [form.instance for form in formset.initial_forms] == [own]

    def test_custom_queryset(self):
        episode = Episode.objects.create(name="Pilot")
        media_for(episode, "https://example.com/1", description="keep")
        media_for(episode, "https://example.com/2", description="hide")

        formset = MediaFormSet(instance=episode, queryset=Media.objects.filter(description="keep"))

        assert [form.instance.description for form in formset.initial_forms] == ["keep"]

    def test_uuid_parent(self):
        category = Category.objects.create(name="Docs")
        media = media_for(category, "https://example.com/doc")
        media.refresh_from_db()
        assert media.object_id == str(category.pk)

        formset = MediaFormSet(instance=category)

        assert [form.instance for form in formset.initial_forms] == [media]


class TestSave:
    def test_new_objects_point_at_the_instance(self):
        episode = Episode.objects.create(name="Pilot")
        data = formset_data(
            PREFIX,
            [
                {"url": "https://example.com/a", "description": "A"},
                {"url": "https://example.com/b"},
                {"url": ""},  # an empty extra form is skipped
            ],
        )

        formset = MediaFormSet(data, instance=episode)
        assert formset.is_valid(), formset.errors
        saved = formset.save()

        assert len(saved) == 2
        episode_type = GenericContentType.objects.get(
            project="local_project", app_label="admin_app", model="episode"
        )
        rows = list(Media.objects.values_list("content_type", "object_id", "url"))
        assert rows == [
            (episode_type.pk, str(episode.pk), "https://example.com/a"),
            (episode_type.pk, str(episode.pk), "https://example.com/b"),
        ]
        assert episode_type.is_local
        assert [m.content_object for m in Media.objects.all()] == [episode, episode]
        assert list(episode.media.all()) == saved

    def test_object_id_is_the_canonical_pk_string(self):
        category = Category.objects.create(id=uuid.UUID(int=7), name="Docs")
        data = formset_data(PREFIX, [{"url": "https://example.com/doc"}])

        formset = MediaFormSet(data, instance=category)
        assert formset.is_valid(), formset.errors
        (media,) = formset.save()

        media.refresh_from_db()
        assert media.object_id == "00000000-0000-0000-0000-000000000007"
        assert media.content_type == GenericContentType.objects.get_for_model(Category)
        assert list(category.media.all()) == [media]

    def test_integer_object_id_column(self):
        episode = Episode.objects.create(name="Pilot")
        FormSet = federated_inlineformset_factory(
            Note, ct_field="owner_type", fk_field="owner_id", fields=["text"], extra=1
        )
        prefix = FormSet.get_default_prefix()

        formset = FormSet(formset_data(prefix, [{"text": "hello"}]), instance=episode)
        assert formset.is_valid(), formset.errors
        (note,) = formset.save()

        assert note.owner_id == episode.pk
        assert Note.objects.get().owner == episode
        assert [f.instance for f in FormSet(instance=episode).initial_forms] == [note]

    def test_commit_false(self):
        episode = Episode.objects.create(name="Pilot")
        formset = MediaFormSet(
            formset_data(PREFIX, [{"url": "https://example.com/a"}]), instance=episode
        )
        assert formset.is_valid(), formset.errors

        (media,) = formset.save(commit=False)

        assert media.pk is None
        assert media.content_object == episode
        media.save()
        assert list(episode.media.all()) == [media]

    def test_change_and_delete(self):
        episode = Episode.objects.create(name="Pilot")
        kept = media_for(episode, "https://example.com/keep")
        gone = media_for(episode, "https://example.com/gone")
        data = formset_data(
            PREFIX,
            [
                {"id": str(kept.pk), "url": "https://example.com/changed"},
                {"id": str(gone.pk), "url": gone.url, "DELETE": "on"},
                {"url": ""},
            ],
            initial=2,
        )

        formset = MediaFormSet(data, instance=episode)
        assert formset.is_valid(), formset.errors
        formset.save()

        assert [m.url for m in formset.deleted_objects] == ["https://example.com/gone"]
        assert list(Media.objects.values_list("pk", "url")) == [
            (kept.pk, "https://example.com/changed")
        ]

    def test_objects_of_another_parent_cannot_be_edited(self):
        episode = Episode.objects.create(name="Pilot")
        other = media_for(Episode.objects.create(name="Other"), "https://example.com/other")
        data = formset_data(
            PREFIX, [{"id": str(other.pk), "url": "https://example.com/stolen"}], initial=1
        )

        formset = MediaFormSet(data, instance=episode)
        # As in Django, a row outside the formset's queryset is not an existing object of
        # the formset: the form is skipped on save, and the row is left alone.
        assert formset.is_valid(), formset.errors
        assert formset.save() == []

        other.refresh_from_db()
        assert other.url == "https://example.com/other"
        assert Media.objects.count() == 1

    def test_save_as_new(self):
        original = Episode.objects.create(name="Pilot")
        media = media_for(original, "https://example.com/a")
        copy = Episode.objects.create(name="Pilot (copy)")
        # The POST of "Save as new" carries the original's rows, ids included.
        data = formset_data(
            PREFIX,
            [{"id": str(media.pk), "url": "https://example.com/a"}, {"url": ""}],
            initial=1,
        )

        formset = MediaFormSet(data, instance=copy, save_as_new=True)
        assert formset.initial_form_count() == 0
        assert formset.is_valid(), formset.errors
        (new,) = formset.save()

        assert new.pk != media.pk
        assert new.content_object == copy
        assert list(original.media.all()) == [media]
        assert list(copy.media.all()) == [new]


class TestForConcreteModel:
    def test_proxy_parent_with_for_concrete_model_false(self):
        episode = ProxyEpisode.objects.create(name="Proxy")
        FormSet = federated_inlineformset_factory(
            Media, fields=["url"], extra=1, for_concrete_model=False
        )
        formset = FormSet(
            formset_data(PREFIX, [{"url": "https://example.com/p"}]), instance=episode
        )
        assert formset.is_valid(), formset.errors
        (media,) = formset.save()

        proxy_type = GenericContentType.objects.get_for_model(
            ProxyEpisode, for_concrete_model=False
        )
        assert (proxy_type.app_label, proxy_type.model) == ("admin_app", "proxyepisode")
        assert media.content_type == proxy_type
        assert media.object_id == str(episode.pk)
        # Found again by the proxy's formset, not by the concrete model's.
        assert [f.instance for f in FormSet(instance=episode).initial_forms] == [media]
        assert MediaFormSet(instance=episode).initial_form_count() == 0

    def test_proxy_parent_with_for_concrete_model_true(self):
        episode = ProxyEpisode.objects.create(name="Proxy")
        formset = MediaFormSet(
            formset_data(PREFIX, [{"url": "https://example.com/c"}]), instance=episode
        )
        assert formset.is_valid(), formset.errors
        (media,) = formset.save()

        assert media.content_type == GenericContentType.objects.get_for_model(Episode)
        concrete = Episode.objects.get(pk=episode.pk)
        assert [f.instance for f in MediaFormSet(instance=concrete).initial_forms] == [media]
