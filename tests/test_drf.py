"""``FederatedRelatedField`` through DRF's test client, and its drf-spectacular schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.test import APIClient

from federated_relations import remote
from federated_relations.contrib.rest_framework import FederatedRelatedField
from federated_relations.models import GenericContentType
from federated_relations.test import assert_num_requests
from tests import fake_peers as fakes
from tests.admin_app.models import Episode, Gadget, Media, Wishlist

pytestmark = pytest.mark.django_db
fake_peers = fakes.fake_peers


class GadgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Gadget
        fields = ["name"]


class WishlistSerializer(serializers.ModelSerializer):
    items = FederatedRelatedField(
        many=True, types=[Gadget, "shop_b:library.book"], serializers={Gadget: GadgetSerializer}
    )

    class Meta:
        model = Wishlist
        fields = ["id", "name", "items"]


class MediaSerializer(serializers.ModelSerializer):
    content_object = FederatedRelatedField(
        types=[Gadget, "shop_b:library.book"], remote_fields=True
    )

    class Meta:
        model = Media
        fields = ["id", "url", "content_object"]

    def create(self, validated_data):
        return Media.objects.create(**validated_data)


class WishlistList(generics.ListCreateAPIView):
    queryset = Wishlist.objects.order_by("pk")
    serializer_class = WishlistSerializer


class WishlistDetail(generics.RetrieveUpdateAPIView):
    queryset = Wishlist.objects.all()
    serializer_class = WishlistSerializer


class MediaList(generics.ListCreateAPIView):
    queryset = Media.objects.order_by("pk")
    serializer_class = MediaSerializer


urlpatterns = [
    path("wishlists/", WishlistList.as_view()),
    path("wishlists/<int:pk>/", WishlistDetail.as_view()),
    path("media/", MediaList.as_view()),
]


def gadget_type():
    return "local_project:admin_app.gadget"


@pytest.fixture
def api(fake_peers):
    shop_b = fake_peers["shop_b"]
    for pk in range(1, 4):
        shop_b.add("library", "book", pk, f"Book {pk}", title=f"Book {pk}")
    with override_settings(ROOT_URLCONF=__name__):
        yield APIClient(), shop_b


def test_read_local_and_remote_targets(api):
    client, _shop_b = api
    phone = Gadget.objects.create(name="phone")
    wishlist = Wishlist.objects.create(name="ann")
    wishlist.items.add(phone, remote("shop_b", "library.Book", 2))
    answer = client.get(f"/wishlists/{wishlist.pk}/")
    assert answer.status_code == 200
    assert answer.json() == {
        "id": wishlist.pk,
        "name": "ann",
        "items": [
            {"type": gadget_type(), "id": str(phone.pk), "str": "phone",
             "object": {"name": "phone"}},
            {"type": "shop_b:library.book", "id": "2", "str": "Book 2"},
        ],
    }


def test_write_validates_each_item(api):
    client, _shop_b = api
    phone = Gadget.objects.create(name="phone")
    episode = Episode.objects.create(name="pilot")
    answer = client.post(
        "/wishlists/",
        {"name": "bob", "items": [
            {"type": gadget_type(), "id": str(phone.pk)},
            {"type": "shop_b:library.book", "id": "3"},
        ]},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    wishlist = Wishlist.objects.get(name="bob")
    assert list(wishlist.items.all()) == [phone, remote("shop_b", "library.Book", 3)]
    bad = [
        {"type": "local_project:admin_app.episode", "id": str(episode.pk)},  # not allowed
        {"type": "nowhere:library.book", "id": "1"},  # unknown peer
        {"type": gadget_type(), "id": "00000000-0000-0000-0000-000000000000"},  # missing
        {"type": "admin_app.gadget", "id": "1"},  # malformed type
        {"id": "1"},  # no type
    ]
    answer = client.post("/wishlists/", {"name": "eve", "items": bad}, format="json")
    assert answer.status_code == 400
    errors = answer.json()["items"]
    assert set(errors) == {"0", "1", "2", "3", "4"}  # one error per item
    text = str(errors)
    assert "cannot be referenced here" in text
    assert "'nowhere' is not a configured peer" in text
    assert "does not exist" in text
    assert not Wishlist.objects.filter(name="eve").exists()


def test_a_foreign_key_reference_reads_and_writes(api):
    client, _shop_b = api
    answer = client.post(
        "/media/",
        {"url": "a.png", "content_object": {"type": "shop_b:library.book", "id": "1"}},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["content_object"] == {
        "type": "shop_b:library.book", "id": "1", "str": "Book 1",
        "object": {"title": "Book 1"},
    }
    media = Media.objects.get()
    assert media.content_type == GenericContentType.objects.get_for_remote(
        "shop_b", "library", "book"
    )
    assert media.object_id == "1"


def test_a_list_of_1000_references_is_batched(api):
    client, shop_b = api
    gadgets = [Gadget(name=f"g{i}") for i in range(500)]
    Gadget.objects.bulk_create(gadgets)
    for pk in range(4, 504):
        shop_b.add("library", "book", pk, f"Book {pk}", title=f"Book {pk}")
    media = [Media(content_object=gadget, url="g") for gadget in gadgets]
    media += [Media(content_object=remote("shop_b", "library.Book", pk), url="b")
              for pk in range(4, 504)]
    Media.objects.bulk_create(media)
    with assert_num_requests(1, peer="shop_b"), CaptureQueriesContext(connection) as queries:
        answer = client.get("/media/")
    assert answer.status_code == 200
    rows = answer.json()
    assert len(rows) == 1000
    assert rows[0]["content_object"]["str"] == "g0"
    assert rows[-1]["content_object"]["str"] == "Book 503"
    # Media rows, then one query for the gadgets (types come from the type cache).
    assert len(queries) <= 3, [q["sql"] for q in queries]


def test_schema_is_one_of_with_a_discriminator():
    from drf_spectacular.generators import SchemaGenerator

    with override_settings(
        ROOT_URLCONF=__name__,
        REST_FRAMEWORK={"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"},
    ):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    items = schema["components"]["schemas"]["Wishlist"]["properties"]["items"]
    assert items["type"] == "array"
    one_of = items["items"]
    assert one_of["discriminator"] == {"propertyName": "type"}
    enums = [alt["properties"]["type"]["enum"] for alt in one_of["oneOf"]]
    assert enums == [[gadget_type()], ["shop_b:library.book"]]


def test_a_list_of_many_to_many_references_is_batched(api):
    client, _shop_b = api
    for i in range(10):
        wishlist = Wishlist.objects.create(name=f"w{i}")
        wishlist.items.add(
            Gadget.objects.create(name=f"g{i}"), remote("shop_b", "library.Book", i % 3 + 1)
        )
    with assert_num_requests(1, peer="shop_b"), CaptureQueriesContext(connection) as queries:
        answer = client.get("/wishlists/")
    assert answer.status_code == 200
    rows = answer.json()
    assert [len(row["items"]) for row in rows] == [2] * 10
    assert rows[9]["items"][0]["str"] == "g9"
    assert rows[9]["items"][1]["str"] == "Book 1"
    # The wishlists, their through rows, the gadgets: not one query per wishlist.
    assert len(queries) <= 3, [q["sql"] for q in queries]


class OpenWishlistSerializer(serializers.ModelSerializer):
    items = FederatedRelatedField(many=True)  # no types: the field's models and the peers

    class Meta:
        model = Wishlist
        fields = ["id", "name", "items"]


def test_without_types_a_many_to_many_field_accepts_only_its_models_and_peers(api):
    from django.contrib.auth.models import User

    user = User.objects.create(username="secret-admin")
    phone = Gadget.objects.create(name="phone")
    episode = Episode.objects.create(name="pilot")
    serializer = OpenWishlistSerializer(data={"name": "x", "items": [
        {"type": "local_project:auth.user", "id": str(user.pk)},
        {"type": "local_project:admin_app.episode", "id": str(episode.pk)},
        {"type": gadget_type(), "id": str(phone.pk)},
        {"type": "shop_b:library.book", "id": "1"},
    ]})
    assert not serializer.is_valid()
    errors = serializer.errors["items"]
    assert set(errors) == {0, 1}
    assert "secret-admin" not in str(errors)
    assert "cannot be referenced here" in str(errors[0])


def test_a_writable_foreign_key_field_requires_types():
    from django.core.exceptions import ImproperlyConfigured

    class Open(serializers.ModelSerializer):
        content_object = FederatedRelatedField()

        class Meta:
            model = Media
            fields = ["content_object"]

    class ReadOnly(serializers.ModelSerializer):
        content_object = FederatedRelatedField(read_only=True)

        class Meta:
            model = Media
            fields = ["content_object"]

    with pytest.raises(ImproperlyConfigured, match="types"):
        Open().fields  # noqa: B018 - binding the fields is what raises
    assert "content_object" in ReadOnly().fields


def test_shared_types_and_boolean_ids_are_refused(api):
    client, _shop_b = api
    phone = Gadget.objects.create(name="phone")
    # Reads never say "shared:": a written shared type would come back as this project's.
    answer = client.post("/wishlists/", {"name": "s", "items": [
        {"type": "shared:admin_app.gadget", "id": str(phone.pk)},
    ]}, format="json")
    assert answer.status_code == 400, answer.json()
    assert "shared" in str(answer.json()["items"]["0"])
    assert not Wishlist.objects.filter(name="s").exists()

    class EpisodeMedia(serializers.ModelSerializer):
        content_object = FederatedRelatedField(types=[Episode])

        class Meta:
            model = Media
            fields = ["url", "content_object"]

    Episode.objects.create(pk=1, name="pilot")  # a boolean id must not name pk 1
    for bad in (True, 1.0, None):
        media = EpisodeMedia(data={"url": "x", "content_object": {
            "type": "local_project:admin_app.episode", "id": bad,
        }})
        assert not media.is_valid(), bad
    media = EpisodeMedia(data={"url": "x", "content_object": {
        "type": "local_project:admin_app.episode", "id": 1,
    }})
    assert media.is_valid(), media.errors
