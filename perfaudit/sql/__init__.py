"""SQL shapes: the one place perfaudit reads SQL text.

* :mod:`~perfaudit.sql.tokens` — a regex tokenizer that folds literals and
  placeholders into ``?`` and normalises quoting across backends;
* :mod:`~perfaudit.sql.clauses` — tables, filters, grouping and aggregates
  from the token stream;
* :mod:`~perfaudit.sql.shape` — :func:`analyze` / :func:`fingerprint`, cached
  per statement text.
"""

from __future__ import annotations

from perfaudit.sql.shape import Aggregate, SqlShape, analyze, fingerprint

__all__ = ["Aggregate", "SqlShape", "analyze", "fingerprint"]
