"""``report --explain``: PostgreSQL query plans for the top shapes, never writing.

Only SELECTs are explained, each exactly as it was executed: the recorded
statement with its recorded parameter values, which exist only when the user
opted in with ``JSONL_PARAMS``. Without them a statement with placeholders
cannot be planned faithfully (a generic plan is not the plan the query got),
so the shape is skipped with the reason.

The JSONL file is input, not trusted code: its ``kind`` field is ignored, and
the statement is run only if perfaudit's own reading
(:func:`perfaudit.report.readonly.refusal`) finds one plain SELECT: no ``;``
outside quotes (PostgreSQL would run a second statement, and ``COMMIT`` would
end the read-only transaction), no data-modifying CTE, no function known to
write. Anything else is skipped with one line saying why.

What passes runs in one transaction that is made ``READ ONLY`` before the
first EXPLAIN and rolled back at the end: plain ``EXPLAIN`` executes nothing,
and ``EXPLAIN ANALYZE`` (only with ``--analyze``) of a statement that would
write through a user function fails instead of writing. Each statement has
its own savepoint, so one failure does not hide the others' plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from django.db import DatabaseError, connections, transaction

from perfaudit.report.inventory import ShapeHotspot
from perfaudit.report.readonly import refusal

__all__ = ["ExplainUnavailable", "Explained", "check_database", "explain_shapes"]

_PARAMS_HINT: Final = (
    "its parameter values were not recorded; set PERFAUDIT['JSONL_PARAMS'] = True "
    "(values are then written to the JSONL file) and record again to EXPLAIN it"
)


class ExplainUnavailable(ValueError):
    """``--explain`` cannot run against the chosen database."""


@dataclass(frozen=True, slots=True)
class Explained:
    """The outcome for one shape: a plan, or why there is none."""

    status: Literal["ok", "skipped", "error"]
    reason: str | None = None
    plan: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "plan": list(self.plan)}


def check_database(using: str) -> None:
    """Raise :class:`ExplainUnavailable` unless ``using`` is a PostgreSQL alias."""
    if using not in connections:
        raise ExplainUnavailable(
            f"Unknown database {using!r} for --explain; configured aliases are "
            f"{sorted(connections)}. Pass one with --database."
        )
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ExplainUnavailable(
            f"--explain needs PostgreSQL, but database {using!r} is {connection.vendor} "
            f"({connection.settings_dict['ENGINE']}). Run the report with --database "
            "pointing at a PostgreSQL alias, or leave --explain out."
        )


def explain_shapes(
    shapes: Sequence[ShapeHotspot], *, using: str, analyze: bool = False
) -> list[Explained]:
    """One :class:`Explained` per shape, in order. Call :func:`check_database` first."""
    results: list[Explained | None] = []
    runnable: list[tuple[int, str, Any]] = []
    for index, shape in enumerate(shapes):
        statement = _statement(shape, using)
        if isinstance(statement, Explained):
            results.append(statement)
        else:
            results.append(None)
            runnable.append((index, *statement))
    if runnable:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        for index, outcome in _run(runnable, prefix, using):
            results[index] = outcome
    return [r if r is not None else Explained("error", "not run") for r in results]


def _statement(shape: ShapeHotspot, using: str) -> Explained | tuple[str, Any]:
    """The (sql, params) to EXPLAIN, or why the shape is skipped."""
    refused = refusal(shape.sql)
    if refused is not None:
        return Explained("skipped", f"{refused}: EXPLAIN runs on a single plain SELECT only")
    if shape.alias != using:
        return Explained(
            "skipped",
            f"recorded on database {shape.alias!r}; pass --database {shape.alias} to EXPLAIN it",
        )
    if shape.has_params:
        if not _plain_params(shape.params):
            return Explained("skipped", "its recorded parameters are not a list or dict of values")
        return shape.sql, shape.params
    if shape.param_count == 0:
        return shape.sql, ()
    if shape.param_count is None and "%s" not in shape.sql and "%(" not in shape.sql:
        return shape.sql, None  # no placeholders: executed without parameters
    return Explained("skipped", _PARAMS_HINT)


def _plain_params(params: Any) -> bool:
    """Parameters as the JSONL file holds them: a list, or a dict keyed by name."""
    if isinstance(params, dict):
        return all(isinstance(key, str) for key in params)
    return isinstance(params, list)


# Django 6.1 renamed transaction.savepoint() to savepoint_create(); the old name warns.
_savepoint_create = getattr(transaction, "savepoint_create", transaction.savepoint)


def _run(
    statements: list[tuple[int, str, Any]], prefix: str, using: str
) -> list[tuple[int, Explained]]:
    outcomes: list[tuple[int, Explained]] = []
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            # Backslashes in literals then mean what refusal() assumed they mean.
            cursor.execute("SET LOCAL standard_conforming_strings = on")
            for index, sql, params in statements:
                savepoint = _savepoint_create(using=using)
                try:
                    cursor.execute(prefix + sql, params)
                    plan = tuple(str(row[0]) for row in cursor.fetchall())
                except (DatabaseError, TypeError, ValueError, IndexError, KeyError) as exc:
                    # The driver's errors, and the parameter mismatches Django's
                    # cursor raises before reaching it: one line per shape.
                    message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    outcomes.append((index, Explained("error", f"EXPLAIN failed: {message}")))
                else:
                    outcomes.append((index, Explained("ok", plan=plan)))
                finally:
                    transaction.savepoint_rollback(savepoint, using=using)
        # Nothing of this transaction is kept, whatever ran in it.
        transaction.set_rollback(True, using=using)
    return outcomes
