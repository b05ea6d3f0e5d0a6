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

    __slots__ = ("cache", "codes", "drf", "last_walk", "modules")

    _MAX_CACHE = 20_000

    def __init__(self, extra_modules: tuple[str, ...]) -> None:
        self.modules = _ALWAYS_SKIPPED_MODULES + extra_modules
        self.cache: dict[int, int] = {}
        self.codes: list[CodeType] = []
        self.drf: frozenset[int] = _drf_codes_now()
        # The code objects of the last walk that found an application frame
        # without passing a DRF field method: library codes, then the
        # application's.
        self.last_walk: tuple[CodeType, ...] = ()

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
            self.last_walk = ()

    def user_frame(self, frame: FrameType | None) -> _SiteInfo | None:
        """The first application frame, and the DRF field being rendered on the way.

        The per-frame cost is what a call site costs, so the loop does the
        least it can. Consecutive queries mostly come through the same stack
        (an N+1 loop, a page of rows): while the frames' code objects are
        those of the last walk, an identity test per frame suffices (their
        classification cannot differ); from the first frame that differs on,
        one cache lookup per frame, library frames (the common case) going
        straight to the next one.
        """
        last = self.last_walk
        matched = 0
        if last:
            final = len(last) - 1
            while frame is not None and frame.f_code is last[matched]:
                if matched == final:
                    return last[final], frame.f_lasti, None
                matched += 1
                frame = frame.f_back
        walked = list(last[:matched])  # library frames so far, for the next walk
        known = self.cache.get
        origin = None
        through_drf = False
        while frame is not None:
            code = frame.f_code
            walked.append(code)
            state = known(id(code))
            if state is _LIBRARY:
                frame = frame.f_back
                continue
            if state is None:
                state = self._classify(code, frame.f_globals.get("__name__"))
                if state is _LIBRARY:
                    frame = frame.f_back
                    continue
            if state is _APP:
                # Through a DRF field method, the origin depends on the field
                # being rendered, not on the code: the next walk must look.
                self.last_walk = () if through_drf else tuple(walked)
                return code, frame.f_lasti, origin
            through_drf = True  # a DRF field method
            if origin is None:
                origin = _serializer_field(frame)
            frame = frame.f_back
        return (None, 0, origin) if origin is not None else None

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


# Frame states in the policy cache: one dict lookup per frame walked.
_APP, _LIBRARY, _DRF_FIELD = 0, 1, 2

# (code of the application frame or None, its bytecode offset (f_lasti), the
# DRF field or None)
_SiteInfo = tuple["CodeType | None", int, "str | None"]

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


def _serializer_field(frame: FrameType) -> str | None:
    field = frame.f_locals.get("self")
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
