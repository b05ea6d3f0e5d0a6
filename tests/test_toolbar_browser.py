"""The toolbar panel in a real browser: headless Chromium, the example project's runserver.

Needs Playwright for Python (``pip install playwright``; its own browser download
is not used) and a Chromium binary: Debian's ``chromium`` package at
``/usr/bin/chromium``, or the path in ``PERFAUDIT_CHROMIUM``. The screenshot of
the panel is written to ``$PERFAUDIT_SCREENSHOT_DIR/toolbar-panel.png`` when that
variable is set (``PERFAUDIT_SCREENSHOT_DIR=docs/img`` refreshes the docs' image),
else to the test's ``tmp_path``.

The server runs on its own seeded SQLite file, whichever database the suite
itself uses.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "debug_toolbar",
    reason="django-debug-toolbar is not installed (pip install 'perfaudit[toolbar]')",
)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (pip install playwright; no browser download needed)",
)

CHROMIUM = os.environ.get("PERFAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no Chromium binary at {CHROMIUM} (apt-get install chromium, or set PERFAUDIT_CHROMIUM)",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parent.parent
MANAGE = REPO / "example_project" / "manage.py"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EVENT_LIST = "/api/events/?tag=jazz"
TIMEOUT_MS = 30_000


def _env(database: Path) -> dict[str, str]:
    # pytest-django's DJANGO_SETTINGS_MODULE and the suite's own variables stay out.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EXAMPLE_", "DATABASE_URL", "PYTEST_", "PERFAUDIT_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_DEBUG="1",
        EXAMPLE_VARIANT="slow",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def _manage(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def example_server(tmp_path: Path) -> Iterator[str]:
    """``runserver`` of the example project on a seeded throwaway SQLite file; its base URL."""
    env = _env(tmp_path / "example.sqlite3")
    _manage("migrate", "--noinput", "-v", "0", env=env)
    _manage("seed", env=env)
    port = _free_port()
    log_path = tmp_path / "runserver.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, log_path)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"runserver exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}{EVENT_LIST}&format=json", timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"runserver did not answer within 60 s:\n{log_path.read_text()}")


def _screenshot_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("PERFAUDIT_SCREENSHOT_DIR")
    directory = Path(configured) if configured else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _query_count(subtitle: str) -> int:
    match = re.search(r"(\d+) quer", subtitle)
    assert match is not None, subtitle
    return int(match.group(1))


def test_the_panel_shows_the_n_plus_one_and_its_fix(example_server: str, tmp_path: Path) -> None:
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{example_server}{EVENT_LIST}")

            # The toolbar (inside its shadow root, which Playwright's CSS selectors pierce).
            handle = page.locator("#djShowToolBarButton")
            button = page.locator("#djdt-PerfAuditPanel a")
            if not button.is_visible() and handle.is_visible():
                handle.click()
            expect(button).to_be_visible()
            expect(button).to_contain_text(re.compile(r"\d+ queries · \d+ findings"))

            button.click()
            panel = page.locator("#PerfAuditPanel")
            expect(panel).to_be_visible()
            organizer = panel.locator("tr.djdt-pa-finding", has_text="Event.organizer")
            expect(organizer).to_be_visible()
            expect(organizer).to_contain_text("n_plus_one")
            expect(organizer).to_contain_text("is loaded one row at a time")
            # Code in a suggestion is rendered as code, not shown with its backticks.
            expect(organizer).to_contain_text('add select_related("organizer") to')
            expect(organizer).not_to_contain_text("`")
            expect(
                organizer.locator("code", has_text='select_related("organizer")')
            ).to_be_visible()
            # The fix is said once, in the suggestion.
            expect(organizer).not_to_contain_text("Fix:")
            # A timeline bar per query, like the SQL panel's.
            expect(panel.locator("h4", has_text="Timeline")).to_be_attached()
            bars = panel.locator("tr.djdt-pa-tick .djdt-pa-bar")
            expect(bars.first).to_be_attached()
            assert bars.count() == min(int(_query_count(button.inner_text())), 300)
            expect(panel.locator("h4", has_text="Queries by shape")).to_be_attached()
            expect(panel.locator("h4", has_text="Payload")).to_be_attached()

            page.screenshot(path=str(_screenshot_dir(tmp_path) / "toolbar-panel.png"))

            # A shape expands to its statements, SQL and parameters as text.
            shape = panel.locator("tr.djdt-pa-group").first
            shape.locator("summary").click()
            expect(shape.locator("pre.djdt-pa-sql").first).to_be_visible()
            expect(shape.locator(".djdt-pa-params").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "toolbar-panel-statements.png"))
        finally:
            browser.close()
