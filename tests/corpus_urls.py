from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from tests import corpus_admin, corpus_views

router = SimpleRouter()
router.register("loans", corpus_views.LoanViewSet, basename="loan")
router.register("loans-fixed", corpus_views.FixedLoanViewSet, basename="loan-fixed")

urlpatterns: list[object] = [
    path("books/", corpus_views.BookList.as_view()),
    path("books-fixed/", corpus_views.FixedBookList.as_view()),
    path("readers/<int:pk>/", corpus_views.ReaderDetail.as_view()),
    path("book-stats/", corpus_views.BookStatsList.as_view()),
    path("book-stats-fixed/", corpus_views.FixedBookStatsList.as_view()),
    path("admin/", corpus_admin.site.urls),
    path("admin-fixed/", corpus_admin.fixed_site.urls),
    *router.urls,
]
