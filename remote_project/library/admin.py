"""Admin of remote_project: deleting a book here removes it from the peers' shelves.

Staff picks show the book they point at readably: its type, project, pk and name (read
from its shop for a peer's book; the changelist prefetches them in one batch).
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Book, Recommendation


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    """The shop's books; a deletion is announced to every peer (the federation outbox)."""

    list_display = ("title", "author", "price", "id")
    search_fields = ("title", "author")


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    """Staff picks, of this shop's books and of the peer's."""

    list_display = ("book_name", "book_type", "book_project", "object_id", "note")
    list_filter = ("content_type__project",)
    list_select_related = ("content_type",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Prefetch the books: one query here, one batched request per peer."""
        return super().get_queryset(request).prefetch_related("book")

    @admin.display(description="book")
    def book_name(self, obj: Recommendation) -> str:
        """Return the book's name; a peer's book says when its shop cannot be reached."""
        return "(deleted)" if obj.book is None else str(obj.book)

    @admin.display(description="type", ordering="content_type__model")
    def book_type(self, obj: Recommendation) -> str:
        """Return the book's model, as ``app_label.model``."""
        return f"{obj.content_type.app_label}.{obj.content_type.model}"

    @admin.display(description="project", ordering="content_type__project")
    def book_project(self, obj: Any) -> str:
        """Return the project owning the book."""
        return obj.content_type.project
