"""Cache capture on real backends: LocMem and Redis (database 7, a unique prefix)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.test import override_settings

import perfaudit
from perfaudit.capture.events import key_shape
from tests.helpers import line_of
from tests.http_service import closed_port

REDIS_URL = "redis://127.0.0.1:6379/7"


def _redis_up() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


needs_redis = pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")


def _caches(prefix: str) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"perfaudit-{prefix}",
        },
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"perfaudit-test-{prefix}",
        },
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/7",
            "OPTIONS": {"socket_connect_timeout": 1},
        },
    }


@pytest.fixture
def prefix() -> Iterator[str]:
    """Fresh cache settings per test; only this test's Redis keys are deleted after."""
    name = uuid.uuid4().hex[:12]
    with override_settings(CACHES=_caches(name)):
        yield name
        if _redis_up():
            client = caches["redis"]._cache.get_client()  # type: ignore[attr-defined]
            for key in client.scan_iter(match=f"perfaudit-test-{name}:*"):
                client.delete(key)


HERE = __file__


def test_locmem_operations_hits_misses_and_call_sites(prefix: str) -> None:
    with perfaudit.record() as rec:
        cache.set("user:42", {"name": "a"})  # cache:set
        assert cache.get("user:42") == {"name": "a"}
        assert cache.get("user:43", "fallback") == "fallback"
        assert cache.get_many(["user:42", "user:44"]) == {"user:42": {"name": "a"}}
        assert cache.get_or_set("n", lambda: 5) == 5
        assert cache.get_or_set("n", 6) == 5
        assert cache.incr("n") == 6
        assert cache.has_key("n") is True
        assert cache.delete("n") is True

    ops = [(e.op, e.key, e.hits, e.misses) for e in rec.cache]
    assert ops == [
        ("set", "user:42", 0, 0),
        ("get", "user:42", 1, 0),
        ("get", "user:43", 0, 1),
        ("get_many", ("user:42", "user:44"), 1, 1),
        ("get_or_set", "n", 0, 1),
        ("get_or_set", "n", 1, 0),
        ("incr", "n", 0, 0),
        ("has_key", "n", 1, 0),
        ("delete", "n", 0, 0),
    ]
    assert {e.alias for e in rec.cache} == {"default"}
    first = rec.cache[0]
    assert first.callsite is not None
    assert (first.callsite.filename, first.callsite.lineno) == (HERE, line_of(HERE, "cache:set"))
    assert all(e.duration > 0 and e.error is None for e in rec.cache)
    assert rec.analysis.cache.calls == 9
    assert (rec.analysis.cache.hits, rec.analysis.cache.misses) == (4, 3)


def test_a_stored_none_is_a_hit_and_the_callers_default_comes_back(prefix: str) -> None:
    cache.set("none", None)
    marker = object()
    with perfaudit.record() as rec:
        assert cache.get("none", marker) is None
        assert cache.get("absent", default=marker) is marker
        assert cache.get("absent") is None
    assert [(e.hits, e.misses) for e in rec.cache] == [(1, 0), (0, 1), (0, 1)]


def test_nothing_is_recorded_outside_a_recording(prefix: str) -> None:
    cache.set("k", 1)
    assert cache.get("k") == 1
    with perfaudit.record() as rec:
        pass
    assert rec.cache == []


def test_nested_calls_are_one_event_and_the_value_functions_calls_are_recorded(
    prefix: str,
) -> None:
    def compute() -> int:
        cache.get("inner")  # the value function's own read
        return 7

    with perfaudit.record() as rec:
        assert cache.get_or_set("outer", compute) == 7
    assert [(e.op, e.key) for e in rec.cache] == [("get", "inner"), ("get_or_set", "outer")]


def test_one_shot_key_iterators_are_read_once(prefix: str) -> None:
    cache.set_many({"a": 1, "b": 2})
    with perfaudit.record() as rec:
        assert cache.get_many(k for k in ("a", "b", "c")) == {"a": 1, "b": 2}
    assert rec.cache[0].key == ("a", "b", "c")
    assert (rec.cache[0].hits, rec.cache[0].misses) == (2, 1)


@needs_redis
def test_redis_backend_through_every_alias(prefix: str) -> None:
    redis_cache = caches["redis"]
    with perfaudit.record() as rec:
        redis_cache.set("order:9f8e7d6c5b4a39281706:total", 12)
        assert redis_cache.get("order:9f8e7d6c5b4a39281706:total") == 12
        assert redis_cache.get("order:1:total") is None
        redis_cache.set_many({"x:1": 1, "x:2": 2})
        assert redis_cache.get_many(["x:1", "x:2", "x:3"]) == {"x:1": 1, "x:2": 2}
        cache.get("local")
    assert [(e.alias, e.op) for e in rec.cache] == [
        ("redis", "set"),
        ("redis", "get"),
        ("redis", "get"),
        ("redis", "set_many"),
        ("redis", "get_many"),
        ("default", "get"),
    ]
    assert rec.cache[1].key_shape == "order:<hash>:total"
    assert (rec.cache[4].hits, rec.cache[4].misses) == (2, 1)


