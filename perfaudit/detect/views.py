"""The view that owns a queryset evaluated inside DRF or the admin.

A DRF generic view or viewset, or a ``ModelAdmin`` changelist, evaluates its
queryset in library code: the first application frame above that query is a
test, a middleware, anything but the line to change. For a unit that is one
request, the request's path is resolved (``django.urls.resolve``, at
detection time, never on the capture path) and, when the view's model is the
one whose rows were loaded, "evaluated at" names the view's ``get_queryset``
or ``queryset =`` line (or the ``ModelAdmin``) instead.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

from perfaudit.capture import CallSite

if TYPE_CHECKING:
    from perfaudit.detect._common import Evidence
    from perfaudit.detect.parents import Parent

__all__ = ["changelist_admin", "model_admin", "queryset_owner", "resolve_view", "view_queryset"]

_QUERYSET_LINE = re.compile(r"^\s+queryset\s*[:=]")


def view_queryset(evidence: Evidence, parent: Parent, site: CallSite | None) -> str | None:
    """``"views.py:18 (ArticleViewSet.get_queryset)"`` or ``None`` when no view applies.

    ``None`` too when the parent query was issued from the view's own code
    (an overridden ``list()``): that line is the one to show.
    """
    where = queryset_owner(evidence, parent.root, site)
    admin = changelist_admin(evidence, parent, site) if where is not None else None
    if admin is None:
        return where
    # The changelist builds its queryset from get_queryset() (a select_related
    # path can also go in list_select_related: the N+1 detector adds that).
    return f"{where}, the admin changelist: add it in `{admin}.get_queryset()`"


def queryset_owner(evidence: Evidence, model: Any, site: CallSite | None) -> str | None:
    """Where the request's DRF view or ``ModelAdmin`` builds its queryset of
    ``model`` rows, when it is that view (not ``site``'s own code) that ran it:
    ``"views.py:18 (ArticleViewSet.get_queryset)"``."""
    func = evidence.view
    if func is None or model is None:
        return None
    try:
        return _describe(func, model, site)
    except Exception:  # a view class that cannot be inspected must not break detection
        return None


def changelist_admin(evidence: Evidence, parent: Parent, site: CallSite | None) -> str | None:
    """The ``ModelAdmin`` class name when "evaluated at" names its changelist."""
    admin = model_admin(evidence)
    if admin is None or getattr(admin, "model", None) is not parent.root:
        return None
    return None if _inside(type(admin), site) else type(admin).__qualname__


def model_admin(evidence: Evidence) -> Any:
    """The ``ModelAdmin`` whose view served the unit's request, or ``None``."""
    return getattr(evidence.view, "model_admin", None)


def resolve_view(label: str | None) -> Any:
    """The view function a request label (``"GET /path/?q"``) resolves to, or ``None``.

    Called once per unit through ``Evidence.view``."""
    if not label or " " not in label:
        return None
    path = label.split(" ", 1)[1].split("?", 1)[0]  # resolve() takes no query string
    try:
        from django.urls import Resolver404, resolve

        try:
            return resolve(path).func
        except Resolver404:
            return None
    except Exception:  # a broken URLconf must not break detection
        return None


def _describe(func: Any, model: Any, site: CallSite | None) -> str | None:
    admin = getattr(func, "model_admin", None)
    if admin is not None and getattr(admin, "model", None) is model:
        if _inside(type(admin), site):
            return None
        return _where(type(admin), "get_queryset") or _class_site(type(admin))
    cls = getattr(func, "cls", None) or getattr(func, "view_class", None)
    if cls is None or not hasattr(cls, "get_queryset"):
        return None
    if _model_of(cls) is not model or _inside(cls, site):
        return None
    return _where(cls, "get_queryset") or _attribute_site(cls) or _class_site(cls)


def _inside(cls: type, site: CallSite | None) -> bool:
    """Whether ``site`` is in a method of ``cls`` (or of one of its bases)."""
    if site is None:
        return False
    return any(site.function.startswith(f"{klass.__qualname__}.") for klass in cls.__mro__)


def _model_of(cls: Any) -> Any:
    queryset = getattr(cls, "queryset", None)
    model = getattr(queryset, "model", None)
    if model is None:
        meta = getattr(getattr(cls, "serializer_class", None), "Meta", None)
        model = getattr(meta, "model", None)
    return model


def _is_app(filename: str) -> bool:
    from perfaudit.capture.callsites import _LIBRARY_DIRS

    return not filename.startswith(_LIBRARY_DIRS)


def _where(cls: type, name: str) -> str | None:
    """The method ``name`` as defined by application code in ``cls``'s MRO."""
    for klass in cls.__mro__:
        function = klass.__dict__.get(name)
        if function is None:
            continue
        code = getattr(function, "__code__", None)
        if code is None or not _is_app(code.co_filename):
            return None
        site = CallSite(code.co_filename, code.co_firstlineno, code.co_qualname)
        return f"{site.short_filename}:{site.lineno} ({site.function})"
    return None


def _attribute_site(cls: type) -> str | None:
    """The ``queryset = ...`` line of the class (or an application base class)."""
    for klass in cls.__mro__:
        if "queryset" not in klass.__dict__:
            continue
        try:
            lines, start = inspect.getsourcelines(klass)
            filename = inspect.getsourcefile(klass)
        except (OSError, TypeError):
            return None
        if filename is None or not _is_app(filename):
            return None
        for offset, line in enumerate(lines):
            if _QUERYSET_LINE.match(line):
                site = CallSite(filename, start + offset, klass.__qualname__)
                return f"{site.short_filename}:{site.lineno} ({klass.__qualname__}.queryset)"
        return None
    return None


def _class_site(cls: type) -> str | None:
    try:
        filename = inspect.getsourcefile(cls)
        _, line = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    if filename is None or not _is_app(filename):
        return None
    site = CallSite(filename, line, cls.__qualname__)
    return f"{site.short_filename}:{site.lineno} ({cls.__qualname__})"
