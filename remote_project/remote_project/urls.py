"""URLs of remote_project: its shop page, the admin and the federation endpoints."""

from django.contrib import admin
from django.urls import include, path
from library import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("federation/", include("federated_relations.urls")),
]
