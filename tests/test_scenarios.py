"""The scenario registry: declaration, validation, loading, system checks."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core import checks

from perfaudit import scenarios
from perfaudit.scenarios import Registry, Request, ScenarioError, load
from perfaudit.scenarios.checks import check_scenarios

# -- Request ------------------------------------------------------------------


def test_request_defaults_and_label() -> None:
    request = Request("get", "/api/events/", query={"tag": "jazz", "page": 2})
    assert request.method == "GET"
    assert request.full_path == "/api/events/?tag=jazz&page=2"
    assert request.label == "GET /api/events/?tag=jazz&page=2"
    assert Request("GET", "/me/", user="alice").label == "GET /me/ (as alice)"
    assert Request("GET", "/", name="home").label == "home"


def test_request_status_expectations() -> None:
    default = Request("GET", "/")
    assert default.expected == "a status below 400"
    assert default.accepts(200)
    assert default.accepts(302)
    assert not default.accepts(404)
    assert not default.accepts(500)
    created = Request("POST", "/things/", data={"a": 1}, status=201)
    assert created.expected == "201"
    assert created.accepts(201)
    assert not created.accepts(200)
    either = Request("DELETE", "/things/1/", status=(204, 404))
    assert either.expected == "204 or 404"
    assert either.accepts(404)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "FETCH", "path": "/"},
            "Request method 'FETCH' is not supported; use one of GET",
        ),
        ({"method": "GET", "path": "api/events/"}, "must be a string starting with '/'"),
        ({"method": "GET", "path": "https://x.test/"}, "must be a string starting with '/'"),
        (
            {"method": "GET", "path": "/a/?x=1", "query": {"y": 2}},
            "has a query string and query= is also given",
        ),
        ({"method": "GET", "path": "/", "data": {"a": 1}}, "pass its parameters as query="),
        ({"method": "GET", "path": "/", "status": 999}, "must be an HTTP status code"),
        ({"method": "GET", "path": "/", "status": True}, "must be an HTTP status code"),
        ({"method": "GET", "path": "/", "user": ""}, "must be a username"),
    ],
)
def test_request_rejects_mistakes(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Request(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_request_resolve_fills_placeholders() -> None:
    request = Request("GET", "/api/events/{slug}/", query={"ref": "{source}", "n": 3})
    resolved = request.resolve({"slug": "jazz-night", "source": "mail"})
    assert resolved.path == "/api/events/jazz-night/"
    assert resolved.query == {"ref": "mail", "n": 3}
    plain = Request("GET", "/static/")
    assert plain.resolve({}) is plain
    with pytest.raises(KeyError, match="slug"):
        request.resolve({"source": "mail"})


def test_request_resolve_fills_headers_and_body_too() -> None:
    request = Request(
        "POST",
        "/api/orders/",
        headers={"Authorization": "Token {token}", "Accept": "application/json"},
        data={"event": "{slug}", "items": [{"ref": "{slug}-1"}], "n": 2},
    )
    resolved = request.resolve({"token": "t0k3n", "slug": "jazz"})
    assert resolved.headers == {"Authorization": "Token t0k3n", "Accept": "application/json"}
    assert resolved.data == {"event": "jazz", "items": [{"ref": "jazz-1"}], "n": 2}
    raw = Request("PUT", "/x/", data="name={name}", content_type="text/plain")
    assert raw.resolve({"name": "a"}).data == "name=a"
    with pytest.raises(KeyError, match="token"):
        request.resolve({"slug": "jazz"})


@pytest.mark.django_db
def test_find_user_by_username_and_none_when_missing() -> None:
    from django.contrib.auth import get_user_model

    from perfaudit.scenarios.environment import find_user

    alice = get_user_model().objects.create(username="alice", email="a@example.com")
    assert find_user("alice") == alice
    assert find_user("bob") is None


def test_scenario_environment_uses_a_fast_password_hasher() -> None:
    from django.contrib.auth.hashers import make_password

    from perfaudit.scenarios.environment import scenario_environment

    with scenario_environment():
        assert make_password("secret").startswith("md5$")
    assert not make_password("secret").startswith("md5$")


# -- Registry -----------------------------------------------------------------


def test_scenario_decorator_registers_and_returns_the_function() -> None:
    registry = Registry()

    def setup() -> None:
        """Ten events."""

    decorated = registry.scenario("events", requests=["/api/events/", Request("HEAD", "/")])(setup)
    assert decorated is setup
    item = registry.get("events")
    assert item.setup is setup
    assert item.requests == (Request("GET", "/api/events/"), Request("HEAD", "/"))
    assert item.description == "Ten events."
    assert item.module == __name__
    assert item.origin == f"{__name__}.{setup.__qualname__}"
    assert "events" in registry
    assert len(registry) == 1
    assert [s.name for s in registry] == ["events"]


def test_description_argument_wins_over_docstring() -> None:
    registry = Registry()

    @registry.scenario("x", requests=["/"], description="Explicit.")
    def setup() -> None:
        """Docstring."""

    assert registry.get("x").description == "Explicit."


def test_duplicate_name_names_both_set_up_functions() -> None:
    registry = Registry()

    @registry.scenario("event-list", requests=["/a/"])
    def first() -> None: ...

    with pytest.raises(ScenarioError) as info:

        @registry.scenario("event-list", requests=["/b/"])
        def second() -> None: ...

    message = str(info.value)
    assert "Scenario 'event-list' is declared twice" in message
    assert "first" in message
    assert "second" in message
    assert "rename one of them" in message
    assert registry.get("event-list").requests[0].path == "/a/"


def test_same_function_registered_again_replaces_it() -> None:
    """A module imported again (after a failed import, a reload) is not a duplicate."""
    registry = Registry()

    def setup() -> None: ...

    registry.scenario("x", requests=["/a/"])(setup)
    registry.scenario("x", requests=["/b/"])(setup)
    assert registry.get("x").requests[0].path == "/b/"


@pytest.mark.parametrize(
    ("name", "requests", "message"),
    [
        ("has space", ["/"], "Scenario name 'has space' is not valid"),
        ("", ["/"], "Scenario name '' is not valid"),
        ("x", [], "has no requests"),
        ("x", "/", "must be a list of Request objects or paths"),
        ("x", [("GET", "/")], "is not a Request"),
        ("x", ["relative/"], "must be a string starting with '/'"),
    ],
)
def test_bad_declarations(name: str, requests: object, message: str) -> None:
    registry = Registry()
    with pytest.raises(ScenarioError) as info:
        registry.scenario(name, requests=requests)(lambda: None)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert len(registry) == 0


def test_set_up_must_take_no_arguments() -> None:
    registry = Registry()
    with pytest.raises(ScenarioError, match="requires db"):

        @registry.scenario("x", requests=["/"])
        def setup(db: object) -> None: ...

    @registry.scenario("y", requests=["/"])
    def optional(scale: int = 1) -> None: ...

    assert "y" in registry


def test_get_unknown_suggests_a_close_name() -> None:
    registry = Registry()
    registry.scenario("event-list", requests=["/"])(lambda: None)
    with pytest.raises(ScenarioError) as info:
        registry.get("event-lst")
    assert "No scenario is called 'event-lst'. Did you mean 'event-list'?" in str(info.value)
    assert "Known scenarios: event-list." in str(info.value)


def test_module_level_scenario_uses_the_default_registry(
    clean_registry: Callable[[str], None],
) -> None:
    name = f"default-{uuid.uuid4().hex[:8]}"
    clean_registry(name)
    scenarios.scenario(name, requests=["/"])(lambda: None)
    assert scenarios.registry.get(name).name == name


# -- load() and the system checks ---------------------------------------------


@pytest.fixture
def clean_registry() -> Iterator[Callable[[str], None]]:
    names: list[str] = []
    yield names.append
    for name in names:
        scenarios.registry.remove(name)


@pytest.fixture
def make_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: Callable[[str], None]
) -> Iterator[Callable[[str, list[str]], str]]:
    """Write an importable module; return its name. Its scenarios are removed afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(source: str, names: list[str] = []) -> str:  # noqa: B006
        module = f"pa_scenarios_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        created.append(module)
        for name in names:
            clean_registry(name)
        return module

    yield make
    for module in created:
        sys.modules.pop(module, None)


