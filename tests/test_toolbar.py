"""PerfAuditPanel: real requests through django-debug-toolbar, sync and async."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip(
    "debug_toolbar",
    reason="django-debug-toolbar is not installed (pip install 'perfaudit[toolbar]')",
)

from asgiref.sync import sync_to_async
from debug_toolbar.settings import PANELS_DEFAULTS
from django.conf import settings
from django.core.checks import Error
from django.test import AsyncClient, Client, override_settings
from django.urls import reverse

from perfaudit import capture
from perfaudit.capture import QueryEvent, Recording
from perfaudit.payload import payload_hash
from perfaudit.sql.shape import fingerprint
from perfaudit.toolbar import PerfAuditPanel
from perfaudit.toolbar._stats import MAX_PARAMS_CHARS, _params_text, nav_subtitle, without_tables
from tests.factories import BookFactory
from tests.toolbar_views import MALICIOUS_LITERAL, MALICIOUS_PARAM, ViewBoom

PANEL_ID = "PerfAuditPanel"

TOOLBAR_SETTINGS: dict[str, Any] = {
    "DEBUG": True,
    "INSTALLED_APPS": [*settings.INSTALLED_APPS, "django.contrib.staticfiles", "debug_toolbar"],
    "MIDDLEWARE": ["debug_toolbar.middleware.DebugToolbarMiddleware"],
    "ROOT_URLCONF": "tests.toolbar_urls",
    "STATIC_URL": "/static/",
    "TEMPLATES": [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
        }
    ],
    # The toolbar's default panels, its SQL panel included, and ours.
    "DEBUG_TOOLBAR_PANELS": [*PANELS_DEFAULTS, "perfaudit.toolbar.PerfAuditPanel"],
    "DEBUG_TOOLBAR_CONFIG": {
        "SHOW_TOOLBAR_CALLBACK": "tests.toolbar_views.show_toolbar",
        "IS_RUNNING_TESTS": False,
    },
}


@pytest.fixture
def toolbars() -> Iterator[list[Any]]:
    """The toolbar settings on; yields the toolbars (``DebugToolbar``) the requests created."""
    created: list[Any] = []

    def collect(sender: object, *, toolbar: Any, **kwargs: object) -> None:
        created.append(toolbar)

    # In this order: the toolbar's ready() needs STATIC_URL and the rest, and changing
    # DEBUG_TOOLBAR_PANELS imports the toolbar's models, which need its app installed.
    late = ("INSTALLED_APPS", "DEBUG_TOOLBAR_PANELS")
    others = {key: value for key, value in TOOLBAR_SETTINGS.items() if key not in late}
    with (
        override_settings(**others),
        override_settings(INSTALLED_APPS=TOOLBAR_SETTINGS["INSTALLED_APPS"]),
        override_settings(DEBUG_TOOLBAR_PANELS=TOOLBAR_SETTINGS["DEBUG_TOOLBAR_PANELS"]),
    ):
        # Imported only now: the toolbar's models need "debug_toolbar" in INSTALLED_APPS.
        from debug_toolbar.toolbar import DebugToolbar

        _clear_toolbar_caches()
        DebugToolbar._created.connect(collect)
        try:
            yield created
        finally:
            DebugToolbar._created.disconnect(collect)
            _clear_toolbar_caches()


def _clear_toolbar_caches() -> None:
    from debug_toolbar import middleware
    from debug_toolbar.toolbar import DebugToolbar

    # The callback (cached by one function or another, by version) and the panel
    # classes are cached for the process.
    for name in ("show_toolbar_func_or_path", "get_show_toolbar"):
        cache_clear = getattr(getattr(middleware, name, None), "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
    DebugToolbar._panel_classes = None


def _panel(toolbars: list[Any]) -> PerfAuditPanel:
    assert len(toolbars) == 1, f"expected one toolbar, got {len(toolbars)}"
    panel = toolbars[0].get_panel_by_id(PANEL_ID)
    assert isinstance(panel, PerfAuditPanel)
    return panel


def _rendered_panel(client: Client, toolbar: Any) -> str:
    """The panel's HTML as the browser gets it: the toolbar's render_panel view, from the store."""
    # django-debug-toolbar 6+ names the request `request_id`, older versions `store_id`.
    new = hasattr(toolbar, "request_id")
    key = toolbar.request_id if new else toolbar.store_id
    if key is None:  # an old toolbar that rendered its panels into the page itself
        return str(toolbar.get_panel_by_id(PANEL_ID).content)
    response = client.get(
        reverse("djdt:render_panel"),
        {"request_id" if new else "store_id": key, "panel_id": PANEL_ID},
    )
    assert response.status_code == 200
    return str(response.json()["content"])


# -- a request with an N+1, through the whole toolbar --------------------------------


@pytest.mark.django_db
def test_stats_of_a_drf_list_with_an_n_plus_one(toolbars: list[Any]) -> None:
    BookFactory.create_batch(5)
    client = Client()
    url = reverse("testing:book-list")

    response = client.get(url, HTTP_ACCEPT="text/html")  # the browsable API

    assert response.status_code == 200
    panel = _panel(toolbars)
    stats = panel.get_stats()

    # Same count as the toolbar's own SQL panel: one query for the books, one per author.
    sql_panel_stats = toolbars[0].get_panel_by_id("SQLPanel").get_stats()
    assert stats["query_count"] == len(sql_panel_stats["queries"]) == 6
    assert stats["kept_count"] == 6
    assert stats["overflow"] == 0

    (finding,) = stats["findings"]
    assert finding["kind"] == "n_plus_one"
    assert finding["relation"] == "Book.author"
    assert finding["fix"] == 'select_related("author")'
    assert 'add `select_related("author")`' in finding["suggestion"]
    assert finding["count"] == 5
    assert finding["where"].startswith("tests/")

    assert panel.nav_subtitle == "6 queries · 1 finding"
    assert "<small>6 queries · 1 finding</small>" in response.content.decode()

    groups = {group["fingerprint"]: group for group in stats["groups"]}
    author_shape = next(shape for shape in groups if "testapp_author" in shape)
    assert groups[author_shape]["count"] == 5
    assert stats["groups"][0]["fingerprint"] == author_shape  # most frequent first
    assert len(groups[author_shape]["queries"]) == 5
    assert groups[author_shape]["queries"][0]["params"] is not None
    assert {fingerprint(query["sql"]) for query in groups[author_shape]["queries"]} == {
        author_shape
    }
    assert sum(group["count"] for group in stats["groups"]) == 6

    # The payload is the response as sent: the browsable API's HTML page here...
    assert stats["payload"]["kind"] == "bytes"
    assert stats["payload"]["content_type"] == "text/html; charset=utf-8"
    # (hashed before the toolbar inserts itself into the page, so not the final bytes)
    assert stats["payload"]["hash"] != payload_hash(response)
    # ...and the JSON body for a client that asks for JSON (same response.data).
    toolbars.clear()
    json_response = client.get(url, HTTP_ACCEPT="application/json")
    json_stats = _panel(toolbars).get_stats()
    assert json_stats["payload"]["kind"] == "json"
    assert json_stats["payload"]["hash"] == payload_hash(json_response)
    assert json_stats["payload"]["content_type"] == "application/json"
    assert stats["payload"]["raw"].startswith("sha256:")

    assert stats["budget"] == {
        "view": "testing:book-list",
        "status": "none",
        "pattern": None,
        "limits": [],
        "violations": [],
    }


@pytest.mark.django_db
def test_stats_are_plain_json_and_survive_the_toolbar_store(
    toolbars: list[Any],
) -> None:
    BookFactory.create_batch(3)
    client = Client()
    client.get(reverse("testing:book-list"), HTTP_ACCEPT="text/html")
    toolbar = toolbars[0]
    stats = _panel(toolbars).get_stats()

    # Plain json, no custom encoder: the toolbar's store would stringify anything else.
    assert json.loads(json.dumps(stats)) == stats
    store = getattr(toolbar, "store", None)
    if hasattr(store, "panel"):  # django-debug-toolbar 6+: panels are rendered from the store
        assert store.panel(toolbar.request_id, PANEL_ID) == stats

    html = _rendered_panel(client, toolbar)
    assert "n_plus_one" in html
    assert "select_related(&quot;author&quot;)" in html
    assert "<details" in html
    assert html.count('<tr class="djdt-pa-finding">') == 1
    assert "within budget" not in html
    assert "no budget" in html


@pytest.mark.django_db
def test_budget_status(toolbars: list[Any]) -> None:
    BookFactory.create_batch(3)
    client = Client()
    url = reverse("testing:book-list")

    with override_settings(PERFAUDIT={"BUDGETS": {"testing:book-list": {"queries": 2}}}):
        client.get(url)
        over = _panel(toolbars).get_stats()["budget"]
    assert over["status"] == "over"
    assert over["pattern"] == "testing:book-list"
    assert over["limits"] == ["at most 2 queries"]
    (violation,) = over["violations"]
    assert "testing:book-list ran 4 queries, over its budget of 2" in violation

    toolbars.clear()
    with override_settings(PERFAUDIT={"BUDGETS": {"testing:*": {"queries": 10, "db_ms": 5000}}}):
        client.get(url)
        within = _panel(toolbars).get_stats()["budget"]
        html = _rendered_panel(client, toolbars[0])
    assert within["status"] == "within"
    assert within["pattern"] == "testing:*"
    assert within["limits"] == ["at most 10 queries", "at most 5000 ms in the database"]
    assert within["violations"] == []
    assert "within budget" in html


@pytest.mark.django_db
def test_sql_and_params_are_escaped_in_the_rendered_panel(
    toolbars: list[Any],
) -> None:
    client = Client()
    response = client.get(reverse("toolbar:malicious"))
    assert response.status_code == 200

    stats = _panel(toolbars).get_stats()
    (group,) = stats["groups"]
    (query,) = group["queries"]
    assert MALICIOUS_LITERAL in query["sql"]
    assert MALICIOUS_PARAM in query["params"]

    for html in (_panel(toolbars).content, _rendered_panel(client, toolbars[0])):
        assert "<script" not in html
        assert "<img" not in html
        assert "&lt;script&gt;alert(&#x27;param&#x27;)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.django_db
def test_a_page_without_queries_or_findings(toolbars: list[Any]) -> None:
    client = Client()
    response = client.get(reverse("toolbar:page"))
    panel = _panel(toolbars)
    assert panel.nav_subtitle == "1 query · 0 findings"
    stats = panel.get_stats()
    assert stats["payload"]["kind"] == "bytes"
    assert stats["payload"]["canonical"].startswith("sha256:")
    html = _rendered_panel(client, toolbars[0])
    assert "No N+1, duplicate" in html
    assert "djDebug" in response.content.decode()  # the toolbar was inserted


@pytest.mark.django_db
def test_the_recording_stops_when_the_view_raises(toolbars: list[Any]) -> None:
    with pytest.raises(ViewBoom):
        Client().get(reverse("toolbar:boom"))
    assert capture.active_recordings() == ()
    assert _panel(toolbars)._recorder is None


@pytest.mark.django_db
def test_the_panel_is_off_when_the_toolbar_is_not_shown(toolbars: list[Any]) -> None:
    config = {**TOOLBAR_SETTINGS["DEBUG_TOOLBAR_CONFIG"], "SHOW_TOOLBAR_CALLBACK": _never}
    with override_settings(DEBUG_TOOLBAR_CONFIG=config):
        _clear_toolbar_caches()
        Client().get("/toolbar/page/")
    assert toolbars == []


def _never(request: object) -> bool:
    return False


# -- async views under ASGI -------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_async_view_under_asgi(toolbars: list[Any]) -> None:
    await sync_to_async(BookFactory.create_batch)(4)

    response = await AsyncClient().get("/toolbar/abooks/")

    assert response.status_code == 200
    panel = _panel(toolbars)
    stats = panel.get_stats()
    sql_panel_stats = toolbars[0].get_panel_by_id("SQLPanel").get_stats()
    assert stats["query_count"] == len(sql_panel_stats["queries"]) == 5
    (finding,) = stats["findings"]
    assert finding["kind"] == "n_plus_one"
    assert finding["relation"] == "Book.author"
    assert panel.nav_subtitle == "5 queries · 1 finding"
    assert stats["budget"]["view"] == "toolbar:async-books"
    assert capture.active_recordings() == ()


# -- the pieces --------------------------------------------------------------------------


def test_nav_subtitle_counts() -> None:
    assert nav_subtitle({}) == ""
    assert nav_subtitle({"query_count": 0, "findings": []}) == "0 queries · 0 findings"
    assert nav_subtitle({"query_count": 1, "findings": [{}]}) == "1 query · 1 finding"
    assert nav_subtitle({"query_count": 182, "findings": [{}] * 3}) == "182 queries · 3 findings"
    assert nav_subtitle({"query_count": 3, "error": "x"}) == "3 queries · 0 findings"


def test_params_are_json_text() -> None:
    assert _params_text(None) is None
    assert _params_text([1, "a", None]) == '[1,"a",null]'
    assert _params_text((Decimal("1.50"), b"\x00\x01")) == '["1.50","\\\\x0001"]'
    assert _params_text([2**70]) == f"[{2**70}]"  # beyond orjson: repr()
    long = _params_text(["x" * 5000])
    assert long is not None
    assert len(long) == MAX_PARAMS_CHARS
    assert long.endswith("…")


def test_the_toolbars_own_tables_are_left_out() -> None:
    recording = Recording(
        [
            QueryEvent('SELECT "testapp_book"."id" FROM "testapp_book"', duration=0.001),
            QueryEvent(
                'INSERT INTO "debug_toolbar_historyentry" ("request_id") VALUES (%s)',
                duration=0.002,
            ),
        ],
        overflow=2,
    )
    kept = without_tables(recording, {"debug_toolbar_historyentry"})
    assert [event.sql for event in kept.queries] == [recording.queries[0].sql]
    assert kept.overflow == 2
    assert without_tables(recording, ()) is recording
    assert without_tables(recording, {"other"}) is recording


def test_check_requires_perfaudit_in_installed_apps() -> None:
    assert PerfAuditPanel.run_checks() == []
    apps_without = [app for app in settings.INSTALLED_APPS if app != "perfaudit"]
    with override_settings(INSTALLED_APPS=apps_without):
        (error,) = PerfAuditPanel.run_checks()
    assert isinstance(error, Error)
    assert error.id == "perfaudit.E020"


def test_code_spans_split_a_suggestion_at_its_backticks() -> None:
    from perfaudit.toolbar._stats import code_spans

    assert code_spans('add `select_related("author")` to the queryset') == [
        {"text": "add ", "code": False},
        {"text": 'select_related("author")', "code": True},
        {"text": " to the queryset", "code": False},
    ]
    assert code_spans("no code here") == [{"text": "no code here", "code": False}]
    # An unmatched backtick is shown as written, not half-rendered.
    assert code_spans("a ` b") == [{"text": "a ` b", "code": False}]


def test_the_timeline_places_each_query_within_the_request() -> None:
    from perfaudit.capture import QueryEvent, Recording
    from perfaudit.toolbar._stats import _timeline

    events = [
        QueryEvent("SELECT 1", duration=0.010, started_at=0.000),
        QueryEvent("SELECT 2", duration=0.020, started_at=0.050),
        QueryEvent("SELECT 1", duration=0.010, started_at=0.090),
    ]
    timeline = _timeline(Recording(events, duration=0.100).analysis)
    assert timeline["span_ms"] == 100.0
    assert [(r["left_pct"], r["width_pct"]) for r in timeline["rows"]] == [
        (0.0, 10.0),
        (50.0, 20.0),
        (90.0, 10.0),
    ]
    # Shape numbers follow the "Queries by shape" table: SELECT ? twice, first.
    assert [r["shape"] for r in timeline["rows"]] == [1, 1, 1]
    assert timeline["hidden"] == 0


@pytest.mark.django_db
def test_server_timing_keeps_perfaudits_entries_beside_the_toolbars(
    toolbars: list[Any],
) -> None:
    """The toolbar outermost, as its docs say: it sets Server-Timing last, wholesale."""
    BookFactory.create_batch(2)
    middleware = [
        "debug_toolbar.middleware.DebugToolbarMiddleware",
        "perfaudit.middleware.PerfAuditMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        response = Client().get("/books/")
    assert toolbars, "the toolbar ran"
    timing = response["Server-Timing"]
    entries = [entry.split(";", 1)[0].strip() for entry in timing.split(",")]
    assert "db" in entries  # perfaudit's
    assert "app" in entries
    assert "cache" in entries  # perfaudit's beside SQL
    ours = ("db", "app", "cache", "http", "cpu")
    assert any(name not in ours for name in entries), timing  # the toolbar's


def test_the_cache_http_and_cpu_split(toolbars: list[Any]) -> None:
    client = Client()
    client.get(reverse("toolbar:cached"))
    stats = _panel(toolbars).get_stats()
    assert stats["cache"]["calls"] == 2
    assert stats["cache"]["groups"][0]["key"] == "user:#:menu"  # the shape; DEBUG adds keys
    assert stats["http"]["calls"] == 0
    assert stats["cpu_ms"] is not None
    assert [f["kind"] for f in stats["findings"]] == ["cache_repeat"]
    html = _rendered_panel(client, toolbars[0])
    assert "Cache: 2 calls (0 hits, 2 misses)" in html
    assert "HTTP: 0 calls" in html
    assert "CPU: " in html
