from __future__ import annotations

from django.urls import path

from tests import payload_views

urlpatterns = [
    path("books/", payload_views.BookListView.as_view(), name="payload-books"),
    path("books/plain/", payload_views.book_list_plain, name="payload-books-plain"),
    path("books/gzip/", payload_views.book_list_gzip, name="payload-books-gzip"),
    path("books/html/", payload_views.book_list_html, name="payload-books-html"),
    path("books/stream/", payload_views.book_list_streaming, name="payload-books-stream"),
    path("books/file/", payload_views.book_list_file, name="payload-books-file"),
    path("broken/", payload_views.broken_json, name="payload-broken"),
]