GOOD = """
from perfaudit.scenarios import Request, scenario

@scenario("{a}", requests=[Request("GET", "/a/")])
def a():
    pass

@scenario("{b}", requests=["/b/"])
def b():
    return {{"x": 1}}
"""


def test_load_imports_the_listed_modules_in_declaration_order(
    make_module: Callable[[str, list[str]], str], settings: object
) -> None:
    a, b, c = (f"s-{uuid.uuid4().hex[:8]}" for _ in range(3))
    first = make_module(GOOD.format(a=a, b=b), [a, b])
    other = make_module(GOOD.format(a=c, b=f"{c}-2"), [c, f"{c}-2"])
    found = load([first])
    assert [s.name for s in found] == [a, b]
    assert all(s.module == first for s in found)
    settings.PERFAUDIT = {"SCENARIOS": [other, first]}  # type: ignore[attr-defined]
    # Declaration order of the registry: first's scenarios were registered first.
    assert [s.name for s in load()] == [a, b, c, f"{c}-2"]


def test_load_explains_an_import_error(make_module: Callable[[str, list[str]], str]) -> None:
    broken = make_module("import not_a_module_perfaudit_knows\n", [])
    with pytest.raises(ScenarioError) as info:
        load([broken])
    message = str(info.value)
    assert f"PERFAUDIT['SCENARIOS'] lists {broken!r}, which cannot be imported" in message
    assert "ModuleNotFoundError" in message
    assert "fix the dotted path" in message
    with pytest.raises(ScenarioError, match="cannot be imported"):
        load(["no.such.module_for_perfaudit"])


