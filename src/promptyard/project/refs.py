"""promptfoo's `$ref` shorthand: `{$ref: "#/assertionTemplates/x"}` is replaced by the value
that JSON pointer names in the same config (promptfoo dereferences the config on load).

Only local pointers (`#/...`) are followed. Provider entries are left alone, because their
tool and response schemas carry `$ref`s of their own that are relative to the schema.
"""

from __future__ import annotations

from typing import Any

from promptyard.project.source import Path, Source

_SKIP_TOP = frozenset({"providers", "targets", "profiles"})


def _pointer(root: Any, ref: str) -> tuple[bool, Any]:
    node = root
    for raw in ref[2:].split("/") if ref != "#/" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def resolve_refs(data: dict[str, Any], src: Source) -> dict[str, Any]:
    """`data` with every local `$ref` mapping replaced by its target (a new structure)."""

    def walk(node: Any, path: Path, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and len(node) == 1:
                if not ref.startswith("#/"):
                    src.fail(f"only local $ref pointers (#/...) are supported, got {ref!r}", path)
                if ref in seen:
                    src.fail(f"$ref {ref!r} refers to itself", path)
                found, target = _pointer(data, ref)
                if not found:
                    src.fail(f"$ref {ref!r} names nothing in this config", (*path, "$ref"))
                return walk(target, path, (*seen, ref))
            return {k: walk(v, (*path, k), seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i), seen) for i, v in enumerate(node)]
        return node

    if not _has_ref(data):
        return data
    return {k: v if k in _SKIP_TOP else walk(v, (k,), ()) for k, v in data.items()}


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False
