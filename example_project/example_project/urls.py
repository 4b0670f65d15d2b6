"""URLs of example_project: the shop pages, the admin and the federation endpoints."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("library.urls")),
    path("admin/", admin.site.urls),
    path("federation/", include("federated_relations.urls")),
]
