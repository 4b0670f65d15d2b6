"""Tests of ``federated_relations.admin``, after Django's ``generic_inline_admin`` tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.test.utils import isolate_apps
from django.urls import reverse

from federated_relations.admin import (
    FederatedInlineModelAdmin,
    FederatedStackedInline,
    FederatedTabularInline,
    GenericContentTypeAdmin,
)
from federated_relations.fields import FederatedForeignKey
from federated_relations.forms import BaseFederatedInlineFormSet
from federated_relations.models import GenericContentType
from tests.admin_app.admin import EpisodeAdmin, MediaInline, NoteInline
from tests.admin_app.models import Bookmark, Category, Episode, Media, Note

MEDIA = "admin_app-media-content_type-object_id"
NOTES = "admin_app-note-owner_type-owner_id"
PASSWORD = "secret-password"


@pytest.fixture(autouse=True)
def _clear_type_cache():
    # Types created inside a test are rolled back with it: don't keep their ids cached.
    yield
    GenericContentType.objects.clear_cache()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    # The default hasher costs seconds per login on a busy machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser_client(db: Any) -> Client:
    User.objects.create_superuser("super", "super@example.com", PASSWORD)
    client = Client()
    assert client.login(username="super", password=PASSWORD)
    return client


def management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def episode_post(media: list[dict[str, str]], initial: int = 0, **fields: str) -> dict[str, str]:
    """Return the POST data of the Episode admin form with these media rows and no notes."""
    data = {"name": "Pilot", "length": "", **fields}
    data.update(management(MEDIA, len(media), initial))
    data.update(management(NOTES, 0))
    for i, row in enumerate(media):
        data.update({f"{MEDIA}-{i}-{key}": value for key, value in row.items()})
    return data


def media_for(obj: models.Model, url: str) -> Media:
    return Media.objects.create(content_object=obj, url=url)


@pytest.mark.django_db
class TestInlineViews:
    def test_add_page_renders_the_inlines(self, superuser_client: Client):
        response = superuser_client.get(reverse("admin:admin_app_episode_add"))

        assert response.status_code == 200
        content = response.content.decode()
        assert f'name="{MEDIA}-TOTAL_FORMS"' in content
        assert f'name="{MEDIA}-1-url"' in content  # extra = 2
        assert f'name="{MEDIA}-0-content_type"' not in content
        assert f'name="{MEDIA}-0-object_id"' not in content
        assert f'name="{NOTES}-0-text"' in content
        formsets = response.context["inline_admin_formsets"]
        assert [type(f.opts) for f in formsets] == [MediaInline, NoteInline]
        assert all(isinstance(f.formset, BaseFederatedInlineFormSet) for f in formsets)
        assert "admin/edit_inline/tabular.html" in [t.name for t in response.templates]
        assert "admin/edit_inline/stacked.html" in [t.name for t in response.templates]

    def test_add_saves_the_inline_rows(self, superuser_client: Client):
        data = episode_post(
            [
                {"url": "https://example.com/1", "description": "one"},
                {"url": "https://example.com/2", "description": ""},
            ]
        )
        data.update(management(NOTES, 1))
        data[f"{NOTES}-0-text"] = "a note"

        response = superuser_client.post(reverse("admin:admin_app_episode_add"), data)

        assert response.status_code == 302, response.context and response.context["errors"]
        episode = Episode.objects.get()
        episode_type = GenericContentType.objects.get_for_model(Episode)
        assert episode_type.project == "local_project"
        assert list(Media.objects.values_list("content_type", "object_id", "url")) == [
            (episode_type.pk, str(episode.pk), "https://example.com/1"),
            (episode_type.pk, str(episode.pk), "https://example.com/2"),
        ]
        note = Note.objects.get()
        assert (note.owner_type, note.owner_id, note.owner) == (episode_type, episode.pk, episode)

    def test_change_page_shows_only_this_objects_rows(self, superuser_client: Client):
        episode = Episode.objects.create(name="Pilot")
        media_for(episode, "https://example.com/mine")
        media_for(Episode.objects.create(name="Other"), "https://example.com/other")
        remote_type = GenericContentType.objects.get_for_remote("shop_b", "admin_app", "episode")
        Media.objects.create(
            content_type=remote_type, object_id=str(episode.pk), url="https://b.example.com/"
        )

        response = superuser_client.get(
            reverse("admin:admin_app_episode_change", args=[episode.pk])
        )

        assert response.status_code == 200
        content = response.content.decode()
        assert "https://example.com/mine" in content
        assert "https://example.com/other" not in content
        assert "https://b.example.com/" not in content
        assert f'name="{MEDIA}-INITIAL_FORMS" value="1"' in content

    def test_change_edits_deletes_and_adds_rows(self, superuser_client: Client):
        episode = Episode.objects.create(name="Pilot")
        kept = media_for(episode, "https://example.com/keep")
        gone = media_for(episode, "https://example.com/gone")
        data = episode_post(
            [
                {"id": str(kept.pk), "url": "https://example.com/changed"},
                {"id": str(gone.pk), "url": gone.url, "DELETE": "on"},
                {"url": "https://example.com/new"},
            ],
            initial=2,
            name="Pilot, edited",
        )

        response = superuser_client.post(
            reverse("admin:admin_app_episode_change", args=[episode.pk]), data
        )

        assert response.status_code == 302
        assert Episode.objects.get().name == "Pilot, edited"
        assert sorted(m.url for m in episode.media.all()) == [
            "https://example.com/changed",
            "https://example.com/new",
        ]
        assert not Media.objects.filter(pk=gone.pk).exists()

    def test_uuid_parent(self, superuser_client: Client):
        pk = uuid.UUID(int=42)
        data = {
            "id": str(pk),  # an editable UUID pk is a field of the admin form
            "name": "Docs",
            **management(MEDIA, 1),
            f"{MEDIA}-0-url": "https://x.example/",
        }

        response = superuser_client.post(reverse("admin:admin_app_category_add"), data)

        assert response.status_code == 302
        category = Category.objects.get()
        media = Media.objects.get()
        assert category.pk == pk
        assert media.object_id == "00000000-0000-0000-0000-00000000002a"
        assert media.content_type == GenericContentType.objects.get_for_model(Category)
        change = superuser_client.get(
            reverse("admin:admin_app_category_change", args=[category.pk])
        )
        assert "https://x.example/" in change.content.decode()

    def test_save_as_new_copies_the_rows(self, superuser_client: Client):
        original = Episode.objects.create(name="Pilot")
        media = media_for(original, "https://example.com/a")
        data = episode_post(
            [{"id": str(media.pk), "url": media.url}], initial=1, name="Pilot (copy)"
        )
        data["_saveasnew"] = "Save as new"

        response = superuser_client.post(
            reverse("admin:admin_app_episode_change", args=[original.pk]), data
        )

        assert response.status_code == 302
        copy = Episode.objects.get(name="Pilot (copy)")
        assert list(original.media.all()) == [media]
        (new,) = copy.media.all()
        assert new.pk != media.pk
        assert (new.url, new.object_id) == ("https://example.com/a", str(copy.pk))

    def test_inline_rows_are_protected_without_permissions(self, db: Any):
        # A staff user who may change episodes but only view media: the inline is
        # read-only, and a forged POST changes nothing in it.
        user = User.objects.create_user("staff", password=PASSWORD, is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="admin_app",
                codename__in=["view_episode", "change_episode", "view_media"],
            )
        )
        client = Client()
        assert client.login(username="staff", password=PASSWORD)
        episode = Episode.objects.create(name="Pilot")
        media = media_for(episode, "https://example.com/a")
        data = episode_post(
            [
                {"id": str(media.pk), "url": "https://example.com/forged"},
                {"url": "https://example.com/added"},
            ],
            initial=1,
            name="Renamed",
        )
        data.pop(f"{NOTES}-TOTAL_FORMS")  # no permission on notes: no notes formset

        response = client.post(reverse("admin:admin_app_episode_change", args=[episode.pk]), data)

        assert response.status_code == 302
        assert Episode.objects.get().name == "Renamed"
        assert list(Media.objects.values_list("url", flat=True)) == ["https://example.com/a"]


class TestChecks:
    def check(self, inline: type[FederatedInlineModelAdmin], parent=Episode) -> list[Any]:
        class ParentAdmin(admin.ModelAdmin):
            inlines = [inline]

        return ParentAdmin(parent, AdminSite()).check()

    def test_valid_inlines(self):
        assert EpisodeAdmin(Episode, AdminSite()).check() == []
        assert self.check(MediaInline, parent=Category) == []

    def test_e501_no_federated_foreign_key(self):
        class EpisodeInline(FederatedTabularInline):
            model = Episode

        class BookmarkInline(FederatedTabularInline):
            model = Bookmark  # Django's GenericForeignKey

        for inline, label in ((EpisodeInline, "admin_app.Episode"), (BookmarkInline, None)):
            (error,) = self.check(inline, parent=Category)
            assert error.id == "federated_relations.E501"
            assert error.obj is inline
            assert error.msg == f"'{label or 'admin_app.Bookmark'}' has no FederatedForeignKey."

    def test_e502_missing_ct_field(self):
        class Inline(FederatedTabularInline):
            model = Media
            ct_field = "nope"

        (error,) = self.check(Inline)
        assert error.id == "federated_relations.E502"
        assert error.msg == (
            "'ct_field' references 'nope', which is not a field on 'admin_app.Media'."
        )
        assert error.obj is Inline

    def test_e503_missing_ct_fk_field(self):
        class Inline(FederatedStackedInline):
            model = Media
            ct_fk_field = "nope"

        (error,) = self.check(Inline)
        assert error.id == "federated_relations.E503"
        assert error.msg == (
            "'ct_fk_field' references 'nope', which is not a field on 'admin_app.Media'."
        )

    def test_e504_no_matching_federated_foreign_key(self):
        class Inline(FederatedTabularInline):
            model = Media
            ct_fk_field = "description"

        (error,) = self.check(Inline)
        assert error.id == "federated_relations.E504"
        assert error.msg == (
            "'admin_app.Media' has no FederatedForeignKey using content type field "
            "'content_type' and object ID field 'description'."
        )

    def test_e505_ct_field_not_a_foreign_key(self):
        class Inline(FederatedTabularInline):
            model = Media
            ct_field = "url"

        (error,) = self.check(Inline)
        assert error.id == "federated_relations.E505"
        assert "'admin_app.Media.url', which is not a ForeignKey to" in error.msg

    @isolate_apps("tests.admin_app")
    def test_e505_ct_field_to_content_type(self):
        class Attachment(models.Model):
            content_type = models.ForeignKey(ContentType, models.CASCADE)
            object_id = models.CharField(max_length=64)
            content_object = FederatedForeignKey()

            class Meta:
                app_label = "admin_app"

        class Inline(FederatedTabularInline):
            model = Attachment

        (error,) = self.check(Inline)
        assert error.id == "federated_relations.E505"
        assert error.msg == (
            "'ct_field' references 'admin_app.Attachment.content_type', which is not a "
            "ForeignKey to 'federated_relations.GenericContentType'."
        )

    @isolate_apps("tests.admin_app")
    def test_second_federated_foreign_key_matches(self):
        class Pair(models.Model):
            a_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
            a_id = models.CharField(max_length=64)
            a = FederatedForeignKey("a_type", "a_id")
            b_type = models.ForeignKey(GenericContentType, models.CASCADE, related_name="+")
            b_id = models.CharField(max_length=64)
            b = FederatedForeignKey("b_type", "b_id")

            class Meta:
                app_label = "admin_app"

        class Inline(FederatedTabularInline):
            model = Pair
            ct_field = "b_type"
            ct_fk_field = "b_id"

        assert self.check(Inline) == []

    def test_exclude_of_parent_model_is_not_checked(self):
        # Like GenericInlineModelAdmin: there is no ForeignKey to the parent to exclude.
        class Inline(FederatedTabularInline):
            model = Media
            exclude = ["content_type"]

        assert self.check(Inline) == []


@pytest.mark.django_db
class TestGenericContentTypeAdmin:
    def test_registered_on_the_default_site(self):
        assert isinstance(admin.site.get_model_admin(GenericContentType), GenericContentTypeAdmin)

    def test_changelist(self, superuser_client: Client):
        url = reverse("admin:federated_relations_genericcontenttype_changelist")

        response = superuser_client.get(url)

        assert response.status_code == 200
        content = response.content.decode()
        assert "local_project" in content
        assert "Add generic content type" not in content
        # No action checkbox: delete_selected needs the delete permission.
        assert list(response.context["cl"].list_display) == [
            "project",
            "app_label",
            "model",
            "is_local",
        ]
        assert not response.context["cl"].model_admin.get_actions(response.wsgi_request)

    def test_filter_by_project(self, superuser_client: Client):
        item = GenericContentType.objects.get_for_remote("shop_zz", "catalogue_zz", "item")
        url = reverse("admin:federated_relations_genericcontenttype_changelist")

        response = superuser_client.get(url, {"project": "shop_zz"})

        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [item]
        assert "shop_zz" in response.content.decode()

    def test_search(self, superuser_client: Client):
        item = GenericContentType.objects.get_for_remote("shop_zz", "catalogue_zz", "item")
        url = reverse("admin:federated_relations_genericcontenttype_changelist")

        response = superuser_client.get(url, {"q": "catalogue_zz"})

        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [item]

    def test_add_is_forbidden(self, superuser_client: Client):
        url = reverse("admin:federated_relations_genericcontenttype_add")
        assert superuser_client.get(url).status_code == 403
        assert superuser_client.post(url, {"project": "x"}).status_code == 403
        assert not GenericContentType.objects.filter(project="x").exists()

    def test_change_is_view_only(self, superuser_client: Client):
        ct = GenericContentType.objects.get_for_model(Episode)
        url = reverse("admin:federated_relations_genericcontenttype_change", args=[ct.pk])

        response = superuser_client.get(url)
        assert response.status_code == 200
        assert 'name="_save"' not in response.content.decode()

        data = {"project": "hacked", "app_label": "admin_app", "model": "episode"}
        assert superuser_client.post(url, data).status_code == 403
        ct.refresh_from_db()
        assert ct.project == "local_project"

    def test_delete_is_forbidden(self, superuser_client: Client):
        ct = GenericContentType.objects.get_for_model(Episode)
        url = reverse("admin:federated_relations_genericcontenttype_delete", args=[ct.pk])
        assert superuser_client.post(url, {"post": "yes"}).status_code == 403
        assert GenericContentType.objects.filter(pk=ct.pk).exists()


def test_importing_without_the_admin_app_registers_nothing(tmp_path: Path):
    # Autodiscovery never imports the module then, but a project may import the inlines;
    # touching admin.site there would raise LookupError (no app labelled 'admin').
    settings = tmp_path / "no_admin_settings.py"
    settings.write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "x"
            INSTALLED_APPS = ["django.contrib.contenttypes", "federated_relations"]
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            FEDERATION = {"PROJECT_NAME": "p"}
            """
        )
    )
    script = (
        "import django; django.setup()\n"
        "from django.apps import apps\n"
        "from federated_relations import admin as fr_admin\n"
        "assert not apps.is_installed('django.contrib.admin')\n"
        "assert fr_admin.FederatedTabularInline.formset is not None\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "no_admin_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent.parent)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
