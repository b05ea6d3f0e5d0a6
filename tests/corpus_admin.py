"""ModelAdmin changelists of the detector corpus, on an admin site of their own.

``LoanAdmin`` shows each loan's book title and reader through callables in
``list_display``: the admin only joins foreign keys named as fields, so each
callable reads its relation once per row. ``FixedLoanAdmin`` is the same
changelist with the fix perfaudit names (``list_select_related``).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from tests.testapp.models import Author, Book, Loan

site = admin.AdminSite(name="corpus_admin")
fixed_site = admin.AdminSite(name="corpus_admin_fixed")


class LoanAdmin(admin.ModelAdmin):
    list_display = ("id", "book_title", "reader_name", "returned")

    @admin.display(description="book")
    def book_title(self, obj: Loan) -> str:
        return obj.book.title

    @admin.display(description="reader")
    def reader_name(self, obj: Loan) -> str:
        return obj.reader.user.username


class FixedLoanAdmin(LoanAdmin):
    list_select_related = ("book", "reader__user")


class BookAdmin(admin.ModelAdmin):
    """A foreign key named as a field: the admin joins it itself (no N+1);
    the tags, read by a callable, are a many-to-many (a prefetch)."""

    list_display = ("title", "author", "tag_names")

    @admin.display(description="tags")
    def tag_names(self, obj: Book) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())


class AuthorAdmin(admin.ModelAdmin):
    """A grouped, paginated changelist: the admin counts it as a subquery,
    twice, and groups each page's rows back."""

    list_display = ("name", "book_count")
    list_per_page = 2

    def get_queryset(self, request: HttpRequest) -> QuerySet[Author]:
        return super().get_queryset(request).annotate(n_books=Count("books"))

    @admin.display(description="books")
    def book_count(self, obj: Author) -> int:
        return int(obj.n_books)  # type: ignore[attr-defined]


class FixedAuthorAdmin(AuthorAdmin):
    """The forced GROUP BY finding's fix, in place of the annotation."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Author]:
        return (
            super(AuthorAdmin, self)
            .get_queryset(request)
            .annotate(
                n_books=Coalesce(
                    Subquery(
                        Book.objects.filter(author=OuterRef("pk"))
                        .order_by()
                        .values("author")
                        .annotate(n=Count("pk"))
                        .values("n")
                    ),
                    0,
                )
            )
        )


site.register(Loan, LoanAdmin)
site.register(Book, BookAdmin)
site.register(Author, AuthorAdmin)
fixed_site.register(Loan, FixedLoanAdmin)
fixed_site.register(Author, FixedAuthorAdmin)
