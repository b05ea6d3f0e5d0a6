"""The attribute a call site's instruction loads, read from its bytecode.

A query run by a foreign key's descriptor (``loan.to_reader``) is issued
while the application frame executes the ``LOAD_ATTR`` of that attribute:
``frame.f_lasti``, which the capture keeps per query, is its offset. The
attribute's name is what the SQL cannot say when a model has two foreign
keys to the same table. Decoded from ``co_code`` (the instruction, its
``EXTENDED_ARG`` prefixes, the name table) once per call site, after the
query; no ``dis`` pass over the function.
"""

from __future__ import annotations

import dis
import sys
from types import CodeType
from typing import Final

__all__ = ["attribute_at"]

_CACHE: Final = dis.opmap.get("CACHE", -1)
_EXTENDED_ARG: Final = dis.opmap["EXTENDED_ARG"]
_LOAD_ATTR: Final = dis.opmap["LOAD_ATTR"]
_LOAD_METHOD: Final = dis.opmap.get("LOAD_METHOD", -1)  # Python 3.11; folded into LOAD_ATTR later
# From Python 3.12 the low bit of LOAD_ATTR's argument flags a method load.
_NAME_SHIFT: Final = 1 if sys.version_info >= (3, 12) else 0


def attribute_at(code: CodeType, offset: int) -> str | None:
    """The name loaded by the attribute instruction at ``offset``, else ``None``.

    ``offset`` may point into the instruction's inline cache entries (a
    specialised property load on Python 3.12 reports such an offset): the
    instruction is the first one before them.
    """
    try:
        raw = code.co_code
        while offset > 0 and raw[offset] == _CACHE:
            offset -= 2
        op = raw[offset]
        if op == _LOAD_ATTR:
            shift = _NAME_SHIFT
        elif op == _LOAD_METHOD:
            shift = 0
        else:
            return None
        arg = raw[offset + 1]
        prefix, factor = offset - 2, 256
        while prefix >= 0 and raw[prefix] == _EXTENDED_ARG:
            arg += raw[prefix + 1] * factor
            prefix, factor = prefix - 2, factor * 256
        return code.co_names[arg >> shift]
    except (IndexError, AttributeError):  # an offset or code object this decoder does not know
        return None
