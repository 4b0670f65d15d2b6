"""URLs of the test suite."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The suite has PEERS (tests/settings.py): a server with peers mounts the endpoints.
    path("federation/", include("federated_relations.urls")),
]
