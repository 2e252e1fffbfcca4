"""The tokens page: an admin creates a token (its secret shown once, copied with a button),
lists and revokes it, each step checked against the API; a token without the admin scope
gets a message; with auth off the tokens are listed and the page says auth is off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.ui.uitools import ui_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server with auth on, an admin secret and a read-only secret."""
    from promptyard.store import Store

    tmp: Path = tmp_path_factory.mktemp("tokens")
    db = f"sqlite:///{tmp / 'auth.db'}"
    with running_server(tmp, db=db, env={"PROMPTYARD_AUTH": "true"}) as server:
        with Store.open(db) as store:
            _, admin = store.tokens.create("root", scopes=["admin"])
            _, reader = store.tokens.create("viewer", scopes=["read"])
        yield server, admin, reader


def status_with(server: ServerProcess, secret: str, method: str, path: str) -> int:
    body = {"name": "x"} if method == "POST" else None
    resp = httpx.request(method, server.api + path, json=body,
                         headers={"Authorization": f"Bearer {secret}"}, timeout=10)  # fmt: skip
    return resp.status_code


def test_an_admin_creates_copies_lists_and_revokes_a_token(
    browser: Browser, auth_server: tuple[ServerProcess, str, str]
) -> None:
    server, admin, _ = auth_server
    with ui_page(browser, server.url, token=admin) as ui:
        ui.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        confirms: list[str] = []
        ui.page.on("dialog", lambda d: confirms.append(d.message))
        ui.goto("/tokens")
        ui.page.wait_for_selector("#create")
        assert ui.page.locator("#auth-off").count() == 0  # auth is on here
        ui.page.get_by_label("Name").fill("ci-bot")
        ui.page.get_by_label("Scope").select_option("write")
        ui.page.get_by_role("button", name="Create token").click()
        ui.page.wait_for_selector("#secret")
        secret = ui.page.input_value("#secret")
        assert secret.startswith("pyd_")
        assert "cannot be shown again" in ui.page.inner_text("#new-secret")
        ui.page.get_by_role("button", name="Copy").click()
        ui.page.wait_for_selector("text=Copied.")
        assert ui.page.evaluate("navigator.clipboard.readText()") == secret
        # The secret works, with the scope chosen: write reads, but cannot manage tokens.
        assert status_with(server, secret, "GET", "/runs") == 200
        assert status_with(server, secret, "POST", "/tokens") == 403
        row = ui.page.locator("#tokens tbody tr", has_text="ci-bot")
        assert "write" in row.inner_text() and "active" in row.inner_text()
        assert secret[:8] in row.inner_text() and secret not in ui.page.inner_text("#tokens")
        own = ui.page.locator("#tokens tbody tr", has_text="root").inner_text()
        assert "this browser" in own and "this browser" not in row.inner_text()
        ui.screenshot("tokens")

        ui.page.get_by_role("button", name="Revoke ci-bot").click()
        ui.page.wait_for_selector("#banner:not([hidden])")
        assert "revoked" in ui.page.inner_text("#banner")
        assert len(confirms) == 1 and "ci-bot" in confirms[0]
        assert "revoked" in row.inner_text()
        assert row.get_by_role("button").count() == 0
        assert status_with(server, secret, "GET", "/runs") == 401

        ui.goto("/tokens")  # the secret was shown once
        ui.page.wait_for_selector("#tokens")
        assert secret not in ui.page.content() and ui.page.locator("#secret").count() == 0
        ui.assert_clean()


def test_a_token_without_admin_gets_a_clear_message(
    browser: Browser, auth_server: tuple[ServerProcess, str, str]
) -> None:
    server, _, reader = auth_server
    with ui_page(browser, server.url, token=reader, expected_errors=("403",)) as ui:
        ui.goto("/tokens")
        ui.page.wait_for_selector("#not-admin")
        message = ui.page.inner_text("#not-admin")
        assert "admin scope" in message
        assert ui.page.locator("#create").count() == 0 and ui.page.locator("#tokens").count() == 0
        assert ui.page.locator("#banner").is_hidden()
        ui.assert_clean()


def test_with_auth_off_tokens_are_listed_and_the_page_says_so(
    browser: Browser, ui_server: ServerProcess
) -> None:
    resp = httpx.post(f"{ui_server.api}/tokens", json={"name": "made-while-open"}, timeout=10)
    assert resp.status_code == 201, resp.text
    with ui_page(browser, ui_server.url) as ui:
        ui.goto("/tokens")
        ui.page.wait_for_selector("#auth-off")
        note = ui.page.inner_text("#auth-off")
        assert "Auth is off" in note
        ui.page.wait_for_selector("#tokens")
        assert "made-while-open" in ui.page.inner_text("#tokens")
        ui.assert_clean()
