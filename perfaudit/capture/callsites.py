"""Call-site attribution: the first application frame above a query.

Runs on the hot path (the frames exist only while the query runs), so the
per-frame work is one cached classification per code object.
"""

from __future__ import annotations

import contextlib
import os
import site
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Final


def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is never "the application": stdlib and site-packages."""
    dirs: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            dirs.add(paths[key])
    with contextlib.suppress(AttributeError):  # old virtualenv's site.py lacks it
        dirs.update(site.getsitepackages())
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        dirs.add(user_site)
    expanded = {os.path.realpath(d) for d in dirs} | {os.path.abspath(d) for d in dirs}
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in expanded if d))


_LIBRARY_DIRS: Final = _library_dirs()
_ALWAYS_SKIPPED_MODULES: Final = ("django", "perfaudit", "asgiref", "debug_toolbar")


class _FramePolicy:
    """Decides, once per code object, whether a frame is library code.

    Decisions are cached by ``id(code)`` (hashing a code object is slow); the
    code objects are kept in ``codes`` so their ids stay unique while cached.
    """

    __slots__ = ("cache", "codes", "drf", "last", "modules")

    _MAX_CACHE = 20_000

    def __init__(self, extra_modules: tuple[str, ...]) -> None:
        self.modules = _ALWAYS_SKIPPED_MODULES + extra_modules
        self.cache: dict[int, int] = {}
        self.codes: list[CodeType] = []
        self.drf: frozenset[int] = _drf_codes_now()
        self._forget_walk()

    def _forget_walk(self) -> None:
        # The last walk, as the plan a repeat of it follows: one atomic
        # attribute, as the policy is shared by threads.
        self.last: _Plan | None = None

    def is_library(self, code: CodeType, module: object) -> bool:
        filename = code.co_filename
        if filename.startswith("<frozen"):
            return True
        if module == "__main__" and os.path.basename(filename) == "manage.py":
            return True  # Django's entry point: runserver's own frames, not the app's
        if isinstance(module, str):
            for prefix in self.modules:
                if module == prefix or module.startswith(prefix + "."):
                    return True
        return filename.startswith(_LIBRARY_DIRS)

    def refresh(self) -> None:
        """Re-classify DRF's methods if DRF was imported since the cache was filled.

        Called when a block starts, not per query: looking DRF up in
        ``sys.modules`` on every query would cost as much as a frame.
        """
        if not self.drf and _drf_codes_now():
            self.drf = _drf_codes_now()
            self.cache.clear()
            self.codes.clear()
            self._forget_walk()

    def user_frame(self, frame: FrameType | None) -> _SiteInfo | None:
        """The first application frame, and the DRF field being rendered on the way.

        The per-frame cost is what a call site costs, so the loop does the
        least it can. Consecutive queries mostly come through the same stack
        (an N+1 loop, a page of rows, a DRF list rendering the same field per
        row), so the last walk is kept as a plan: while the frames' code
        objects are those of the plan, an identity test per frame suffices
        (their classification cannot differ), and only a DRF field method's
        frame is read, for the field it renders. Where the plan reaches a
        DRF frame that *is* the frame the last walk stopped at (the list
        being rendered, not a row's), the rest of the stack is that walk's
        too (a running frame's callers cannot change), and its result is
        used without going further. When the stack differs, it is walked
        again from the start with one cache lookup per frame.
        """
        plan = self.last
        if plan is not None:
            at = frame
            origin = None
            try:
                for codes, stop, kind, held, later_origin in plan:
                    for code in codes:  # library frames: one identity test each
                        if at.f_code is not code:  # type: ignore[union-attr]
                            break
                        at = at.f_back  # type: ignore[union-attr]
                    else:
                        if kind is _END:
                            if at is None:  # the whole stack again: no application frame
                                return (None, 0, origin) if origin is not None else None
                            break
                        if at.f_code is not stop:  # type: ignore[union-attr]
                            break
                        if kind is _APP:
                            return stop, at.f_lasti, origin  # type: ignore[union-attr]
                        if at is held:  # a DRF frame the last walk also passed
                            return _result_beyond(plan, origin or later_origin)
                        if origin is None:  # a DRF field method: the field it renders
                            origin = _serializer_field(at)  # type: ignore[arg-type]
                        at = at.f_back  # type: ignore[union-attr]
                        continue
                    break  # the stack differs: walk it
            except AttributeError:  # the stack ended earlier than the last one
                pass
        return self._walk(frame)

    def _walk(self, frame: FrameType | None) -> _SiteInfo | None:
        """Walk the stack with the cache, and keep the walk as the next plan."""
        stops: list[tuple[tuple[CodeType, ...], CodeType | None, int, FrameType | None]] = []
        fields: list[str | None] = []  # the field each DRF stop renders
        codes: list[CodeType] = []
        known = self.cache.get
        while frame is not None:
            code = frame.f_code
            state = known(id(code))
            if state is None:
                state = self._classify(code, frame.f_globals.get("__name__"))
            if state is _LIBRARY:
                codes.append(code)
                frame = frame.f_back
                continue
            stops.append((tuple(codes), code, state, frame))
            codes = []
            if state is _APP:
                break
            fields.append(_serializer_field(frame))
            frame = frame.f_back
        else:
            stops.append((tuple(codes), None, _END, None))
        # Each DRF stop's origin as the walk from it on would find it: the
        # first field named from there outwards.
        later: list[str | None] = [None] * len(stops)
        following = None
        for i in range(len(fields) - 1, -1, -1):
            following = fields[i] or following
            later[i] = following
        # Frames are held only where a later query may meet them again: the
        # first DRF stop renders one row (its frame is gone by the next
        # query, and holding it would make it copy itself out as it returns);
        # the application frame only for a result found beyond a held one.
        plan = tuple(
            (codes, code, state, held if i > 0 or state is _APP else None, later[i])
            for i, (codes, code, state, held) in enumerate(stops)
        )
        if len(plan) < 3:  # no DRF stop held: no result is ever taken beyond one
            plan = tuple((codes, code, state, None, o) for codes, code, state, _, o in plan)
        self.last = plan
        _, end_code, state, last_frame = stops[-1]
        if state is _APP:
            return end_code, last_frame.f_lasti, later[0]  # type: ignore[union-attr]
        return (None, 0, later[0]) if later[0] is not None else None

    def release(self) -> None:
        """Drop the frames the plan holds (a recording ended): keep its codes."""
        plan = self.last
        if plan is not None:
            self.last = tuple((codes, stop, kind, None, o) for codes, stop, kind, _, o in plan)
        _FIELD_ORIGINS.clear()

    def _classify(self, code: CodeType, module: object) -> int:
        if id(code) in self.drf:
            state = _DRF_FIELD
        else:
            state = _LIBRARY if self.is_library(code, module) else _APP
        if len(self.cache) >= self._MAX_CACHE:
            self.cache.clear()
            self.codes.clear()
        self.cache[id(code)] = state
        self.codes.append(code)
        return state


# Frame states in the policy cache: one dict lookup per frame walked; _END
# closes a plan whose walk found no application frame.
_APP, _LIBRARY, _DRF_FIELD, _END = 0, 1, 2, 3

# A walk kept for the next query: segments of library code objects, each
# followed by the frame it stops at: its code (None at the end of the
# stack), its state (a DRF field method, the application frame, or _END),
# the frame itself while the recording runs (None once released), and the
# origin a walk from there on would name.
_Plan = tuple[
    tuple[tuple[CodeType, ...], "CodeType | None", int, "FrameType | None", "str | None"], ...
]

# (code of the application frame or None, its bytecode offset (f_lasti), the
# DRF field or None)
_SiteInfo = tuple["CodeType | None", int, "str | None"]


def _result_beyond(plan: _Plan, origin: str | None) -> _SiteInfo | None:
    """The walk's result from the plan's end: its application frame, where it
    is now, or none."""
    _, code, kind, frame, _ = plan[-1]
    if kind is _APP and frame is not None:
        return code, frame.f_lasti, origin
    return (None, 0, origin) if origin is not None else None


_drf_codes: frozenset[int] = frozenset()
_drf_keep: list[object] = []


def _drf_codes_now() -> frozenset[int]:
    """Ids of the DRF methods whose ``self`` is the field being rendered.

    Looked up in ``sys.modules`` only: perfaudit never imports DRF itself.
    Returns the same object until DRF is first seen, so policies can tell by
    identity that they must re-classify.
    """
    global _drf_codes
    if _drf_codes or "rest_framework.serializers" not in sys.modules:
        return _drf_codes
    fields = sys.modules.get("rest_framework.fields")
    relations = sys.modules.get("rest_framework.relations")
    serializers = sys.modules["rest_framework.serializers"]
    functions = [
        getattr(getattr(fields, "Field", None), "get_attribute", None),
        getattr(getattr(relations, "RelatedField", None), "get_attribute", None),
        getattr(getattr(relations, "ManyRelatedField", None), "get_attribute", None),
        getattr(getattr(serializers, "ListSerializer", None), "to_representation", None),
    ]
    codes = [f.__code__ for f in functions if f is not None and hasattr(f, "__code__")]
    _drf_keep[:] = codes  # keep the ids valid
    _drf_codes = frozenset(id(code) for code in codes)
    return _drf_codes


# The origin of each DRF field met while recording, by id: a list renders the
# same field objects for every row, so the name is built once per field (the
# getattrs and the formatting cost about a microsecond a query). The field is
# kept beside its origin so its id cannot be reused while cached; the cache is
# emptied when a recording ends (``release()``), so no serializer outlives its
# request because of it.
_FIELD_ORIGINS: dict[int, tuple[object, str | None]] = {}
_MAX_FIELD_ORIGINS: Final = 4096


def _serializer_field(frame: FrameType) -> str | None:
    field = frame.f_locals.get("self")
    known = _FIELD_ORIGINS.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    origin = _field_origin(field)
    if len(_FIELD_ORIGINS) >= _MAX_FIELD_ORIGINS:
        _FIELD_ORIGINS.clear()
    _FIELD_ORIGINS[id(field)] = (field, origin)
    return origin


def _field_origin(field: object) -> str | None:
    name = getattr(field, "field_name", None)
    parent = getattr(field, "parent", None)
    if not name or parent is None:
        return None
    if type(parent).__name__ == "ListSerializer":  # a many=True child: name its serializer
        parent = getattr(parent, "child", parent)
    return f"{type(parent).__name__}.{name}"


_policies: dict[tuple[str, ...], _FramePolicy] = {}


def _policy_for(extra_modules: tuple[str, ...]) -> _FramePolicy:
    policy = _policies.get(extra_modules)
    if policy is None:
        policy = _policies.setdefault(extra_modules, _FramePolicy(extra_modules))
    return policy
