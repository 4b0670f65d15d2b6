"""URLs of example_project's shop pages."""

from django.urls import path
from django.views.generic import RedirectView

from . import api, views

urlpatterns = [
    path("", RedirectView.as_view(url="/books/", permanent=False)),
    path("books/", views.books, name="books"),
    path("books/<str:project>/<str:pk>/", views.book_detail, name="book_detail"),
    path("shelves/", views.shelves, name="shelves"),
    path("shelves/<int:shelf_id>/", views.shelf_detail, name="shelf_detail"),
    path("shelves/<int:shelf_id>/add/", views.shelf_add, name="shelf_add"),
    path(
        "shelves/<int:shelf_id>/remove/<int:entry_id>/", views.shelf_remove, name="shelf_remove"
    ),
    path("api/shelves/", api.ShelfList.as_view(), name="api_shelves"),
    path("api/reading-lists/", api.ReadingListList.as_view(), name="api_reading_lists"),
    path(
        "api/reading-lists/<int:pk>/", api.ReadingListDetail.as_view(),
        name="api_reading_list",
    ),
]
