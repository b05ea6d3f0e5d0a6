from __future__ import annotations

from django.urls import path

from tests import middleware_views as views

app_name = "mw"

urlpatterns = [
    path("n/<int:k>/", views.n_queries, name="n"),
    path("an/<int:k>/", views.async_n_queries, name="async-n"),
    path("books/", views.books, name="books"),
    path("abooks/", views.async_books, name="async-books"),
    path("books/search/", views.book_search, name="book-search"),
    path("api/books/", views.BookAPIView.as_view(), name="api-books"),
    path("api/books/list/", views.BookListAPIView.as_view(), name="api-book-list"),
    path("stream/", views.streaming, name="stream"),
    path("astream/", views.async_streaming, name="async-stream"),
    path("boom/", views.boom, name="boom"),
    path("aboom/", views.async_boom, name="async-boom"),
    path("timed/", views.timed, name="timed"),
    path("unnamed/", views.unnamed),
]
