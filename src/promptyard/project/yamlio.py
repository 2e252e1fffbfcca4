"""Read YAML and JSON files into plain data plus a map from field paths to line numbers.

YAML is read with YAML 1.2 core-schema scalars, as promptfoo's js-yaml reads it: `yes`, `no`,
`on`, `off` and dates stay strings, `012` is twelve and `1:30` is text, so a var prints the same
in both tools. The C parser is used when PyYAML has it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from promptyard.errors import ConfigError
from promptyard.project.source import Path

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


def load_yaml(text: str, name: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML; a syntax error becomes a ConfigError naming `name` and the line."""
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
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
    finally:
        loader.dispose()
    return data, _line_map(node)


def load_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"JSON syntax error: {exc.msg}", file=name, line=exc.lineno) from None


def load_structured(text: str, name: str) -> tuple[Any, dict[Path, int] | None]:
    """A .json file by JSON's rules, anything else as YAML."""
    if name.lower().endswith(".json"):
        return load_json(text, name), None
    return load_yaml(text, name)
