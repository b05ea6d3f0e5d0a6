"""DRF views of the detector corpus, each written the way real code drifts
into per-row queries, next to its fixed version built from the findings' fixes.

The fixed views contain each suggested ``fix`` verbatim (the corpus tests
check it), so "apply the fix" means exactly the code below.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from rest_framework import generics, serializers, viewsets
from rest_framework.pagination import PageNumberPagination

from tests.testapp.models import Author, Book, Loan, Reader, Tag


class AuthorSerializer(serializers.ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name")


class TagSerializer(serializers.ModelSerializer[Tag]):
    class Meta:
        model = Tag
        fields = ("id", "name")


class BookSerializer(serializers.ModelSerializer[Book]):
    """Nested author and tags, and two `SerializerMethodField` helpers on the reader."""

    author = AuthorSerializer()
    tags = TagSerializer(many=True)
    favorited = serializers.SerializerMethodField()
    favorites_count = serializers.SerializerMethodField()

    class Meta:
        model = Book
        fields = ("id", "title", "author", "tags", "favorited", "favorites_count")

    def get_favorited(self, obj: Any) -> bool:
        annotated = getattr(obj, "in_favorites", None)
        if annotated is not None:
            return bool(annotated)
        reader: Reader = self.context["request"].user.reader
        return reader.has_favorited(obj)

    def get_favorites_count(self, obj: Any) -> int:
        annotated = getattr(obj, "favorited_by_count", None)
        if annotated is not None:
            return int(annotated)
        return int(obj.favorited_by.count())  # favorites-count-marker


class BookList(generics.ListAPIView[Book]):
    queryset = Book.objects.order_by("id")  # book-list-queryset-marker
    serializer_class = BookSerializer


class FixedBookList(generics.ListAPIView[Book]):
    serializer_class = BookSerializer

    def get_queryset(self) -> Any:
        request = self.request
        return (
            Book.objects.order_by("id")
            .select_related("author")
            .prefetch_related("tags")
            .annotate(
                in_favorites=Exists(
                    Reader.favorites.through.objects.filter(
                        reader=request.user.reader,  # type: ignore[union-attr]
                        book=OuterRef("pk"),
                    )
                )
            )
            .annotate(
                favorited_by_count=Coalesce(
                    Subquery(
                        Book.favorited_by.through.objects.filter(book=OuterRef("pk"))
                        .order_by()
                        .values("book")
                        .annotate(n=Count("pk"))
                        .values("n")
                    ),
                    0,
                )
            )
        )


class LoanSerializer(serializers.ModelSerializer[Loan]):
    reader_name = serializers.CharField(source="reader.user.username")

    class Meta:
        model = Loan
        fields = ("id", "returned", "reader_name")


class LoanViewSet(viewsets.ReadOnlyModelViewSet[Loan]):
    queryset = Loan.objects.order_by("id")  # loan-viewset-queryset-marker
    serializer_class = LoanSerializer


class FixedLoanViewSet(viewsets.ReadOnlyModelViewSet[Loan]):
    queryset = Loan.objects.order_by("id").select_related("reader").select_related("reader__user")
    serializer_class = LoanSerializer


class ReaderDetail(generics.RetrieveAPIView[Reader]):
    """One reader by key: one lookup per request, several requests per test."""

    queryset = Reader.objects.all()

    class serializer_class(serializers.ModelSerializer[Reader]):
        class Meta:
            model = Reader
            fields = ("id",)


class _Pages(PageNumberPagination):
    page_size = 2


class BookStatsSerializer(serializers.ModelSerializer[Book]):
    n_readers = serializers.IntegerField()

    class Meta:
        model = Book
        fields = ("id", "title", "n_readers")


class BookStatsList(generics.ListAPIView[Book]):
    """A paginated list that DRF evaluates: its COUNT and its page are run by the
    paginator, in DRF's code, so the line to change is this `queryset`."""

    queryset = (  # book-stats-queryset-marker
        Book.objects.filter(tags__name__startswith="")
        .distinct()
        .annotate(n_readers=Count("loans__reader", distinct=True))
        .order_by("pk")
    )
    serializer_class = BookStatsSerializer
    pagination_class = _Pages


class FixedBookStatsList(BookStatsList):
    """The forced GROUP BY finding's fix applied as written."""

    queryset = (
        Book.objects.filter(tags__name__startswith="")
        .distinct()
        .annotate(
            n_readers=Coalesce(
                Subquery(
                    Loan.objects.filter(book=OuterRef("pk"))
                    .order_by()
                    .values("book")
                    .annotate(n=Count("reader", distinct=True))
                    .values("n")
                ),
                0,
            )
        )
        .order_by("pk")
    )
