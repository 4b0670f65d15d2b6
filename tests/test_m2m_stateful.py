"""A Hypothesis state machine: the relation behaves like a Python set of (source, target)."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from federated_relations.models import GenericContentType
from federated_relations.remote import RemoteObject
from tests.m2m_app.models import Documentary, Movie, User


class RelationMachine(RuleBasedStateMachine):
    """Random add/remove/clear/set on sources and deletes of targets, against a set model."""

    sources = Bundle("sources")
    targets = Bundle("targets")

    def __init__(self):
        super().__init__()
        # Examples share the test's transaction: each starts from no relation at all.
        User.objects.all().delete()
        self.model: set[tuple[int, tuple[str, object]]] = set()
        self.remote_type = GenericContentType.objects.get_for_remote("shop_b", "m2m_app", "movie")

    @staticmethod
    def key(target):
        if isinstance(target, RemoteObject):
            return ("remote", str(target.pk))
        return (type(target).__name__, target.pk)

    @rule(target=sources)
    def new_source(self):
        return User.objects.create()

    @rule(target=targets, kind=st.sampled_from(["movie", "documentary", "remote"]))
    def new_target(self, kind):
        if kind == "movie":
            return Movie.objects.create()
        if kind == "documentary":
            return Documentary.objects.create()
        # A remote object whose pk may equal a local one's.
        return RemoteObject(self.remote_type, Movie.objects.count() or 1)

    def alive(self, target):
        return isinstance(target, RemoteObject) or target.pk is not None

    @rule(source=sources, objs=st.lists(targets, max_size=3))
    def add(self, source, objs):
        objs = [obj for obj in objs if self.alive(obj)]
        source.preferred_videos.add(*objs)
        self.model |= {(source.pk, self.key(obj)) for obj in objs}

    @rule(source=sources, objs=st.lists(targets, max_size=3))
    def remove(self, source, objs):
        objs = [obj for obj in objs if self.alive(obj)]
        source.preferred_videos.remove(*objs)
        self.model -= {(source.pk, self.key(obj)) for obj in objs}

    @rule(source=sources)
    def clear(self, source):
        source.preferred_videos.clear()
        self.model = {pair for pair in self.model if pair[0] != source.pk}

    @rule(source=sources, objs=st.lists(targets, max_size=3), clear=st.booleans())
    def set(self, source, objs, clear):
        objs = [obj for obj in objs if self.alive(obj)]
        source.preferred_videos.set(objs, clear=clear)
        self.model = {pair for pair in self.model if pair[0] != source.pk}
        self.model |= {(source.pk, self.key(obj)) for obj in objs}

    @rule(obj=targets)
    def delete_target(self, obj):
        if isinstance(obj, RemoteObject) or obj.pk is None:
            return
        key = self.key(obj)
        obj.delete()
        self.model = {pair for pair in self.model if pair[1] != key}

    @invariant()
    def rows_match_the_model(self):
        movie = GenericContentType.objects.get_for_model(Movie).pk
        documentary = GenericContentType.objects.get_for_model(Documentary).pk
        names = {movie: "Movie", documentary: "Documentary", self.remote_type.pk: "remote"}
        rows = {
            (user_id, (names[type_id], object_id if names[type_id] == "remote"
                       else int(object_id)))
            for user_id, type_id, object_id in User.preferred_videos.through.objects.values_list(
                "user_id", "content_type_id", "object_id"
            )
        }
        assert rows == self.model

    @invariant()
    def managers_match_the_model(self):
        for user in User.objects.all():
            expected = {key for source, key in self.model if source == user.pk}
            local = {key for key in expected if key[0] != "remote"}
            assert {self.key(obj) for obj in user.preferred_videos.filter(
                Model__in=[Movie, Documentary])} == local
            assert user.preferred_videos.count() == len(expected)


@pytest.mark.django_db
def test_relation_behaves_like_a_set():
    run_state_machine_as_test(
        RelationMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
