"""Admin of example_project: books, listings and shelves, relations shown readably.

Every relation to a book, local or remote, is shown as its type, its project, its pk and
the book's name (read from its shop; changelists prefetch them, one batch per page).
Listings and shelf entries pick their book with one search box over both shops' books
(``FederatedAdminMixin``): this shop's through ``BookAdmin.search_fields``, Hilltop Books'
through its listing's search (remote_project's ``EXPOSE`` lets peers search titles).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from federated_relations.admin import FederatedAdminMixin
from through_models.models import Shelf, ShelfEntry

from .catalogue import shop_name
from .models import Book, Listing, ReadingList


class RelationColumns:
    """Columns describing the target of a ``FederatedForeignKey`` named ``target_name``."""

    target_name = ""

    def _target(self, obj: Any) -> Any:
        return getattr(obj, self.target_name)

    @admin.display(description="type", ordering="content_type__model")
    def target_type(self, obj: Any) -> str:
        """Return the target's model, as ``app_label.model``."""
        return f"{obj.content_type.app_label}.{obj.content_type.model}"

    @admin.display(description="project", ordering="content_type__project")
    def target_project(self, obj: Any) -> str:
        """Return the project owning the target, and its shop name."""
        project = obj.content_type.project
        return f"{project} ({shop_name(project)})"

    @admin.display(description="pk", ordering="object_id")
    def target_pk(self, obj: Any) -> str:
        """Return the target's primary key."""
        return obj.object_id

    @admin.display(description="book")
    def target_name_column(self, obj: Any) -> str:
        """Return the target's name; a remote book says when its shop cannot be reached."""
        target = self._target(obj)
        return "(deleted)" if target is None else str(target)


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    """This shop's books."""

    list_display = ("title", "author", "price", "id")
    search_fields = ("title", "author")


@admin.register(Listing)
class ListingAdmin(FederatedAdminMixin, RelationColumns, admin.ModelAdmin):
    """The books listed on ``/books/``: this shop's and the peer's.

    The form's ``book`` is one search box over both shops' books; the changelist's
    ``book`` column shows each book with its shop and model as a badge.
    """

    target_name = "book"
    list_display = ("book", "target_type", "target_project", "target_pk", "listed_at")
    list_filter = ("content_type__project",)
    list_select_related = ("content_type",)
    readonly_fields = ("listed_at",)
    federated_autocomplete_fields = {"book": {"models": [Book]}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books: one query here, one batched request per peer."""
        return super().get_queryset(request).prefetch_related("book")


class ShelfEntryInline(FederatedAdminMixin, admin.TabularInline):
    """The books on a shelf: pick each in one search box over both shops' books.

    A hit or a shelved book shows its shop and model as a badge (``shop_b · book``).
    """

    model = ShelfEntry
    fields = ("item", "reason", "added_at")
    readonly_fields = ("added_at",)
    federated_autocomplete_fields = {"item": {"models": [Book]}}
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books of the shelf in one batch."""
        return super().get_queryset(request).select_related("content_type").prefetch_related(
            "item"
        )


@admin.register(Shelf)
class ShelfAdmin(FederatedAdminMixin, admin.ModelAdmin):
    """Readers' shelves (``through_models.Shelf``) with their entries inline.

    ``items`` goes through a custom model (``ShelfEntry``), so, as with Django's
    many-to-many fields, it is edited through its rows (the inline), not as a field.
    The mixin serves the inline's search box.
    """

    fields = ("name",)
    list_display = ("name", "entry_count")
    inlines = [ShelfEntryInline]

    @admin.display(description="books")
    def entry_count(self, obj: Shelf) -> int:
        """Return how many books are on the shelf."""
        return obj.entries.count()


@admin.register(ShelfEntry)
class ShelfEntryAdmin(RelationColumns, admin.ModelAdmin):
    """Every shelf entry, local or remote book."""

    target_name = "item"
    list_display = (
        "shelf", "target_name_column", "target_type", "target_project", "target_pk",
        "added_at", "reason",
    )
    list_filter = ("shelf", "content_type__project")
    list_select_related = ("shelf", "content_type")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books: one query here, one batched request per peer."""
        return super().get_queryset(request).prefetch_related("item")


# A default ModelAdmin: the form offers this shop's books and keeps the peers' books it
# cannot show (saving the page never drops them).
admin.site.register(ReadingList)
