"""The import rule of docs/architecture.md: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "promptyard"

# package (first segment under promptyard) -> layer
LAYERS = {
    "errors": 0,
    "core": 0,
    "project": 1,
    "providers": 1,
    "scorers": 1,
    "store": 1,
    "settings": 1,
    "trust": 1,
    "plugins": 1,
    "engine": 2,
    "reports": 2,
    "optimize": 3,
    "jobs": 3,
    "library": 4,
    "preflight": 4,
    "results": 4,
    "judge_models": 4,
    "server": 4,
    "cli": 4,
}
# L1 packages are siblings and must not import each other, except these documented uses.
ALLOWED_SIBLINGS = {("scorers", "providers")}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "promptyard"]


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _violations() -> list[str]:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__" or own not in LAYERS:
            continue
        for line, module in _imports(path):
            target = _package(module)
            if target is None or target == own or target not in LAYERS:
                continue
            if LAYERS[target] > LAYERS[own]:
                problems.append(f"{rel}:{line} ({own}, L{LAYERS[own]}) imports {module}")
            elif (
                LAYERS[target] == LAYERS[own] == 1
                and (own, target) not in ALLOWED_SIBLINGS
                and target not in ("settings", "trust")
            ):
                problems.append(f"{rel}:{line}: L1 {own} imports its sibling {module}")
    return problems


def test_every_package_has_a_layer() -> None:
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith("_")}
    unknown = {p for p in packages if p not in LAYERS and p not in {"py.typed"}}
    assert not unknown, f"give these a layer in LAYERS: {sorted(unknown)}"


def test_lower_layers_never_import_higher_ones() -> None:
    problems = _violations()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", ["vendor", "store"])
def test_engine_uses_no_concrete_vendor_or_database_module(module: str) -> None:
    engine = SRC / "engine"
    banned = {
        "vendor": ("promptyard.providers.openai", "promptyard.providers.anthropic"),
        "store": ("promptyard.store",),
    }[module]
    bad = [
        f"{path.name}:{line} imports {name}"
        for path in engine.rglob("*.py")
        for line, name in _imports(path)
        if name.startswith(banned)
    ]
    assert not bad, bad
