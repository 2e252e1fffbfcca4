"""Helpers for the browser tests: Debian's Chromium driven by Playwright for Python.

The browser is always /usr/bin/chromium (`make test` installs Debian's `chromium` package when
it runs as root); Playwright's own browser download (`playwright install`) is never used. The
`browser` fixture in conftest.py launches it once per session.

`watch(browser, url)` opens a page that records everything a report must not do: console
errors, uncaught page errors, dialogs (an `alert()` from injected markup) and any request but
the page's own file; non-file requests are aborted, so nothing leaves the machine.

Run as a script to screenshot any HTML file (how the README's quickstart picture is made):
    .venv/bin/python -m tests.e2e.browser report.html docs/screenshots/quickstart-report.png
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Request, Route, ViewportSize

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-background-networking",  # no calls home: this machine has no network
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "docs" / "screenshots"  # overwritten on every run; not committed
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: the browser tests use Debian's chromium "
            "(`make test` installs it when run as root; else `apt-get install chromium`)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: run `make test` (it installs the dev extra)"
    return None


@dataclass
class Watched:
    """A page and what it did that a self-contained, script-safe report must never do."""

    page: Page
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every request the page made

    @property
    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if u != self.url]

    def assert_clean(self) -> None:
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.page_errors == [], f"page errors: {self.page_errors}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.foreign_requests == [], f"requests besides the file: {self.foreign_requests}"

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextmanager
def watch(
    browser: Browser, path: Path, *, viewport: ViewportSize | None = None
) -> Iterator[Watched]:
    """Open `path` (a local file) in a fresh context and record what the page does."""
    context = browser.new_context(
        viewport=viewport or LAPTOP,
        color_scheme="light",
        service_workers="block",
    )
    page = context.new_page()
    watched = Watched(page, path.resolve().as_uri())

    def on_route(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()  # recorded by on_request too

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    context.route("**/*", on_route)
    context.on("request", on_request)
    page.on(
        "console",
        lambda msg: watched.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: watched.page_errors.append(str(exc)))

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(watched.url, wait_until="load")
        yield watched
    finally:
        context.close()


@contextmanager
def launch() -> Iterator[Browser]:
    """Headless Debian Chromium; the `browser` fixture wraps this."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.e2e.browser REPORT.html OUT.png", file=sys.stderr)
        return 2
    reason = missing_browser_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    source, target = Path(argv[0]), Path(argv[1])
    with launch() as browser, watch(browser, source) as watched:
        watched.assert_clean()
        target.parent.mkdir(parents=True, exist_ok=True)
        watched.page.screenshot(path=str(target))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
