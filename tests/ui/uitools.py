"""Helpers for the UI tests: a page of the real server, opened in Debian's Chromium, that
records what a page must never do (console errors, uncaught errors, dialogs, requests to any
origin but the server's own), and screenshots into docs/screenshots/ui-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tests.e2e.browser import LAPTOP, SCREENSHOTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, ViewportSize


@dataclass
class UiPage:
    page: Page
    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # requests that left the server

    def goto(self, path: str) -> UiPage:
        self.page.goto(self.origin + path, wait_until="domcontentloaded")
        return self

    def assert_clean(self) -> None:
        assert self.page_errors == [], f"page errors: {self.page_errors}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.foreign == [], f"requests to other origins: {self.foreign}"

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"ui-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextmanager
def ui_page(
    browser: Browser,
    origin: str,
    *,
    viewport: ViewportSize | None = None,
    color_scheme: str = "light",
    token: str | None = None,
    expected_errors: tuple[str, ...] = (),
) -> Iterator[UiPage]:
    """A fresh browser context on the server at `origin`; `token` is put where /login puts
    it. Console errors containing one of `expected_errors` (e.g. a 401 the test provokes)
    are not counted."""
    context = browser.new_context(viewport=viewport or LAPTOP, color_scheme=color_scheme,  # type: ignore[arg-type]
                                  service_workers="block")  # fmt: skip
    if token is not None:
        context.add_init_script(f"localStorage.setItem('promptyard.token', {token!r});")
    page = context.new_page()
    ui = UiPage(page, origin.rstrip("/"))

    def on_request(request: Request) -> None:
        if not request.url.startswith(("data:", "blob:")):
            parts = urlsplit(request.url)
            if f"{parts.scheme}://{parts.netloc}" != ui.origin:
                ui.foreign.append(request.url)

    def on_console(msg: object) -> None:
        text = getattr(msg, "text", "")
        if getattr(msg, "type", "") == "error" and not any(e in text for e in expected_errors):
            ui.console_errors.append(text)

    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: ui.page_errors.append(str(exc)))
    page.on("dialog", lambda d: d.accept())  # confirm() dialogs: the tests mean "yes"
    try:
        yield ui
    finally:
        context.close()
