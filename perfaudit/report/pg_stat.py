"""``report --pg-stat-statements``: the database's own account, joined to perfaudit's.

The middleware sees the requests it sampled, one process at a time;
PostgreSQL's ``pg_stat_statements`` sees every statement of every process,
sampled or not, including cron jobs, workers and shells. This module reads the
latter for one database, turns each normalised statement (``$1`` for every
constant) into a perfaudit shape — the statement text is fingerprinted by
:mod:`perfaudit.sql.shape`, the one place that reads SQL, as the middleware's
statements were — and joins it to the JSONL inventory on the fingerprint. The
result is ranked by the execution time the database spent; each shape says
which views, call sites and findings explain it, and shapes no recorded
request explains are listed apart: they are the load perfaudit never saw.

Reading is done in a ``READ ONLY`` transaction that is rolled back; nothing is
created: when the extension is missing, the error says how to enable it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db import DatabaseError, connections, transaction

from perfaudit.report.explain import Explained, explain_shapes
from perfaudit.report.inventory import Inventory, ShapeHotspot
from perfaudit.sql.shape import analyze

__all__ = [
    "PgStatReport",
    "PgStatUnavailable",
    "StatementShape",
    "build_pg_report",
    "enable_hint",
    "explain_ranked",
    "read_statements",
]

_EXTENSION: Final = "pg_stat_statements"
# pg_stat_statements writes every constant as $n; psycopg's client-side binding
# sends typed literals ('2024-01-01'::date), which it keeps as $n::date.
_PLACEHOLDER: Final = re.compile(r"\$\d+")
_NO_VALUES: Final = (
    "no recorded request ran this shape, so there is no statement with values to plan "
    "(pg_stat_statements keeps $n placeholders only)"
)


class PgStatUnavailable(ValueError):
    """``pg_stat_statements`` cannot be read on the chosen database (the message says why)."""


def enable_hint(dbname: str) -> str:
    """How to enable the extension, step by step (the same words in the docs)."""
    return (
        "Enable it: add pg_stat_statements to shared_preload_libraries in postgresql.conf "
        "(or, as a superuser, ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', "
        "keeping any libraries already listed), restart PostgreSQL, then run "
        f"CREATE EXTENSION pg_stat_statements; in database {dbname!r}. "
        "Managed services (RDS, Cloud SQL, Azure) preload it through their parameter settings."
    )


@dataclass
class StatementShape:
    """One perfaudit shape as the database accounts for it (all its statements merged).

    ``statements`` counts the ``pg_stat_statements`` entries merged into it
    (an ``IN`` list of each length is its own entry there, one shape here);
    ``query`` is the costliest entry's text. ``hotspot`` is the JSONL
    inventory's shape with the same fingerprint, ``None`` when no recorded
    request ran it.
    """

    fingerprint: str
    kind: str
    calls: int = 0
    total_ms: float = 0.0
    rows: int = 0
    statements: int = 0
    query: str = ""
    _query_ms: float = -1.0
    share: float = 0.0
    hotspot: ShapeHotspot | None = None

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        hotspot = self.hotspot
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "share": round(self.share, 4),
            "rows": self.rows,
            "statements": self.statements,
            "query": self.query,
            "recorded": None
            if hotspot is None
            else {
                "count": hotspot.count,
                "requests": hotspot.requests,
                "total_ms": round(hotspot.total_ms, 3),
                "views": dict(hotspot.views.most_common()),
                "callsites": dict(hotspot.callsites.most_common()),
                "findings": [f.to_dict() for f in hotspot.findings],
            },
        }


@dataclass
class PgStatReport:
    """The database's shapes, most execution time first, joined to the inventory."""

    alias: str
    dbname: str
    entries: int
    total_ms: float
    shapes: list[StatementShape]
    inventory: Inventory
    hidden: int = 0

    @property
    def unexplained(self) -> list[StatementShape]:
        return [shape for shape in self.shapes if shape.hotspot is None]

    @property
    def explained_share(self) -> float:
        return sum(shape.share for shape in self.shapes if shape.hotspot is not None)

    def to_dict(self, shown: Sequence[StatementShape]) -> dict[str, Any]:
        return {
            "database": self.alias,
            "dbname": self.dbname,
            "source": self.inventory.source,
            "requests": self.inventory.requests,
            "entries": self.entries,
            "hidden": self.hidden,
            "total_ms": round(self.total_ms, 3),
            "explained_share": round(self.explained_share, 4),
            "shapes_total": len(self.shapes),
            "shapes": [shape.to_dict() for shape in shown],
            "unexplained": [
                {"fingerprint": s.fingerprint, "calls": s.calls, "total_ms": round(s.total_ms, 3)}
                for s in self.unexplained
            ],
        }


# -- reading ------------------------------------------------------------------------


