"""dumpdata/loaddata of federated rows: every built-in format, fresh databases, clear errors.

The round trips dump with ``call_command("dumpdata")``, flush the database (which leaves
only this project's types, as a new database after ``migrate`` has), then load with
``call_command("loaddata")``: the peer's types named by the fixture must be created.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import json

import pytest
from django.core import serializers
from django.core.management import call_command
from django.core.serializers.base import DeserializationError
from django.test import override_settings

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from federated_relations.serializers import FORMATS, check_serialization_modules
from tests import fake_peers as fakes
from tests.m2m_app.models import Documentary, Holiday, Movie, User
from tests.testapp.models import Mineral, TaggedItem

fake_peers = fakes.fake_peers

HAS_YAML = importlib.util.find_spec("yaml") is not None
DUMPED = [
    "m2m_app.user", "m2m_app.video", "m2m_app.movie", "m2m_app.documentary", "m2m_app.holiday",
    "testapp.mineral", "testapp.taggeditem",
]  # fmt: skip


@pytest.fixture
def shop_b(fake_peers):
    """Peer shop_b, answered in-process, exposing library.book (add() checks the type)."""
    fake_peers["shop_b"].add("library", "book", 5, "Dune")
    fake_peers["shop_b"].add("library", "book", 7, "Emma")
    return fake_peers["shop_b"]


@pytest.fixture
def federated_formats(shop_b):
    # Django fills its registry of formats once from SERIALIZATION_MODULES: refill it.
    serializers._serializers = {}
    with override_settings(SERIALIZATION_MODULES=FORMATS):
        yield
    serializers._serializers = {}


@pytest.fixture
def django_formats(shop_b):
    serializers._serializers = {}
    with override_settings(SERIALIZATION_MODULES={}):
        yield
    serializers._serializers = {}


def make_rows() -> dict:
    """Create users with local and remote targets, and tags of a local and a remote object."""
    book = GenericContentType.objects.get_for_remote("shop_b", "library", "book")
    movie, doc = Movie.objects.create(title="m"), Documentary.objects.create(title="d")
    holiday = Holiday.objects.create(day=datetime.date(2024, 12, 25))  # a date pk
    ann, bob = User.objects.create(name="ann"), User.objects.create(name="bob")
    for target in (movie, RemoteObject(book, "5"), holiday, doc):
        ann.preferred_videos.add(target)  # one call each: rows in this order
    bob.preferred_videos.add(RemoteObject(book, "7"))
    mineral = Mineral.objects.create(name="quartz", hardness=7)
    TaggedItem.objects.create(tag="local", content_object=mineral)
    TaggedItem.objects.create(tag="remote", content_type=book, object_id="5")
    return {"movie": movie, "doc": doc, "holiday": holiday}


def snapshot() -> dict:
    """Return every federated row by natural keys (type ids differ between databases)."""
    through = User.preferred_videos.through
    keys = ("content_type__project", "content_type__app_label", "content_type__model")
    return {
        "m2m": list(
            through.objects.order_by("pk").values_list("user__name", *keys, "object_id")
        ),
        "tags": sorted(TaggedItem.objects.values_list("tag", *keys, "object_id")),
    }


def fresh_database() -> None:
    """Empty every table; post_migrate recreates this project's types only."""
    call_command("flush", interactive=False, verbosity=0)
    GenericContentType.objects.clear_cache()  # a new process would start with none


