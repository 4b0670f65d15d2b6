"""URLs of a test server that exposes models: the federation endpoints under ``federation/``."""

from __future__ import annotations

from django.urls import include, path

__all__ = ["urlpatterns"]

urlpatterns = [path("federation/", include("federated_relations.urls"))]
