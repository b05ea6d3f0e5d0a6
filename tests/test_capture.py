"""perfaudit.record(): what is captured, and what must never be."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

import perfaudit
from perfaudit.capture import QueryEvent, Recording
from perfaudit.capture.hook import _dispatch
from tests.factories import AuthorFactory, BookFactory, TagFactory
from tests.helpers import line_of
from tests.testapp import helpers
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def test_records_orm_queries_with_sql_params_alias_and_duration() -> None:
    author = AuthorFactory(name="Ursula")
    with perfaudit.record() as rec:
        found = Author.objects.get(pk=author.pk)
        Author.objects.filter(name__startswith="U").count()

    assert found == author
    assert len(rec) == 2
    first, second = rec.queries
    assert "testapp_author" in first.sql
    assert author.pk in first.params
    assert first.alias == "default"
    assert first.many is False
    assert first.error is None
    assert first.duration > 0
    assert "COUNT(*)" in second.sql
    assert second.started_at >= first.started_at
    assert rec.duration is not None
    assert rec.duration >= rec.db_time > 0


def test_callsite_is_the_first_application_frame() -> None:
    author = AuthorFactory()
    with perfaudit.record() as rec:
        Author.objects.get(pk=author.pk)  # callsite-marker-1

    site = rec.queries[0].callsite
    assert site is not None
    assert site.filename == __file__
    assert site.lineno == line_of(__file__, "callsite-marker-1")
    assert site.function == "test_callsite_is_the_first_application_frame"
    assert str(site).endswith(f"test_capture.py:{site.lineno} in {site.function}")


def test_callsite_skip_modules_setting_moves_attribution_to_the_caller() -> None:
    author = AuthorFactory()
    with perfaudit.record() as rec:
        helpers.load_author(author.pk)  # callsite-marker-2
    assert rec.queries[0].callsite is not None
    assert rec.queries[0].callsite.filename == helpers.__file__

    with override_settings(PERFAUDIT={"CALLSITE_SKIP_MODULES": ["tests.testapp.helpers"]}):
        with perfaudit.record() as rec:
            helpers.load_author(author.pk)  # callsite-marker-3
    site = rec.queries[0].callsite
    assert site is not None
    assert (site.filename, site.lineno) == (__file__, line_of(__file__, "callsite-marker-3"))


def test_callsites_and_params_can_be_switched_off() -> None:
    author = AuthorFactory()
    with perfaudit.record(callsites=False, params=False) as rec:
        Author.objects.get(pk=author.pk)
    assert rec.queries[0].callsite is None
    assert rec.queries[0].params is None

    with override_settings(PERFAUDIT={"CAPTURE_CALLSITES": False, "CAPTURE_PARAMS": False}):
        with perfaudit.record() as rec:
            Author.objects.get(pk=author.pk)
    assert rec.queries[0].callsite is None
    assert rec.queries[0].params is None


def test_queries_outside_the_block_are_not_recorded() -> None:
    Author.objects.count()
    with perfaudit.record() as rec:
        Author.objects.exists()
    Author.objects.count()
    assert len(rec) == 1
    assert len(rec.queries) == 1


def test_nested_recordings_both_see_inner_queries() -> None:
    with perfaudit.record() as outer:
        Author.objects.count()
        with perfaudit.record() as inner:
            Book.objects.count()
            Book.objects.exists()
        Author.objects.exists()

    assert [q.shape.tables for q in inner] == [("testapp_book",), ("testapp_book",)]
    assert len(outer) == 4
    assert [q.sql for q in outer.queries[1:3]] == [q.sql for q in inner.queries]


def test_nested_recordings_keep_their_own_params_limits_and_aliases() -> None:
    author = AuthorFactory()
    with perfaudit.record() as outer:
        with perfaudit.record(params=False, max_queries=1) as inner:
            with perfaudit.record(using="other") as other_only:
                Author.objects.get(pk=author.pk)
                Author.objects.filter(pk=author.pk).exists()

    assert [author.pk in q.params for q in outer] == [True, True]
    assert [q.params for q in inner] == [None]
    assert (len(inner), inner.overflow) == (2, 1)
    assert (len(outer), outer.overflow) == (2, 0)
    assert len(other_only) == 0


def test_callsite_of_a_cursor_query_through_any_cursor_wrapper() -> None:
    """Raw cursor, Django's debug cursor, and an app wrapper put in front of perfaudit's."""
    with perfaudit.record() as rec, connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # callsite-marker-raw
    with CaptureQueriesContext(connection), perfaudit.record() as debug_rec:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # callsite-marker-debug

    def app_wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(sql, params, many, context)

    with perfaudit.record() as front_rec:
        connection.execute_wrappers.insert(0, app_wrapper)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # callsite-marker-front
        finally:
            connection.execute_wrappers.remove(app_wrapper)

    for recording, marker in (
        (rec, "callsite-marker-raw"),
        (debug_rec, "callsite-marker-debug"),
        (front_rec, "callsite-marker-front"),
    ):
        site = recording.queries[0].callsite
        assert site is not None, marker
        assert (site.filename, site.lineno) == (__file__, line_of(__file__, marker))


def test_decorator_records_each_call_separately() -> None:
    recorder = perfaudit.record()

    @recorder
    def load(n: int) -> int:
        for _ in range(n):
            Author.objects.count()
        return n

    assert load.__name__ == "load"
    assert load(3) == 3
    assert recorder.recording is not None
    assert len(recorder.recording) == 3
    load(1)
    assert len(recorder.recording) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_decorator_on_async_function() -> None:
    recorder = perfaudit.record()

    @recorder
    async def load() -> int:
        return await Author.objects.acount()

    assert await load() == 0
    assert recorder.recording is not None
    assert len(recorder.recording) == 1
    assert "COUNT(*)" in recorder.recording.queries[0].sql


@pytest.mark.django_db(databases=["default", "other"])
def test_all_aliases_by_default_and_using_restricts() -> None:
    with perfaudit.record() as both:
        Author.objects.count()
        Author.objects.using("other").count()
    assert [q.alias for q in both] == ["default", "other"]

    with perfaudit.record(using=["other"]) as only_other:
        Author.objects.count()
        Author.objects.using("other").count()
    assert [q.alias for q in only_other] == ["other"]

    with perfaudit.record(using="default") as only_default:
        Author.objects.count()
        Author.objects.using("other").count()
    assert [q.alias for q in only_default] == ["default"]


def test_unknown_alias_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown database aliases \['nope'\]"):
        perfaudit.record(using=["nope"])


def test_executemany_is_recorded_with_its_parameter_list() -> None:
    table = connection.ops.quote_name(Author._meta.db_table)
    rows = [("one",), ("two",), ("three",)]
    with perfaudit.record() as rec, connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} (name) VALUES (%s)", rows)
    assert len(rec) == 1
    event = rec.queries[0]
    assert event.many is True
    assert list(event.params) == rows
    assert event.shape.kind == "insert"
    assert Author.objects.count() == 3


def test_executemany_with_an_iterator_is_not_consumed_twice() -> None:
    table = connection.ops.quote_name(Author._meta.db_table)
    with perfaudit.record() as rec, connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} (name) VALUES (%s)", iter([("a",), ("b",)]))
    assert rec.queries[0].params is None
    assert Author.objects.count() == 2


def test_failing_query_is_recorded_and_the_exception_propagates_unchanged() -> None:
    with perfaudit.record() as rec:
        with pytest.raises(DatabaseError) as raised, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM perfaudit_no_such_table")
    failing = [q for q in rec if q.sql == "SELECT * FROM perfaudit_no_such_table"]
    assert len(failing) == 1
    error_type = type(raised.value)
    assert failing[0].error == f"{error_type.__module__}.{error_type.__qualname__}"
    assert "perfaudit_no_such_table" in str(raised.value)
    # The connection still works afterwards.
    assert Author.objects.count() == 0


def test_max_queries_bounds_memory_and_counts_the_overflow() -> None:
    with perfaudit.record(max_queries=3) as rec:
        for _ in range(5):
            Author.objects.count()
    assert len(rec.queries) == 3
    assert rec.overflow == 2
    assert len(rec) == 5

    with override_settings(PERFAUDIT={"MAX_QUERIES": 2}), perfaudit.record() as rec:
        for _ in range(4):
            Author.objects.exists()
    assert (len(rec.queries), rec.overflow, len(rec)) == (2, 2, 4)


def test_invalid_max_queries_setting_falls_back_to_default_at_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with override_settings(PERFAUDIT={"MAX_QUERIES": -5}), perfaudit.record() as rec:
        Author.objects.count()
    assert len(rec.queries) == 1
    assert "MAX_QUERIES" in caplog.text


def test_users_own_execute_wrapper_keeps_working_in_any_order() -> None:
    seen: list[str] = []

    def user_wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(user_wrapper), perfaudit.record() as rec:
        Author.objects.count()
    with perfaudit.record() as rec2, connection.execute_wrapper(user_wrapper):
        Author.objects.exists()

    assert len(seen) == 2
    assert len(rec) == 1
    assert len(rec2) == 1
    assert connection.execute_wrappers == [_dispatch]


@pytest.mark.django_db(transaction=True)
def test_threads_do_not_mix() -> None:
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, Recording] = {}
    errors: list[BaseException] = []

    def worker(name: str, model: type[Author] | type[Book]) -> None:
        try:
            with perfaudit.record() as rec:
                for _ in range(5):
                    barrier.wait()
                    model.objects.count()
            results[name] = rec
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    with perfaudit.record() as main_rec:
        threads = [
            threading.Thread(target=worker, args=("authors", Author)),
            threading.Thread(target=worker, args=("books", Book)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert not errors
    assert [q.shape.tables for q in results["authors"]] == [("testapp_author",)] * 5
    assert [q.shape.tables for q in results["books"]] == [("testapp_book",)] * 5
    assert len(main_rec) == 0


@pytest.mark.django_db(transaction=True)
def test_thread_running_in_a_copied_context_is_recorded_on_its_new_connection() -> None:
    def work() -> None:
        try:
            Author.objects.count()
        finally:
            connections.close_all()

    with perfaudit.record() as rec:
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(work,))
        thread.start()
        thread.join()
    assert len(rec) == 1
    assert rec.queries[0].shape.tables == ("testapp_author",)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_asyncio_tasks_do_not_mix() -> None:
    both_started = asyncio.Event()
    started = 0

    async def task(model: type[Author] | type[Book]) -> Recording:
        nonlocal started
        with perfaudit.record() as rec:
            started += 1
            if started == 2:
                both_started.set()
            await both_started.wait()
            for _ in range(3):
                await model.objects.acount()
                await asyncio.sleep(0)
        return rec

    authors, books = await asyncio.gather(task(Author), task(Book))
    assert [q.shape.tables for q in authors] == [("testapp_author",)] * 3
    assert [q.shape.tables for q in books] == [("testapp_book",)] * 3


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_sync_to_async_work_belongs_to_the_calling_task() -> None:
    def create() -> None:
        BookFactory()

    with perfaudit.record() as rec:
        await sync_to_async(create)()
    assert {t for q in rec for t in q.shape.written} == {"testapp_author", "testapp_book"}


def test_hand_built_recording() -> None:
    rec = Recording(
        [QueryEvent("SELECT 1", duration=0.002), QueryEvent("SELECT 2", duration=0.003)],
        overflow=1,
    )
    assert len(rec) == 3
    assert rec.db_time == pytest.approx(0.005)
    assert rec[1].duration_ms == pytest.approx(3.0)
    assert rec.queries[0].fingerprint == rec.queries[1].fingerprint == "SELECT ?"
    assert "3 queries" in repr(rec)


def test_drf_serializer_field_being_rendered_is_the_origin() -> None:
    from tests.testapp import serializers

    book = BookFactory()
    book.tags.add(TagFactory())
    with perfaudit.record() as rec:
        serializers.BookSerializer(Book.objects.all(), many=True).data  # noqa: B018
        serializers.BookWithTagsSerializer(Book.objects.all(), many=True).data  # noqa: B018
    origins = [q.origin for q in rec]
    assert origins == [None, "BookSerializer.author", None, "BookWithTagsSerializer.tags"]
    # The call site is still the application line that triggered the rendering.
    assert all(q.callsite is not None and q.callsite.filename == __file__ for q in rec)


def test_callsite_line_is_frame_lineno_also_in_long_functions_and_multiline_calls() -> None:
    """The hot path keeps the bytecode offset; the line is derived later, and must
    be the line ``frame.f_lineno`` gives at the moment of the query."""
    filler = "".join(f"    x{i} = {i}\n" for i in range(300))
    source = (
        "def long_function(Author):\n"
        + filler
        + "    Author.objects.count()\n"
        + "    Author.objects.filter(\n        name='x',\n    ).exists()\n"
        + filler
        + "    list(\n        Author.objects.all()\n    )\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "/generated/long_function.py", "exec"), namespace)
    seen: list[int] = []

    def frame_line(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        frame = sys._getframe(1)
        while frame.f_code.co_name != "long_function":
            frame = frame.f_back  # type: ignore[assignment]
        seen.append(frame.f_lineno)
        return execute(sql, params, many, context)

    with perfaudit.record() as rec, connection.execute_wrapper(frame_line):
        namespace["long_function"](Author)

    lines = [q.callsite.lineno if q.callsite else None for q in rec]
    assert len(lines) == 3
    assert lines == seen
    assert lines[0] == 302  # def line 1, 300 filler lines, then the count()
    assert all(q.callsite and q.callsite.filename == "/generated/long_function.py" for q in rec)


def test_repeated_stacks_and_diverging_ones_are_attributed_alike() -> None:
    """Consecutive queries through the same frames take a shortcut; any change
    in the stack (another caller, a callback from library code) must not."""
    from django.utils.functional import SimpleLazyObject

    authors = AuthorFactory.create_batch(3)
    lazy = SimpleLazyObject(
        lambda: Author.objects.get(pk=authors[0].pk)  # callsite-marker-callback
    )
    with perfaudit.record() as rec:
        for author in authors:
            Author.objects.get(pk=author.pk)  # callsite-marker-loop
        helpers.load_author(authors[1].pk)
        str(lazy)  # Django's SimpleLazyObject calls back into this module
        Author.objects.get(pk=authors[2].pk)  # callsite-marker-after

    sites = [(q.callsite.filename, q.callsite.lineno) if q.callsite else None for q in rec]
    loop = (__file__, line_of(__file__, "callsite-marker-loop"))
    assert sites == [
        loop,
        loop,
        loop,
        (helpers.__file__, 9),
        (__file__, line_of(__file__, "callsite-marker-callback")),
        (__file__, line_of(__file__, "callsite-marker-after")),
    ]


def test_call_sites_through_drf_match_a_fresh_walk_of_every_query() -> None:
    """The hot path reuses its last walk (and, through DRF, the list-level frame
    it held); every query must still get what a walk from scratch finds."""
    from rest_framework import serializers as drf

    from perfaudit.capture import callsites
    from perfaudit.capture.types import _line_at
    from tests.testapp import serializers

    class MixedSerializer(drf.ModelSerializer[Book]):
        author = serializers.AuthorSerializer()
        tags = serializers.TagSerializer(many=True)
        review_count = drf.SerializerMethodField()

        class Meta:
            model = Book
            fields = ("id", "author", "tags", "review_count")

        def get_review_count(self, obj: Book) -> int:
            return obj.reviews.count()  # a query from an application frame inside DRF

    for book in BookFactory.create_batch(4):
        book.tags.add(TagFactory())
    expected: list[tuple[str | None, int | None, str | None]] = []

    def fresh_walk(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        found = callsites._FramePolicy(())._walk(sys._getframe(1))
        if found is None:
            expected.append((None, None, None))
        else:
            code, lasti, origin = found
            expected.append(
                (code.co_filename, _line_at(code, lasti), origin) if code else (None, None, origin)
            )
        return execute(sql, params, many, context)

    with perfaudit.record() as rec, connection.execute_wrapper(fresh_walk):
        MixedSerializer(Book.objects.order_by("pk"), many=True).data  # noqa: B018
        serializers.BookSerializer(Book.objects.order_by("pk"), many=True).data  # noqa: B018
        for book in Book.objects.order_by("pk"):
            MixedSerializer(book).data  # noqa: B018

    got = [
        (q.callsite.filename, q.callsite.lineno, q.origin)
        if q.callsite
        else (None, None, q.origin)
        for q in rec
    ]
    assert len(got) == len(expected) > 20
    assert got == expected
    origins = {origin for _, _, origin in got}
    assert {"MixedSerializer.author", "MixedSerializer.tags", "BookSerializer.author"} <= origins
    # No frame stays referenced once the block is over.
    policy = rec._policy
    assert policy is not None
    assert policy.last is not None
    assert all(held is None for _, _, _, held, _ in policy.last)
    # Nor any serializer field whose origin was cached while it rendered.
    assert callsites._FIELD_ORIGINS == {}
