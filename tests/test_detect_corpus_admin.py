"""The detector corpus, the admin and the session/auth middleware.

A ``ModelAdmin`` changelist evaluates its queryset in Django's code and runs
``list_display`` callables per row; the session and authentication
middlewares read the session and the user once per request, and a test
logged in with ``force_login`` makes several requests in one recording.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

import perfaudit
from perfaudit.capture import Recording
from perfaudit.detect import Finding, run
from tests import corpus_admin
from tests.corpus_data import make_library
from tests.testapp.models import Reader

pytestmark = pytest.mark.django_db

STACK = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
LOANS = "/corpus/admin/testapp/loan/"
FIXED_LOANS = "/corpus/admin-fixed/testapp/loan/"


@pytest.fixture
def staff() -> Iterator[Client]:
    """A superuser's client, logged in through the database session backend."""
    make_library()
    with override_settings(MIDDLEWARE=STACK, SESSION_ENGINE="django.contrib.sessions.backends.db"):
        client = Client()
        client.force_login(User.objects.create_superuser("boss", "boss@example.com", "pw"))
        yield client


def _record(client: Client, *urls: str) -> Recording:
    with perfaudit.record() as rec:
        for url in urls:
            assert client.get(url).status_code == 200, url
    return rec


def _n_plus_ones(findings: list[Finding]) -> dict[str | None, Finding]:
    return {f.relation: f for f in findings if f.kind == "n_plus_one"}


def _rows(html: bytes) -> list[str]:
    """The changelist's result rows, as text (what the admin user sees)."""
    body = html.decode()
    table = body[body.index('id="result_list"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", table[: table.index("</table>")], re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", row).strip() for row in rows]


def test_changelist_callables_read_their_relations_per_row(staff: Client) -> None:
    found = _n_plus_ones(run(_record(staff, LOANS)))
    assert set(found) == {"Loan.book", "Loan.reader", "Reader.user"}
    assert found["Loan.book"].fix == 'select_related("book")'
    assert found["Reader.user"].fix == 'select_related("reader__user")'
    admin_line = inspect.getsourcelines(corpus_admin.LoanAdmin)[1]
    for finding in found.values():
        assert finding.count == 10  # one per loan on the page
        where = f"corpus_admin.py:{admin_line} (LoanAdmin), the admin changelist"
        assert where in finding.suggestion
        assert "`LoanAdmin.list_select_related`" in finding.suggestion
    # The call sites are the callables' lines, not Django's admin code.
    assert found["Loan.book"].callsite is not None
    assert found["Loan.book"].callsite.function == "LoanAdmin.book_title"

    # The fixed admin names every path the fixes give (a path covers its prefixes).
    named = corpus_admin.FixedLoanAdmin.list_select_related
    for finding in found.values():
        path = re.fullmatch(r'select_related\("([\w_]+)"\)', finding.fix or "")
        assert path is not None, finding.fix
        assert any(f"{entry}__".startswith(f"{path[1]}__") for entry in named), path[1]
    fixed = _record(staff, FIXED_LOANS)
    assert _n_plus_ones(run(fixed)) == {}
    assert len(fixed) < 10
    assert _rows(staff.get(FIXED_LOANS).content) == _rows(staff.get(LOANS).content)


def test_a_foreign_key_named_in_list_display_is_joined_by_the_admin(staff: Client) -> None:
    found = _n_plus_ones(run(_record(staff, "/corpus/admin/testapp/book/")))
    # `author` is a field of list_display: joined. The tags are a prefetch,
    # which list_select_related cannot take.
    assert set(found) == {"Book.tags"}
    assert found["Book.tags"].fix == 'prefetch_related("tags")'
    assert "`BookAdmin.get_queryset()`" in found["Book.tags"].suggestion
    assert "list_select_related" not in found["Book.tags"].suggestion


def test_a_grouped_changelists_two_counts_are_its_own(staff: Client) -> None:
    """Counted as ``COUNT(*) FROM (SELECT ... GROUP BY ...) subquery``."""
    findings = run(_record(staff, "/corpus/admin/testapp/author/"))
    (duplicate,) = [f for f in findings if f.kind == "duplicate"]
    assert "GROUP BY" in duplicate.sql
    assert "`show_full_result_count = False` on `AuthorAdmin`" in duplicate.suggestion
    # The page query groups a LIMITed list: its rewrite replaces the annotation
    # where the admin builds the queryset (a place, not "add it").
    (group_by,) = [f for f in findings if f.kind == "forced_group_by"]
    line = inspect.getsourcelines(corpus_admin.AuthorAdmin.get_queryset)[1]
    assert group_by.suggestion.endswith(
        f"That queryset is built at tests/corpus_admin.py:{line} (AuthorAdmin.get_queryset)."
    )
    assert "add it in" not in group_by.suggestion
    # Applied as written in place of the annotation: no GROUP BY, the same rows.
    assert group_by.fix is not None
    fixed_source = "".join(inspect.getsource(corpus_admin.FixedAuthorAdmin).split())
    assert "".join(group_by.fix.split()) in fixed_source.replace(",)", ")")
    fixed = run(_record(staff, "/corpus/admin-fixed/testapp/author/"))
    assert "forced_group_by" not in {f.kind for f in fixed}
    for page in ("", "?p=2"):
        rows = _rows(staff.get(f"/corpus/admin/testapp/author/{page}").content)
        assert len(rows) == 3  # the header row and a page of two authors
        assert _rows(staff.get(f"/corpus/admin-fixed/testapp/author/{page}").content) == rows


def test_the_changelists_two_counts_get_the_admins_own_switch(staff: Client) -> None:
    findings = run(_record(staff, FIXED_LOANS))
    duplicates = [f for f in findings if f.kind == "duplicate"]
    assert [f.count for f in duplicates] == [2]
    assert duplicates[0].sql.startswith("SELECT COUNT(*)")
    assert "`show_full_result_count = False` on `FixedLoanAdmin`" in duplicates[0].suggestion
    # The switch does what the finding says: one count, no duplicate.
    corpus_admin.FixedLoanAdmin.show_full_result_count = False
    try:
        assert [f for f in run(_record(staff, FIXED_LOANS)) if f.kind == "duplicate"] == []
    finally:
        del corpus_admin.FixedLoanAdmin.show_full_result_count


def test_session_and_user_lookups_once_per_request_are_not_findings(staff: Client) -> None:
    """Three logged-in requests: the session row and the user are read once per
    request, with the same values each time (a per-request lookup, no loop)."""
    first, second = Reader.objects.order_by("pk").values_list("pk", flat=True)[:2]
    urls = [f"/corpus/readers/{pk}/" for pk in (first, first, second)]
    rec = _record(staff, *urls)
    assert len(rec.requests) == 3
    sessions = [q for q in rec.queries if "django_session" in q.sql]
    users = [q for q in rec.queries if re.match(r"SELECT \W?auth_user\W?\.", q.sql)]
    assert len(sessions) == 3
    assert len(users) == 3
    assert run(rec) == []


def test_the_admin_changelist_over_several_requests(staff: Client) -> None:
    """Each request is judged on its own: the fixed page's counts, once per request."""
    rec = _record(staff, FIXED_LOANS, FIXED_LOANS, FIXED_LOANS)
    findings: list[Any] = run(rec)
    assert [(f.kind, f.count, f.request) for f in findings] == [
        ("duplicate", 2, f"GET {FIXED_LOANS}")
    ] * 3