def test_load_prefixes_declaration_errors_with_the_module(
    make_module: Callable[[str, list[str]], str],
) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    source = f"""
    from perfaudit.scenarios import scenario

    @scenario("{name}", requests=["/"])
    def one():
        pass

    @scenario("{name}", requests=["/"])
    def two():
        pass
    """
    module = make_module(source, [name])
    with pytest.raises(ScenarioError) as info:
        load([module])
    assert str(info.value).startswith(f"{module}: Scenario {name!r} is declared twice")


def test_check_reports_each_problem_with_its_id(
    make_module: Callable[[str, list[str]], str], settings: object
) -> None:
    good_a, good_b = f"g-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    good = make_module(GOOD.format(a=good_a, b=good_b), [good_a, good_b])
    empty = make_module("X = 1\n", [])
    bad = make_module(
        """
        from perfaudit.scenarios import Request, scenario

        @scenario("bad-method", requests=[Request("FETCH", "/")])
        def setup():
            pass
        """,
        [],
    )
    settings.PERFAUDIT = {  # type: ignore[attr-defined]
        "SCENARIOS": [good, empty, bad, "no.such.module_for_perfaudit"]
    }
    messages = check_scenarios()
    assert [(m.id, m.obj) for m in messages] == [
        ("perfaudit.W010", empty),
        ("perfaudit.E011", bad),
        ("perfaudit.E010", "no.such.module_for_perfaudit"),
    ]
    assert "declares no scenario" in messages[0].msg
    assert "Request method 'FETCH' is not supported" in messages[1].msg
    assert "cannot be imported" in messages[2].msg
    assert all(m.hint for m in messages)
    # Registered with Django's check framework under the "perfaudit" tag.
    ids = {m.id for m in checks.run_checks(tags=["perfaudit"])}
    assert {"perfaudit.W010", "perfaudit.E011", "perfaudit.E010"} <= ids


def test_check_is_silent_without_scenarios(settings: object) -> None:
    settings.PERFAUDIT = {}  # type: ignore[attr-defined]
    assert check_scenarios() == []
