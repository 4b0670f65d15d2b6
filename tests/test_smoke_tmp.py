import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from federated_relations.models import GenericContentType
from federated_relations.exceptions import PeerUnavailable
from tests.testapp.models import *

@pytest.mark.django_db
def test_smoke():
    GenericContentType.objects.clear_cache()
    a = Animal.objects.create(common_name="Lion", latin_name="Panthera leo")
    v = Vegetable.objects.create(name="Carrot")
    u = UUIDBook.objects.create(title="U")
    s = SlugBook.objects.create(slug="abc", title="S")
    for o in (a, v, u, s):
        TaggedItem.objects.create(tag="t", content_object=o)
    rct = GenericContentType.objects.get_for_remote("shop_b", "testapp", "animal")
    TaggedItem.objects.create(tag="remote", content_type=rct, object_id=str(a.pk))
    GenericContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as ctx:
        items = list(TaggedItem.objects.filter(tag="t").prefetch_related("content_object"))
    print([q["sql"] for q in ctx.captured_queries])
    assert len(ctx.captured_queries) == 6
    assert {i.content_object for i in items} == {a, v, u, s}
    assert list(Animal.objects.filter(tags__tag="remote")) == []
    assert list(Animal.objects.filter(tags__tag="t")) == [a]
    assert list(UUIDBook.objects.filter(tags__tag="t")) == [u]
    assert list(TaggedItem.objects.filter(uuid_book__title="U")) == [TaggedItem.objects.get(object_id=str(u.pk))]
    assert list(SlugBook.objects.filter(tags__tag="t")) == [s]
    assert list(Animal.objects.exclude(tags__tag="t")) == []
    assert list(a.tags.all()) == [TaggedItem.objects.get(tag="t", object_id=str(a.pk), content_type__model="animal")]
    r = TaggedItem.objects.get(tag="remote")
    with pytest.raises(PeerUnavailable):
        r.content_object
    print(str(rct), str(GenericContentType.objects.get_for_model(Animal)))
    assert list(Animal.objects.prefetch_related("tags")) == [a]
    a.delete()
    assert TaggedItem.objects.filter(tag="remote").count() == 1
