"""Admin of example_project: books, listings and shelves, relations shown readably.

Every relation to a book, local or remote, is shown as its type, its project, its pk and
the book's name (read from its shop; changelists prefetch them, one batch per page).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from through_models.models import Shelf, ShelfEntry

from .catalogue import shop_name
from .models import Book, Listing


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
class ListingAdmin(RelationColumns, admin.ModelAdmin):
    """The books listed on ``/books/``: this shop's and the peer's."""

    target_name = "book"
    list_display = (
        "target_name_column", "target_type", "target_project", "target_pk", "listed_at"
    )
    list_filter = ("content_type__project",)
    list_select_related = ("content_type",)
    readonly_fields = ("target_name_column", "listed_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books: one query here, one batched request per peer."""
        return super().get_queryset(request).prefetch_related("book")


class ShelfEntryInline(RelationColumns, admin.TabularInline):
    """The books on a shelf, read-only but for the reason: type, project, pk and name.

    Books are put on shelves from the shelf page, which offers both shops' books.
    """

    model = ShelfEntry
    target_name = "item"
    fields = (
        "target_name_column", "target_type", "target_project", "target_pk", "reason",
        "added_at",
    )
    readonly_fields = ("target_name_column", "target_type", "target_project", "target_pk")
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return ``False``: books are shelved from the shelf page."""
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books of the shelf in one batch."""
        return super().get_queryset(request).select_related("content_type").prefetch_related(
            "item"
        )


@admin.register(Shelf)
class ShelfAdmin(admin.ModelAdmin):
    """Readers' shelves (``through_models.Shelf``) with their entries inline.

    ``items`` goes through a custom model (``ShelfEntry``), so, as with Django's
    many-to-many fields, it is edited through its rows (the inline), not as a field.
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
