"""URLs of this test process when it serves peers (live server): the federation endpoints."""

from __future__ import annotations

from django.urls import include, path

__all__ = ["urlpatterns"]

urlpatterns = [path("federation/", include("federated_relations.urls"))]
