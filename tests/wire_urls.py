from __future__ import annotations

from django.urls import path

from tests import wire_views

urlpatterns = [
    path("summary/", wire_views.SummaryView.as_view()),
    path("summary/renamed/", wire_views.SummaryRenamedView.as_view()),
    path("summary/snake/", wire_views.SnakeSummaryView.as_view()),
    path("summary/camel/", wire_views.CamelSummaryView.as_view()),
    path("summary/status/", wire_views.summary_status),
    path("summary/text/", wire_views.summary_text),
    path("books/n-plus-one/", wire_views.BooksNPlusOne.as_view()),
    path("books/select-related/", wire_views.BooksSelectRelated.as_view()),
    path("form/", wire_views.form_page),
    path("token/", wire_views.jwt_token),
]
