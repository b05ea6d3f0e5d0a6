"""assertNoExternalCalls / assertCacheCallsAtMost (the mixin) on real calls."""

from __future__ import annotations

import pytest
import requests
from django.core.cache import cache
from django.test import SimpleTestCase

from perfaudit.testing import PerfAuditTestMixin
from perfaudit.testing.external import assert_cache_calls_at_most, assert_no_external_calls
from tests.http_service import serve


class SideAssertions(PerfAuditTestMixin, SimpleTestCase):
    def test_no_external_calls_fails_naming_the_call(self) -> None:
        with serve() as url:
            with pytest.raises(AssertionError) as failed:
                with self.assertNoExternalCalls():
                    requests.get(f"{url}/status/502?key=s3cret", timeout=5)
        message = str(failed.value)
        assert "Expected no outbound HTTP requests, made 1:" in message
        assert f"1 × GET {url} from tests/test_testing_side.py:" in message
        assert "502" in message
        assert "s3cret" not in message

    def test_no_external_calls_passes_and_returns_the_result(self) -> None:
        assert self.assertNoExternalCalls(lambda: 5) == 5

    def test_cache_calls_at_most(self) -> None:
        cache.clear()
        self.assertCacheCallsAtMost(2, lambda: [cache.get("a"), cache.get("b")])
        with pytest.raises(AssertionError) as failed:
            with self.assertCacheCallsAtMost(1):
                cache.get("profile:1")
                cache.get("profile:1")
        message = str(failed.value)
        assert "Expected at most 1 cache call on all caches, made 2:" in message
        assert "2 × get 'profile:#' (default)" in message
        assert "[cache_repeat]" in message

    def test_cache_calls_by_alias(self) -> None:
        with assert_cache_calls_at_most(0, alias="other"):
            cache.get("a")  # the default cache: not counted
        with assert_no_external_calls() as rec:
            pass
        assert rec.http == []
