"""What the sdist and the wheel ship: the package, its licence, no half test suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

BUILD = """
import sys
from setuptools import build_meta
out = sys.argv[1]
sdist = build_meta.build_sdist(out)
wheel = build_meta.build_wheel(out)
print("BUILT", sdist, wheel)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], str]:
    # Build from a copy of the tracked files: building writes build/ and
    # *.egg-info next to the sources, which must not land in the checkout.
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("BUILT ")]
    _, sdist_name, wheel_name = line.split()
    with tarfile.open(out / sdist_name) as sdist:
        sdist_files = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    with zipfile.ZipFile(out / wheel_name) as wheel:
        wheel_files = wheel.namelist()
        metadata = next(n for n in wheel_files if n.endswith(".dist-info/METADATA"))
        meta = wheel.read(metadata).decode()
    return sdist_files, wheel_files, meta


def test_the_sdist_ships_the_package_and_licence_but_no_test_files(
    built: tuple[list[str], list[str], str],
) -> None:
    sdist, _, _ = built
    assert "LICENSE" in sdist
    assert "perfaudit/py.typed" in sdist
    assert "perfaudit/templates/perfaudit/panel.html" in sdist
    assert not [name for name in sdist if name.startswith(("tests/", "example_project/"))]


def test_the_wheel_has_templates_typing_marker_and_metadata(
    built: tuple[list[str], list[str], str],
) -> None:
    _, wheel, meta = built
    assert "perfaudit/py.typed" in wheel
    assert "perfaudit/templates/perfaudit/panel.html" in wheel
    assert not [name for name in wheel if name.startswith("tests/")]
    assert "License-Expression: MIT" in meta
    assert "Classifier: Framework :: Django :: 6.1" in meta
    assert "Project-URL: Documentation," in meta