ROUND_TRIPS = [
    pytest.param("json", False, id="json"),
    pytest.param("json", True, id="json-with-types"),
    pytest.param("jsonl", False, id="jsonl"),
    pytest.param("xml", False, id="xml"),
    pytest.param(
        "yaml", False, id="yaml",
        marks=pytest.mark.skipif(not HAS_YAML, reason="PyYAML is not installed"),
    ),
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("format", "with_types"), ROUND_TRIPS)
def test_round_trip_into_a_fresh_database(federated_formats, tmp_path, format, with_types):
    targets = make_rows()
    before = snapshot()
    fixture = tmp_path / f"data.{format}"
    labels = [*DUMPED, "federated_relations.genericcontenttype"] if with_types else DUMPED
    call_command(
        "dumpdata", *labels, format=format, natural_foreign=True, natural_primary=True,
        output=str(fixture), verbosity=0,
    )  # fmt: skip
    if format == "xml":
        text = fixture.read_text()
        assert "<natural>shop_b</natural><natural>library</natural>" in text
        field = text[text.index('name="preferred_videos"') :].split("</field>")[0]
        assert "pk=" not in field  # never a bare pk for a federated target
    fresh_database()
    assert not GenericContentType.objects.filter(project="shop_b").exists()

    call_command("loaddata", str(fixture), verbosity=0)

    assert snapshot() == before
    assert GenericContentType.objects.filter(project="shop_b").count() == 1
    ann = User.objects.get(name="ann")
    assert list(ann.preferred_videos.filter(Model=Movie)) == [targets["movie"]]
    assert TaggedItem.objects.get(tag="remote").content_object == RemoteObject(
        GenericContentType.objects.get_for_remote("shop_b", "library", "book"), "5"
    )
    # Loading again changes nothing: set() replaces the targets.
    call_command("loaddata", str(fixture), verbosity=0)
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_round_trip_without_natural_keys(federated_formats, tmp_path):
    """Without --natural-foreign the targets are still references (a type id is per database)."""
    make_rows()
    before = snapshot()["m2m"]
    fixture = tmp_path / "users.json"
    call_command("dumpdata", *DUMPED[:5], output=str(fixture), verbosity=0)
    data = json.loads(fixture.read_text())
    ann = next(item for item in data if item["fields"].get("name") == "ann")
    assert ann["fields"]["preferred_videos"][1] == ["shop_b", "library", "book", "5"]
    fresh_database()
    call_command("loaddata", str(fixture), verbosity=0)
    assert snapshot()["m2m"] == before


@pytest.mark.django_db
def test_python_format_round_trip(federated_formats):
    targets = make_rows()
    ann = User.objects.get(name="ann")
    data = serializers.serialize("python", [ann])
    holiday = targets["holiday"]
    assert data[0]["fields"]["preferred_videos"] == [
        ["local_project", "m2m_app", "movie", str(targets["movie"].pk)],
        ["shop_b", "library", "book", "5"],
        ["local_project", "m2m_app", "holiday", "2024-12-25"],
        ["local_project", "m2m_app", "documentary", str(targets["doc"].pk)],
    ]
    assert data[0]["fields"]["name"] == "ann"  # other fields as Django writes them
    ann.preferred_videos.clear()
    for obj in serializers.deserialize("python", data):
        obj.save()
    assert list(ann.preferred_videos.filter(Model=Holiday)) == [holiday]
    assert ann.preferred_videos.count() == 4


@pytest.mark.django_db
def test_dumping_costs_one_query_per_object_and_field(
    federated_formats, django_assert_num_queries
):
    make_rows()
    # The users, then the rows of each user's two fields; the types come from the cache.
    with django_assert_num_queries(1 + 2 * 2):
        data = serializers.serialize("json", User.objects.order_by("pk"))
    assert [len(item["fields"]["preferred_videos"]) for item in json.loads(data)] == [4, 1]


@pytest.mark.django_db
def test_a_missing_local_model_names_the_type(federated_formats, tmp_path):
    fixture = tmp_path / "bad.json"
    fixture.write_text(json.dumps([
        {"model": "m2m_app.user", "pk": 50, "fields": {
            "name": "x", "preferred_videos": [["local_project", "m2m_app", "nosuch", "1"]],
        }},
    ]))  # fmt: skip
    with pytest.raises(DeserializationError) as raised:
        call_command("loaddata", str(fixture), verbosity=0)
    assert "No GenericContentType local_project.m2m_app.nosuch" in str(raised.value)
    assert "m2m_app.user:pk=50" in str(raised.value)
    assert not User.objects.filter(pk=50).exists()  # loaddata is atomic


