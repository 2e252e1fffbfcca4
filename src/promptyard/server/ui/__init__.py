"""The web UI: server-rendered page shells (Jinja2) and small JavaScript modules that read
the same /api the SDK does, with the same bearer token (kept in the browser's localStorage
after /login). A page holds no data of its own, so pages need no auth; every datum comes from
/api, where scopes are enforced. No third-party JS or CSS: nothing is fetched from elsewhere,
and a strict Content-Security-Policy says so to the browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
# Only our own files; inline scripts are refused (page data travels in a JSON <script> block,
# which is data, not code). 'unsafe-inline' styles are not allowed either.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

# path -> (template, title). Each page's template loads its module from static/js/pages/.
PAGES: dict[str, tuple[str, str]] = {
    "/": ("home.html", "Home"),
    "/prompts/{name}": ("prompt.html", "Prompt"),
    "/datasets/{name}": ("dataset.html", "Dataset"),
    "/runs/{run_id}": ("run.html", "Run"),
    "/compare": ("compare.html", "Compare runs"),
    "/jobs": ("jobs.html", "Jobs"),
    "/jobs/new": ("new_job.html", "New job"),
    "/jobs/{job_id}": ("job.html", "Job"),
    "/optimizations/{job_id}": ("optimization.html", "Optimization"),
    "/tokens": ("tokens.html", "Tokens"),
    "/login": ("login.html", "Log in"),
}

router = APIRouter(include_in_schema=False)


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _page(template: str, title: str) -> Any:
    async def page(request: Request) -> HTMLResponse:
        env = request.app.state.ui_templates
        # What the page's module needs to start: its path parameters and query string.
        data = {"params": dict(request.path_params), "query": dict(request.query_params),
                "auth": bool(request.app.state.settings.auth)}  # fmt: skip
        html = env.get_template(template).render(
            title=title, page=template.removesuffix(".html"),
            # No "<", ">" or "&" in the JSON block (JSON's \u escapes): it cannot end early.
            data=json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"),
        )  # fmt: skip
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                           "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer"})  # fmt: skip

    return page


for _path, (_template, _title) in PAGES.items():
    router.add_api_route(_path, _page(_template, _title), methods=["GET"],
                         response_class=HTMLResponse, name=f"ui:{_template}")  # fmt: skip


def install(app: FastAPI) -> None:
    """Serve the pages at / and their files at /static."""
    app.state.ui_templates = _environment()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
