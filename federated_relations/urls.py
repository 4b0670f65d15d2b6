"""URLs of the peer endpoints; mount them with ``path("federation/", include(...))``.

The last pattern catches every other path under the prefix, so an unknown URL is a
signed-checked JSON 404 rather than Django's HTML page or a trailing-slash redirect.
"""

from __future__ import annotations

from django.urls import path, re_path

from . import views

__all__ = ["app_name", "urlpatterns"]

app_name = "federated_relations"

urlpatterns = [
    path("types/", views.types, name="types"),
    path("objects/<str:app_label>/<str:model>/", views.listing, name="listing"),
    path("objects/<str:app_label>/<str:model>/batch/", views.batch, name="batch"),
    path("events/", views.events, name="events"),
    # [\s\S], not ".": a path with an encoded newline (%0A) must not fall through to
    # Django's HTML 404 without the signature check.
    re_path(r"^(?P<path>[\s\S]*)$", views.not_found, name="not_found"),
]