def read_statements(using: str) -> tuple[str, list[tuple[str, int, float, int]]]:
    """``(database name, [(query, calls, total ms, rows), ...])`` of database ``using``.

    Only this database's entries (``dbid``), never this report's own reads.
    Raises :class:`PgStatUnavailable` with the way out when it cannot.
    """
    if using not in connections:
        raise PgStatUnavailable(
            f"Unknown database {using!r} for --pg-stat-statements; configured aliases are "
            f"{sorted(connections)}. Pass one with --database."
        )
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise PgStatUnavailable(
            f"--pg-stat-statements needs PostgreSQL, but database {using!r} is "
            f"{connection.vendor} ({connection.settings_dict['ENGINE']}): pg_stat_statements "
            "is a PostgreSQL extension. Pass --database with a PostgreSQL alias."
        )
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute("SELECT current_database()")
        dbname = str(cursor.fetchone()[0])
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [_EXTENSION])
        if cursor.fetchone() is None:
            raise PgStatUnavailable(
                f"pg_stat_statements is not installed in database {dbname!r} "
                f"(alias {using!r}){_preload_state(using)}. {enable_hint(dbname)}"
            )
        try:
            with transaction.atomic(using=using):
                cursor.execute("SELECT * FROM pg_stat_statements LIMIT 0")
                columns = {str(col[0]) for col in cursor.description or ()}
        except DatabaseError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise PgStatUnavailable(
                f"pg_stat_statements cannot be read in database {dbname!r}: {first}. "
                f"{enable_hint(dbname)}"
            ) from None
        # PostgreSQL 13 renamed total_time; the name is one of these two, never input.
        total = "total_exec_time" if "total_exec_time" in columns else "total_time"
        cursor.execute(
            f"SELECT query, calls, {total}, rows FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE %s",
            ["%pg_stat_statements%"],
        )
        rows = [(str(q or ""), int(c), float(t), int(r)) for q, c, t, r in cursor.fetchall()]
        transaction.set_rollback(True, using=using)
    return dbname, rows


def _preload_state(using: str) -> str:
    """``"; the server does not preload it (...)"`` when that can be read, else ``""``."""
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SHOW shared_preload_libraries")
            value = str(cursor.fetchone()[0])
    except DatabaseError:  # not readable without superuser or pg_read_all_settings
        return ""
    if _EXTENSION in [part.strip() for part in value.split(",")]:
        return "; the server already preloads it, so only CREATE EXTENSION is missing"
    return f"; the server does not preload it (shared_preload_libraries = {value!r})"


# -- joining ------------------------------------------------------------------------


def build_pg_report(
    alias: str,
    dbname: str,
    rows: Iterable[tuple[str, int, float, int]],
    inventory: Inventory,
) -> PgStatReport:
    """Fingerprint, merge and rank ``rows``; attach the inventory's shapes on ``alias``."""
    shapes: dict[str, StatementShape] = {}
    entries = hidden = 0
    total_ms = 0.0
    for query, calls, ms, nrows in rows:
        entries += 1
        total_ms += ms
        if query.startswith("<insufficient privilege>"):
            hidden += 1
            fingerprint, kind = "<insufficient privilege>", ""
        else:
            parsed = analyze(query)
            fingerprint, kind = parsed.fingerprint, parsed.kind
        shape = shapes.get(fingerprint)
        if shape is None:
            shape = shapes[fingerprint] = StatementShape(fingerprint, kind)
        shape.calls += calls
        shape.total_ms += ms
        shape.rows += nrows
        shape.statements += 1
        if ms > shape._query_ms:
            shape.query, shape._query_ms = query, ms
    recorded = {s.fingerprint: s for s in inventory.shapes if s.alias == alias}
    for shape in shapes.values():
        shape.share = shape.total_ms / total_ms if total_ms else 0.0
        shape.hotspot = recorded.get(shape.fingerprint)
    ranked = sorted(shapes.values(), key=lambda s: (-s.total_ms, -s.calls, s.fingerprint))
    return PgStatReport(alias, dbname, entries, total_ms, ranked, inventory, hidden)


def explain_ranked(
    shapes: Sequence[StatementShape], *, using: str, analyze: bool = False
) -> list[Explained]:
    """``--explain`` on the database's ranking: each shape through its recorded
    execution (statement and values from the JSONL file), else skipped."""
    results: list[Explained | None] = []
    runnable: list[ShapeHotspot] = []
    for shape in shapes:
        if shape.hotspot is not None:
            runnable.append(shape.hotspot)
            results.append(None)
        elif shape.kind == "select" and not _PLACEHOLDER.search(shape.query):
            # A statement with no constant at all is its own example.
            runnable.append(
                ShapeHotspot(shape.fingerprint, using, "select", sql=shape.query, param_count=0)
            )
            results.append(None)
        else:
            results.append(Explained("skipped", _NO_VALUES))
    plans = iter(explain_shapes(runnable, using=using, analyze=analyze) if runnable else [])
    return [r if r is not None else next(plans) for r in results]