@pytest.mark.django_db
def test_a_missing_local_type_of_a_foreign_key_names_the_type(tmp_path):
    fixture = tmp_path / "tags.json"
    fixture.write_text(json.dumps([
        {"model": "testapp.nullabletaggeditem", "fields": {
            "content_type": ["local_project", "testapp", "nosuch"], "object_id": "1",
        }},
    ]))  # fmt: skip
    # loaddata retries a missing natural key at the end (it may be a forward reference);
    # a non-null foreign key fails on its NOT NULL constraint first, as with ContentType.
    with pytest.raises(DeserializationError, match=r"local_project\.testapp\.nosuch"):
        call_command("loaddata", str(fixture), verbosity=0)
    data = [{"model": "testapp.taggeditem", "fields": {
        "tag": "t", "content_type": ["local_project", "testapp", "nosuch"], "object_id": "1",
    }}]  # fmt: skip
    with pytest.raises(DeserializationError, match=r"local_project\.testapp\.nosuch"):
        list(serializers.deserialize("python", data))


@pytest.mark.django_db
def test_a_bare_pk_is_refused(federated_formats, tmp_path):
    movie = Movie.objects.create(title="m")
    fixture = tmp_path / "old.json"
    fixture.write_text(json.dumps([
        {"model": "m2m_app.user", "pk": 60,
         "fields": {"name": "x", "preferred_videos": [movie.pk]}},
    ]))  # fmt: skip
    with pytest.raises(DeserializationError, match="SERIALIZATION_MODULES"):
        call_command("loaddata", str(fixture), verbosity=0)


@pytest.mark.django_db
def test_a_bare_pk_in_xml_is_refused(federated_formats, tmp_path):
    fixture = tmp_path / "old.xml"
    fixture.write_text(
        '<?xml version="1.0" encoding="utf-8"?><django-objects version="1.0">'
        '<object model="m2m_app.user" pk="61"><field name="name" type="CharField">x</field>'
        '<field name="preferred_videos" rel="ManyToManyRel" to="federated_relations.generic'
        'contenttype"><object pk="3"></object></field></object></django-objects>'
    )
    with pytest.raises(DeserializationError, match="SERIALIZATION_MODULES") as raised:
        call_command("loaddata", str(fixture), verbosity=0)
    assert "m2m_app.user:pk=61" in str(raised.value)


@pytest.mark.django_db
def test_django_formats_cannot_read_references_and_say_why(django_formats, tmp_path):
    fixture = tmp_path / "refs.json"
    fixture.write_text(json.dumps([
        {"model": "m2m_app.user", "pk": 70, "fields": {
            "name": "x", "preferred_videos": [["shop_b", "library", "book", "5"]],
        }},
    ]))  # fmt: skip
    with pytest.raises(DeserializationError, match="SERIALIZATION_MODULES"):
        call_command("loaddata", str(fixture), verbosity=0)


def test_check_names_the_setting_when_django_formats_are_used(django_formats):
    [warning] = check_serialization_modules()
    assert warning.id == "federated_relations.W601"
    assert "m2m_app.User.preferred_videos" in warning.msg
    assert "'json': 'federated_relations.serializers.json'" in warning.hint
    assert "'xml': 'federated_relations.serializers.xml_serializer'" in warning.hint
    assert warning.hint.startswith("Add to SERIALIZATION_MODULES")


def test_check_is_silent_with_the_federated_formats(federated_formats):
    assert check_serialization_modules() == []


def test_check_names_only_the_formats_left_out(django_formats):
    serializers._serializers = {}
    with override_settings(SERIALIZATION_MODULES={"json": FORMATS["json"]}):
        [warning] = check_serialization_modules()
    serializers._serializers = {}
    assert "'json'" not in warning.hint
    assert "'jsonl': 'federated_relations.serializers.jsonl'" in warning.hint


@pytest.mark.django_db
def test_dumpdata_with_django_formats_warns_first(django_formats):
    """What ``manage.py dumpdata`` prints before Django's format writes bare pks."""
    User.objects.create(name="ann").preferred_videos.add(Movie.objects.create(title="m"))
    stderr = io.StringIO()
    call_command("dumpdata", "m2m_app.user", skip_checks=False, stdout=io.StringIO(),
                 stderr=stderr)  # fmt: skip
    assert "federated_relations.W601" in stderr.getvalue()
    assert "Add to SERIALIZATION_MODULES" in stderr.getvalue()
