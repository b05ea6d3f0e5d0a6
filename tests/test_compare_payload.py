"""compare judges what the client receives, and reports a change only when it reproduces.

One small project gains four endpoints on ``main``; the ``wire`` branch
changes three of them only where ``response.data`` cannot see it (a renderer
that renames a key, a content type, a long string), and leaves a fourth, a
JWT whose ``exp`` is counted in whole seconds, as it was. Runs the real
command in a subprocess, on SQLite or PostgreSQL like the rest of the suite.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_compare import (
    _assert_clean,
    _compare,
    _git,
    _write,
    make_project,
    unique_db_name,
)

BIO = "A long biography, certainly longer than thirty-two characters"

WIRE = """
import base64, hashlib, hmac, json, time
from django.http import HttpResponse, JsonResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from shop.models import Book

class Renderer(JSONRenderer):
    pass

class Summary(APIView):
    renderer_classes = [Renderer]

    def get(self, request):
        return Response({"articlesCount": Book.objects.count()})

def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def token(request):
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    claims = _b64(json.dumps({"sub": "alice", "exp": int(time.time()) + 3600}).encode())
    signature = _b64(hmac.new(b"k", f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return JsonResponse({"user": "alice", "token": f"{header}.{claims}.{signature}"})

def plain(request):
    body = json.dumps({"books": Book.objects.count()})
    return HttpResponse(body, content_type="application/json")

def profile(request):
    return JsonResponse({"bio": "BIO"})
""".replace("BIO", BIO)

HEAD_RENDERER = """
class Renderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        data = {("articlesTotal" if k == "articlesCount" else k): v for k, v in data.items()}
        return super().render(data, accepted_media_type, renderer_context)
"""

URLS = """
from django.urls import path
from shop import wire
from shop.views import books
urlpatterns = [
    path("books/", books, name="books"),
    path("summary/", wire.Summary.as_view()),
    path("token/", wire.token),
    path("plain/", wire.plain),
    path("profile/", wire.profile),
]
"""

SCENARIOS = """
from perfaudit.scenarios import scenario
from shop.models import Author, Book

@scenario("wire", requests=["/summary/", "/token/", "/plain/", "/profile/"])
def wire():
    Book.objects.create(title="Only", author=Author.objects.create(name="A"))
"""

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def db_name() -> str:
    return unique_db_name()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path)
    _wire_project(root)
    return root


def _wire_project(project: Path) -> None:
    _write(
        project, {"shop/wire.py": WIRE, "miniproj/urls.py": URLS, "shop/scenarios.py": SCENARIOS}
    )
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "wire endpoints")
    _git(project, "checkout", "-q", "-b", "wire")
    head = (
        WIRE.replace("class Renderer(JSONRenderer):\n    pass\n", HEAD_RENDERER)
        .replace('content_type="application/json"', 'content_type="text/plain"')
        .replace("thirty-two", "thirty-three")
    )
    _write(project, {"shop/wire.py": head})
    _git(project, "commit", "-qam", "change the wire, not the data")
    _git(project, "checkout", "-q", "main")


def _by_request(stdout: str) -> dict[str, dict[str, Any]]:
    return {e["request"]: e["payload"] for e in json.loads(stdout)["endpoints"]}


def test_wire_changes_are_caught_and_a_jwt_exp_is_volatile_not_a_change(
    project: Path, db_name: str
) -> None:
    result = _compare(project, db_name, "main", "wire", "--rounds", "2", "--format", "json")
    assert result.returncode == 1, result.stderr
    payloads = _by_request(result.stdout)

    summary = payloads["GET /summary/"]
    assert summary["result"] == "different"
    assert summary["difference"] == {
        "path": "$.articlesCount",
        "base": 1,
        "head": "<missing>",
        "count": 2,
    }
    assert "response.data is the same at both refs" in summary["note"]
    assert summary["data_hashes"]["base"] == summary["data_hashes"]["head"] is not None

    # Whatever second each run fell in: volatile, ignored, reported.
    token = payloads["GET /token/"]
    assert (token["result"], token["volatile"], token["difference"]) == (
        "identical",
        ["$.token"],
        None,
    )

    plain = payloads["GET /plain/"]
    assert plain["result"] == "different"
    assert plain["difference"]["path"] == "content-type"
    assert (plain["difference"]["base"], plain["difference"]["head"]) == (
        "application/json",
        "text/plain",
    )

    profile = payloads["GET /profile/"]
    assert profile["difference"]["path"] == "$.bio"
    assert profile["difference"]["base"].startswith(f"A lo…ters ({len(BIO)} chars, sha256:")
    for stream in (result.stdout, result.stderr):
        assert BIO not in stream
        assert JWT.search(stream) is None
    _assert_clean(project, db_name)

    full = _compare(
        project, db_name, "main", "wire", "--rounds", "1", "--format", "json", "--show-values"
    )
    assert full.returncode == 1, full.stderr
    shown = _by_request(full.stdout)["GET /profile/"]["difference"]
    assert (shown["base"], shown["head"]) == (BIO, BIO.replace("thirty-two", "thirty-three"))

    text = _compare(project, db_name, "main", "wire", "--rounds", "1")
    assert text.returncode == 1, text.stderr
    assert "DIFFERENT at $.articlesCount: 1 → <missing>" in text.stdout
    assert "volatile, ignored: $.token" in text.stdout
    assert "DIFFERENT at content-type: 'application/json' → 'text/plain'" in text.stdout
    for stream in (text.stdout, text.stderr):
        assert BIO not in stream
        assert JWT.search(stream) is None
    _assert_clean(project, db_name)


def test_compare_without_changes_still_names_the_volatile_token(
    project: Path, db_name: str
) -> None:
    result = _compare(project, db_name, "main", "main", "--rounds", "1", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "volatile, ignored: $.token" in result.stdout
    assert result.stdout.count("✅ identical") == 4
    assert JWT.search(result.stdout) is None
