"""Token classes of the normalised stream (shared by the tokenizer and its helpers)."""

from __future__ import annotations

from typing import Final

__all__ = ["IDENT", "KW", "PUNCT", "VALUE"]

KW: Final = 0
IDENT: Final = 1
VALUE: Final = 2
PUNCT: Final = 3
