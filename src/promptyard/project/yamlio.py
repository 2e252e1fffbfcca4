"""Read YAML and JSON files into plain data plus a map from field paths to line numbers.

YAML is read with YAML 1.2 core-schema scalars, as promptfoo's js-yaml reads it: `yes`, `no`,
`on`, `off` and dates stay strings, `012` is twelve and `1:30` is text, so a var prints the same
in both tools. The C parser is used when PyYAML has it.

A file may come from someone else (an upload, a config sent to the server), so before any data
is built the composed document is measured: its nodes counted as if every alias were expanded
(PyYAML shares an aliased node, so "billion laughs" costs nothing until something walks the
data) and its nesting depth checked. Both limits are trust.Limits settings; JSON is held to the
same depth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from promptyard.errors import ConfigError
from promptyard.project.source import Path
from promptyard.trust.limits import (
    DEPTH_SETTING,
    NODES_SETTING,
    format_path,
    json_depth_path,
)
from promptyard.trust.policy import Limits

_DEFAULT = Limits()

_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _CoreLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader narrowed to the YAML 1.2 core schema."""


_CoreLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
}
_CoreLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_CoreLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_CoreLoader.add_constructor(_INT, _construct_int)


def _line_map(node: yaml.Node) -> dict[Path, int]:
    lines: dict[Path, int] = {(): node.start_mark.line + 1}
    stack: list[tuple[yaml.Node, Path]] = [(node, ())]
    seen: set[int] = set()
    while stack:
        current, path = stack.pop()
        if id(current) in seen:  # aliases share nodes
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = (*path, index)
                lines[child] = item.start_mark.line + 1
                stack.append((item, child))
    return lines


def _measure(root: yaml.Node, name: str, max_nodes: int, max_depth: int) -> None:
    """Refuse a document whose nodes, aliases expanded, number more than `max_nodes`, or that
    nests deeper than `max_depth`. Each distinct collection is measured once (an alias reuses
    its figures), depth first without recursion; a collection inside itself (a recursive
    alias) is refused."""
    if not isinstance(root, yaml.CollectionNode):
        return
    # id(collection) -> (nodes under it, itself included, aliases expanded; its depth)
    memo: dict[int, tuple[int, int]] = {}
    open_: set[int] = set()  # the collections on the current path down from the root
    stack: list[yaml.Node] = [root]
    collection = yaml.CollectionNode
    while stack:
        node = stack[-1]
        key = id(node)
        if key in memo:
            stack.pop()
            continue
        kids = node.value if isinstance(node, yaml.SequenceNode) else _flat(node.value)
        if key not in open_:
            pending = [k for k in kids if isinstance(k, collection) and id(k) not in memo]
            if pending:
                open_.add(key)
                for k in pending:
                    if id(k) in open_:
                        raise ConfigError(
                            "an alias refers to a node that contains it (a recursive alias)",
                            file=name,
                            line=k.start_mark.line + 1,
                        )
                stack.extend(pending)
                continue
        size, depth = 1, 0
        for kid in kids:
            if isinstance(kid, collection):
                n, d = memo[id(kid)]
                size += n
                depth = max(depth, d)
            else:
                size += 1
        if size > max_nodes:
            raise ConfigError(
                f"too big: its aliases expand to more than {max_nodes} nodes"
                f" (limit: {NODES_SETTING})",
                file=name,
                line=node.start_mark.line + 1,
            )
        memo[key] = (size, depth + 1)
        open_.discard(key)
        stack.pop()
    if memo[id(root)][1] > max_depth:  # found now that every node has its depth: the path
        depths = {k: d for k, (_, d) in memo.items()}
        raise ConfigError(
            f"nested deeper than {max_depth} levels (limit: {DEPTH_SETTING})",
            file=name,
            field=_deepest_path(root, depths, max_depth),
        )


def _flat(pairs: list[tuple[yaml.Node, yaml.Node]]) -> list[yaml.Node]:
    return [n for pair in pairs for n in pair]


def _deepest_path(root: yaml.Node, depth: dict[int, int], max_depth: int) -> str:
    """The path (keys and indexes) down the deepest branch, to the first node too deep."""
    parts: list[str | int] = []
    node = root
    while len(parts) < max_depth:
        steps: list[tuple[str | int, yaml.Node]] = []
        if isinstance(node, yaml.SequenceNode):
            steps = list(enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            steps = [(k.value if isinstance(k, yaml.ScalarNode) else "?", v) for k, v in node.value]
        deep = [(p, c) for p, c in steps if depth.get(id(c), 0) > 0]
        if not deep:
            break
        part, node = max(deep, key=lambda pc: depth.get(id(pc[1]), 0))
        parts.append(part)
    return format_path(parts)


@contextmanager
def _reading(name: str, max_depth: int) -> Iterator[None]:
    """YAML errors as ConfigErrors naming `name` (and the line, when PyYAML knows it)."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(
            f"YAML syntax error: {problem}",
            file=name,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=name) from None
    except RecursionError:  # the pure-Python parser, on a document nested very deep
        raise ConfigError(
            f"nested deeper than {max_depth} levels (limit: {DEPTH_SETTING})", file=name
        ) from None


def load_yaml(
    text: str,
    name: str,
    *,
    max_nodes: int = _DEFAULT.yaml_max_nodes,
    max_depth: int = _DEFAULT.max_depth,
) -> tuple[Any, dict[Path, int]]:
    """Parse YAML; a syntax error becomes a ConfigError naming `name` and the line, and so does
    a document over `max_nodes` (aliases expanded) or nested deeper than `max_depth`."""
    loader = _CoreLoader(text)
    try:
        with _reading(name, max_depth):
            node = loader.get_single_node()
            if node is None:
                return None, {}
            _measure(node, name, max_nodes, max_depth)
            data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, _line_map(node)


def count_yaml_items(
    text: str,
    name: str,
    *,
    max_nodes: int = _DEFAULT.yaml_max_nodes,
    max_depth: int = _DEFAULT.max_depth,
) -> int:
    """The top-level items of a YAML document (a list's length, else 1), checked against the
    same limits as load_yaml, without building its data (an upload's rows, counted)."""
    loader = _CoreLoader(text)
    try:
        with _reading(name, max_depth):
            node = loader.get_single_node()
            if node is None:
                return 0
            _measure(node, name, max_nodes, max_depth)
    finally:
        loader.dispose()
    return len(node.value) if isinstance(node, yaml.SequenceNode) else 1


def load_json(text: str, name: str, *, max_depth: int = _DEFAULT.max_depth) -> Any:
    """Parse JSON; a syntax error or nesting deeper than `max_depth` is a ConfigError."""
    where = json_depth_path(text, max_depth)
    if where is not None:
        raise ConfigError(
            f"nested deeper than {max_depth} levels (limit: {DEPTH_SETTING})",
            file=name,
            field=where,
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"JSON syntax error: {exc.msg}", file=name, line=exc.lineno) from None
    except RecursionError:  # not valid JSON (which the scan measures exactly), and very deep
        raise ConfigError(
            f"nested deeper than {max_depth} levels (limit: {DEPTH_SETTING})", file=name
        ) from None
    return data


def load_structured(
    text: str, name: str, *, limits: Limits = _DEFAULT
) -> tuple[Any, dict[Path, int] | None]:
    """A .json file by JSON's rules, anything else as YAML, within `limits`."""
    if name.lower().endswith(".json"):
        return load_json(text, name, max_depth=limits.max_depth), None
    return load_yaml(text, name, max_nodes=limits.yaml_max_nodes, max_depth=limits.max_depth)
