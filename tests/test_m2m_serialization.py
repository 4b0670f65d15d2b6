"""dumpdata/loaddata of ``FederatedManyToManyField`` values with our serializer formats."""

import io
import json

import pytest
from django.core import serializers
from django.core.management import call_command
from django.test import override_settings

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from tests import fake_peers as fakes
from tests.m2m_app.models import Documentary, Movie, User

pytestmark = pytest.mark.django_db

MODULES = {
    "json": "federated_relations.serializers.json",
    "python": "federated_relations.serializers.python",
}


fake_peers = fakes.fake_peers


@pytest.fixture
def federated_formats(fake_peers):
    fake_peers["shop_b"].add("m2m_app", "movie", 5, "A peer's movie")  # add() checks the type
    # The registry is filled once from SERIALIZATION_MODULES: refill it around the test.
    serializers._serializers = {}
    with override_settings(SERIALIZATION_MODULES=MODULES):
        yield
    serializers._serializers = {}


def test_dumpdata_loaddata_round_trip(federated_formats, tmp_path):
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")
    user = User.objects.create(name="u")
    for target in (movie, doc, RemoteObject(remote_type, 5)):
        user.preferred_videos.add(target)  # one call each: rows in this order
    out = io.StringIO()
    call_command(
        "dumpdata", "m2m_app.user", "m2m_app.video", "m2m_app.movie", "m2m_app.documentary",
        "federated_relations.genericcontenttype", natural_foreign=True, natural_primary=True,
        stdout=out,
    )
    data = json.loads(out.getvalue())
    dumped_user = next(item for item in data if item["model"] == "m2m_app.user")
    assert dumped_user["fields"]["preferred_videos"] == [
        ["local_project", "m2m_app", "movie", str(movie.pk)],
        ["local_project", "m2m_app", "documentary", str(doc.pk)],
        ["shop_b", "m2m_app", "movie", "5"],
    ]
    fixture = tmp_path / "users.json"
    fixture.write_text(out.getvalue())
    through = User.preferred_videos.through
    rows = set(through.objects.values_list("user", "content_type__model", "content_type__project",
                                           "object_id"))
    through.objects.all().delete()
    User.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    loaded = User.objects.get(name="u")
    assert set(through.objects.values_list("user", "content_type__model",
                                           "content_type__project", "object_id")) == rows
    assert list(loaded.preferred_videos.filter(Model=Movie)) == [movie]


def test_other_fields_serialize_as_django_does(federated_formats):
    user = User.objects.create(name="u")
    ours = serializers.serialize("python", [user])
    assert ours[0]["fields"]["name"] == "u"
    assert ours[0]["fields"]["preferred_shows"] == []
