"""The UI's frame: every page path serves its shell with a strict CSP, data is escaped, the
static files are ours, and the login page works against a server with auth on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from tests.ui.uitools import ui_page

from promptyard.server.ui import PAGES

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", path)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_serves_its_shell(ui_server: ServerProcess, path: str) -> None:
    resp = httpx.get(ui_server.url + concrete(path))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    page = PAGES[path][0].removesuffix(".html")
    assert f'src="/static/js/pages/{page}.js"' in resp.text
    assert httpx.get(f"{ui_server.url}/static/js/pages/{page}.js").status_code == 200


def test_path_and_query_data_cannot_break_out(ui_server: ServerProcess) -> None:
    hostile = "</script><script>alert(1)</script>"
    resp = httpx.get(f"{ui_server.url}/runs/x", params={"q": hostile})
    block = re.search(r'<script type="application/json" id="page-data">(.*?)</script>',
                      resp.text, re.S)  # fmt: skip
    assert block is not None and "<script>alert" not in resp.text
    assert json.loads(block.group(1))["query"]["q"] == hostile
    assert httpx.get(f"{ui_server.url}/static/../server.db").status_code == 404


def test_login_with_a_token(browser: Browser, tmp_path: Path) -> None:
    from promptyard.store import Store

    db = f"sqlite:///{tmp_path / 'auth.db'}"
    with running_server(tmp_path, db=db, env={"PROMPTYARD_AUTH": "true"}) as server:
        with Store.open(db) as store:
            _, secret = store.tokens.create("ui", scopes=["read"])
        with ui_page(browser, server.url, expected_errors=("401",)) as ui:
            ui.goto("/login?next=/jobs")
            ui.page.fill("#token", "pyd_wrong")
            ui.page.click("button[type=submit]")
            ui.page.wait_for_selector("#banner:not([hidden])")
            assert "refused" in ui.page.inner_text("#banner")
            ui.page.fill("#token", secret)
            ui.page.click("button[type=submit]")
            ui.page.wait_for_url(f"{server.url}/jobs")  # not "**/jobs": /login?next=/jobs matches
            stored = ui.page.evaluate("localStorage.getItem('promptyard.token')")
            assert stored == secret
            ui.assert_clean()
