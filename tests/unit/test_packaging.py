"""The distribution's metadata: every runtime dependency is used, and the version is one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import promptyard

ROOT = Path(__file__).resolve().parents[2]
# Distributions used through another package rather than imported: why each is declared.
USED_INDIRECTLY = {
    "python-multipart": "FastAPI parses form uploads with it",
    "httptools": "uvicorn's HTTP parser",
    "uvloop": "uvicorn's event loop",
    "h11": "a floor with a security fix, under uvicorn and httpx",
    "starlette": "a floor with security fixes, under FastAPI (also imported)",
}
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "mini-racer": "py_mini_racer",
    "genai-prices": "genai_prices",
    "promptyard-client": "promptyard_client",
    "sse-starlette": "sse_starlette",
}


def _dependencies() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [
        re.split(r"[<>=!;\[ ]", d, maxsplit=1)[0].lower() for d in data["project"]["dependencies"]
    ]


def test_every_runtime_dependency_is_imported_or_says_why() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    unused = []
    for dist in _dependencies():
        if dist in USED_INDIRECTLY:
            continue
        module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
        imported = (
            rf"^\s*(import|from) {re.escape(module)}\b|import_vendor\(\"{re.escape(module)}\""
        )
        if not re.search(imported, source, re.M):
            unused.append(dist)
    assert not unused, f"declared but never imported: {unused}"


def test_the_version_has_one_source() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in data["project"] and "version" in data["project"]["dynamic"]
    attr = data["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "promptyard._version.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", promptyard.__version__)
    assert (ROOT / "LICENSE").is_file() and (ROOT / "clients" / "python" / "LICENSE").is_file()
