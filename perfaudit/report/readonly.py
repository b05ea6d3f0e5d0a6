"""Is this text one plain SELECT? perfaudit's own reading, for ``report --explain``.

The JSONL file ``report`` reads is input, not trusted code: its ``kind``
field and its ``sql`` may say anything. ``--explain`` sends the statement to
a real database, and PostgreSQL's simple-query protocol runs every statement
of a text separated by ``;``: ``SELECT 1; COMMIT; DELETE ...`` would end the
read-only transaction and delete. So the text is read here, by a scanner
that follows PostgreSQL's lexical rules (quotes, ``E''`` strings, quoted
identifiers, dollar quotes with their tags, nested ``/* */`` comments) and
refuses whatever it is not sure of:

* anything after a ``;``, or an unterminated quote or comment;
* a backslash inside a string literal (what it escapes depends on
  ``standard_conforming_strings``, so two readers could disagree on where
  the literal ends);
* a first word other than ``SELECT``, ``WITH`` or ``VALUES``;
* ``INSERT``, ``UPDATE`` (except ``FOR [NO KEY] UPDATE``), ``DELETE``,
  ``MERGE`` or ``INTO`` anywhere: a data-modifying CTE, ``SELECT INTO``;
* a call of a function known to write or to act outside the transaction
  (sequences, advisory locks, large objects, dblink, server files, backend
  signals, settings).

This is the first of two fences: the statement then runs in a ``READ ONLY``
transaction that is rolled back (:mod:`perfaudit.report.explain`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["refusal"]

_FIRST_WORDS: Final = frozenset({"select", "with", "values"})
_WRITING_WORDS: Final = frozenset({"insert", "update", "delete", "merge", "into"})
_WRITING_FUNCTIONS: Final = frozenset(
    {
        "nextval", "setval", "set_config", "pg_notify", "txid_current", "pg_current_xact_id",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_promote", "pg_switch_wal", "pg_sleep", "pg_sleep_for", "pg_sleep_until",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_file_write",
        "pg_log_backend_memory_contexts", "pg_import_system_collations",
        "query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml", "cursor_to_xml",
    }
)  # fmt: skip
_WRITING_PREFIXES: Final = (
    "pg_advisory",
    "pg_try_advisory",
    "lo_",
    "dblink",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_stat_reset",
    "pg_backup_",
    "pg_wal_replay_",
    "binary_upgrade_",
)
_WORD_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def refusal(sql: str) -> str | None:
    """Why ``sql`` is not run by ``--explain`` (one line), or ``None`` when it may be."""
    words = _code_words(sql)
    if isinstance(words, str):
        return words
    if ";" in words:
        return "more than one statement (a ';' outside quotes)"
    plain = [w for w in words if w != "("]
    if not plain or plain[0] not in _FIRST_WORDS:
        first = plain[0].upper() if plain else "nothing"
        return f"not a SELECT (it starts with {first[:30]})"
    for index, word in enumerate(words):
        if word in _WRITING_WORDS and not _row_lock(words, index):
            return f"not a plain SELECT ({word.upper()} inside it may write)"
        if index + 1 < len(words) and words[index + 1] == "(" and _writes(word):
            return f"calls {word[:40]}(), which may write or act outside the transaction"
    return None


def _row_lock(words: list[str], index: int) -> bool:
    """``FOR UPDATE`` / ``FOR NO KEY UPDATE``: a row lock, not a write."""
    if words[index] != "update":
        return False
    before = words[max(0, index - 3) : index]
    return before[-1:] == ["for"] or before == ["for", "no", "key"]


def _writes(function: str) -> bool:
    name = function.rsplit(".", 1)[-1]
    return name in _WRITING_FUNCTIONS or name.startswith(_WRITING_PREFIXES)


def _code_words(sql: str) -> list[str] | str:
    """The words (lower-cased; quoted identifiers unquoted), ``(`` and ``;`` outside
    literals and comments, or why the text cannot be read with confidence.

    One pass, each character looked at a bounded number of times.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
            if i < 0:
                return "an unterminated /* comment"
        elif c == "'" or (c in "eEnNbBxXuU" and _quote_follows(sql, i)):
            start = sql.index("'", i)
            end = _string_end(sql, start)
            if end < 0:
                return "an unterminated string literal"
            if "\\" in sql[start:end]:
                return "a backslash inside a string literal"
            i = end
        elif c == '"':
            end = _quoted_end(sql, i, '"')
            if end < 0:
                return "an unterminated quoted identifier"
            out.append(sql[i + 1 : end - 1].replace('""', '"').lower())
            i = end
        elif c == "$" and i + 1 < n and not sql[i + 1].isdigit():
            closed = _dollar_end(sql, i)
            if closed is None:  # a lone "$": an operator character
                i += 1
            elif closed < 0:
                return "an unterminated dollar-quoted string"
            else:
                i = closed
        elif c in _WORD_START or ord(c) >= 128:
            end = _word_end(sql, i + 1)
            out.append(sql[i:end].lower())
            i = end
        elif c in "(;":
            out.append(c)
            i += 1
        elif c == "." and out and out[-1] not in "(;" and _name_follows(sql, i + 1):
            # schema.function: one word, so the function check reads its last part.
            i += 1
            if sql[i] == '"':
                end = _quoted_end(sql, i, '"')
                if end < 0:
                    return "an unterminated quoted identifier"
                part, i = sql[i + 1 : end - 1].replace('""', '"').lower(), end
            else:
                end = _word_end(sql, i)
                part, i = sql[i:end].lower(), end
            out[-1] = f"{out[-1]}.{part}"
        else:
            i += 1
    return out


def _word_end(sql: str, i: int) -> int:
    n = len(sql)
    while i < n and (sql[i].isalnum() or sql[i] in "_$" or ord(sql[i]) >= 128):
        i += 1
    return i


def _name_follows(sql: str, i: int) -> bool:
    return i < len(sql) and (sql[i] in _WORD_START or sql[i] == '"' or ord(sql[i]) >= 128)


def _quote_follows(sql: str, i: int) -> bool:
    """``E'``, ``N'``, ``B'``, ``X'`` or ``U&'`` at ``i``, not inside a longer word."""
    if i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$"):
        return False
    if sql.startswith("'", i + 1):
        return True
    return sql[i] in "uU" and sql.startswith("&'", i + 1)


def _string_end(sql: str, start: int) -> int:
    """The index after the quote closing the literal opened at ``start`` (``''`` doubles)."""
    i = start + 1
    while True:
        end = sql.find("'", i)
        if end < 0:
            return -1
        if sql.startswith("''", end):
            i = end + 2
            continue
        return end + 1


def _quoted_end(sql: str, start: int, quote: str) -> int:
    i = start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            return -1
        if sql.startswith(quote * 2, end):
            i = end + 2
            continue
        return end + 1


def _skip_block_comment(sql: str, start: int) -> int:
    """The index after the comment opened at ``start``; PostgreSQL nests them. -1: unclosed."""
    depth, i, n = 0, start, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _dollar_end(sql: str, start: int) -> int | None:
    """The index after the ``$tag$...$tag$`` string at ``start``; None: not a
    dollar quote; -1: unterminated."""
    j = start + 1
    n = len(sql)
    while j < n and (sql[j].isalnum() or sql[j] == "_" or ord(sql[j]) >= 128):
        j += 1
    if j >= n or sql[j] != "$":
        return None
    tag = sql[start : j + 1]
    end = sql.find(tag, j + 1)
    return -1 if end < 0 else end + len(tag)