@needs_redis
def test_a_cache_server_that_is_down_is_recorded_and_the_error_propagates(prefix: str) -> None:
    import redis

    down = caches["down"]
    with perfaudit.record() as rec:
        with pytest.raises(redis.exceptions.ConnectionError) as raised:
            down.get("k")
    unrecorded = down.get.__wrapped__  # type: ignore[attr-defined]
    with pytest.raises(redis.exceptions.ConnectionError) as bare:
        unrecorded("k")
    assert type(raised.value) is type(bare.value)
    (event,) = rec.cache
    assert event.error == "redis.exceptions.ConnectionError"
    assert (event.op, event.alias, event.hits, event.misses) == ("get", "down", 0, 0)
    assert rec.analysis.cache.errors == 1


@pytest.mark.asyncio
async def test_async_methods_are_one_event_each(prefix: str) -> None:
    with perfaudit.record() as rec:
        await cache.aset("a", 1)
        assert await cache.aget("a") == 1
        assert await cache.aget("b", "d") == "d"
        assert await cache.aget_or_set("c", 3) == 3
    assert [(e.op, e.hits, e.misses) for e in rec.cache] == [
        ("set", 0, 0),
        ("get", 1, 0),
        ("get", 0, 1),
        ("get_or_set", 0, 1),
    ]


def test_threads_do_not_mix_events(prefix: str) -> None:
    barrier = threading.Barrier(3)
    results: dict[str, list[Any]] = {}

    def worker(name: str) -> None:
        with perfaudit.record() as rec:
            barrier.wait()
            for i in range(20):
                cache.get(f"{name}:{i}")
        results[name] = [e.key for e in rec.cache]

    def bystander() -> None:
        barrier.wait()
        for i in range(20):
            cache.get(f"nobody:{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("t1", "t2")]
    threads.append(threading.Thread(target=bystander))
    with perfaudit.record() as main:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == {name: [f"{name}:{i}" for i in range(20)] for name in ("t1", "t2")}
    assert main.cache == []


@pytest.mark.asyncio
async def test_asyncio_tasks_do_not_mix_events(prefix: str) -> None:
    async def task(name: str) -> list[Any]:
        with perfaudit.record() as rec:
            for i in range(10):
                await cache.aget(f"{name}:{i}")
                await asyncio.sleep(0)
        return [e.key for e in rec.cache]

    first, second = await asyncio.gather(task("a"), task("b"))
    assert first == [f"a:{i}" for i in range(10)]
    assert second == [f"b:{i}" for i in range(10)]


def test_keys_are_shown_as_shapes_unless_debug(prefix: str) -> None:
    with perfaudit.record() as rec:
        cache.get("session:3f2a9b8c7d6e5f40:user:1234")
    group = rec.analysis.to_dict()["cache"]["groups"][0]
    assert group["key"] == "session:<hash>:user:#"
    assert "keys" not in group
    assert "1234" not in str(rec.analysis.to_dict())
    with override_settings(DEBUG=True):
        assert rec.analysis.cache.to_dict()["groups"][0]["keys"] == [
            "session:3f2a9b8c7d6e5f40:user:1234"
        ]


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ("user:42:profile", "user:#:profile"),
        ("views.decorators.cache.cache_page.abc", "views.decorators.cache.cache_page.abc"),
        ("etag:d41d8cd98f00b204e9800998ecf8427e", "etag:<hash>"),
        ("u:123e4567-e89b-12d3-a456-426614174000", "u:<hash>"),
        ("deadbeef", "deadbeef"),
        ("x" * 200, "x" * 79 + "…"),
    ],
)
def test_key_shape(key: str, shape: str) -> None:
    assert key_shape(key) == shape


def test_wrapped_methods_answer_what_django_asks_of_bound_methods() -> None:
    """Django 6.0+ picks aget_or_set's path with ``self.get_or_set.__func__``."""
    from django.core.cache.backends.base import BaseCache

    with perfaudit.record():
        backend = caches["default"]  # the backend itself, not the module-level proxy
        for name in ("get_or_set", "get_many", "set_many", "delete_many", "incr", "has_key"):
            method = getattr(backend, name)
            assert getattr(method, "__wrapped__", None) is not None, name  # perfaudit's
            assert method.__func__ is getattr(type(backend), name), name
            assert method.__self__ is backend
        assert backend.get_or_set.__func__ is BaseCache.get_or_set  # LocMem does not override it


@pytest.mark.asyncio
async def test_aget_or_set_works_while_recording() -> None:
    with perfaudit.record() as rec:
        assert await cache.aget_or_set("perfaudit-aget-or-set", 3) == 3
    assert rec.cache
    await cache.adelete("perfaudit-aget-or-set")
