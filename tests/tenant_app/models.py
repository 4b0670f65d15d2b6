"""Tenant-aware sources and targets.

``Account`` is the tenant. ``Note``, ``Tag`` and ``Comment`` are django-multitenant
``TenantModel``s (the tenant is detected); ``Board`` and ``Label`` only declare a
``TenantMeta`` (no django-multitenant base) and ``Board.labels`` names its tenant with
``tenant_field``, declared before the tenant foreign key. ``Country`` has no tenant: a
target every tenant's sources share.
"""

from django.db import models
from django_multitenant.models import TenantModel

from federated_relations.fields import (
    FederatedForeignKey,
    FederatedManyToManyField,
    FederatedRelation,
)
from federated_relations.models import GenericContentType


class Account(TenantModel):
    name = models.CharField(max_length=50)

    class TenantMeta:
        tenant_field_name = "id"


class Tag(TenantModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    name = models.CharField(max_length=50)

    class TenantMeta:
        tenant_field_name = "account_id"


class Country(models.Model):
    name = models.CharField(max_length=50)


class Comment(TenantModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    content_type = models.ForeignKey(GenericContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=40)
    target = FederatedForeignKey()
    text = models.CharField(max_length=50, default="")

    class TenantMeta:
        tenant_field_name = "account_id"


class Note(TenantModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    title = models.CharField(max_length=50)
    tags = FederatedManyToManyField(Tag, Country, related_name="notes")
    comments = FederatedRelation(Comment)

    class TenantMeta:
        tenant_field_name = "account_id"


class Label(models.Model):
    workspace = models.ForeignKey(Account, on_delete=models.CASCADE)
    name = models.CharField(max_length=50)

    class TenantMeta:
        tenant_field_name = "workspace_id"


class Board(models.Model):
    labels = FederatedManyToManyField(Label, tenant_field="workspace", related_name="boards")
    workspace = models.ForeignKey(Account, on_delete=models.CASCADE)
    title = models.CharField(max_length=50)
