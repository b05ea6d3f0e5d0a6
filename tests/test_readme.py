"""The README's first snippet gives what it says, on the example project."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.test_audit import REPO

SCRIPT = """
import json, os, sys
sys.path[:0] = [{repo!r}, {example!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
os.environ["DATABASE_URL"] = "sqlite:///" + {db!r}
os.environ["DJANGO_DEBUG"] = "0"
import django
django.setup()
from django.core.management import call_command
from django.test.utils import setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
call_command("seed", verbosity=0, stdout=open(os.devnull, "w"))
namespace = {{}}
exec(compile({code!r}, "README.md", "exec"), namespace)
# Every suggestion's code spans are balanced and never nested (the panel and
# Markdown render them): an odd count, or two backticks in a row, is a bug.
suggestions = [f.suggestion for f in namespace["rec"].analysis.findings]
broken = [s for s in suggestions if s.count("`") % 2 or "``" in s]
assert not broken, broken
print(json.dumps([str(eval(expr, namespace)) for expr in {exprs!r}]))
"""


def _snippet() -> tuple[str, list[tuple[str, str]], list[str]]:
    readme = (REPO / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    checks = [
        (m.group(1).strip(), m.group(2).strip())
        for m in re.finditer(r"^([^#\n]+?)\s{2,}# (.+)$", code, flags=re.M)
    ]
    printed = [
        line[2:] for line in code.splitlines() if line.startswith("# ") and "..." not in line
    ]
    return code, checks, printed[1:]  # the first comment line says how to run it


def test_the_readme_snippet_says_what_the_example_gives(tmp_path: Path) -> None:
    code, checks, printed = _snippet()
    assert len(checks) == 3
    script = SCRIPT.format(
        repo=str(REPO),
        example=str(REPO / "example_project"),
        db=str(tmp_path / "readme.sqlite3"),
        code=code,
        exprs=[expr for expr, _ in checks],
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    *output, values = result.stdout.strip().splitlines()
    assert json.loads(values) == [expected for _, expected in checks]
    # Findings come most expensive first, and timings vary: the README's
    # lines must be among those printed.
    assert printed
    assert set(printed) <= set(output)
