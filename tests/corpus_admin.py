"""ModelAdmin changelists of the detector corpus, on an admin site of their own.

``LoanAdmin`` shows each loan's book title and reader through callables in
``list_display``: the admin only joins foreign keys named as fields, so each
callable reads its relation once per row. ``FixedLoanAdmin`` is the same
changelist with the fix perfaudit names (``list_select_related``).
"""

from __future__ import annotations

from django.contrib import admin

from tests.testapp.models import Book, Loan

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
    """A foreign key named as a field: the admin joins it itself (no N+1)."""

    list_display = ("title", "author")


site.register(Loan, LoanAdmin)
site.register(Book, BookAdmin)
fixed_site.register(Loan, FixedLoanAdmin)
