from __future__ import annotations

from django.urls import path

from tests import testing_views

app_name = "testing"

urlpatterns = [
    path("books/", testing_views.BookList.as_view(), name="book-list"),
    path("books/fixed/", testing_views.FixedBookList.as_view(), name="book-list-fixed"),
    path("titles/", testing_views.book_titles, name="titles"),
    path("books/<int:pk>/", testing_views.book_detail, name="book-detail"),
]
