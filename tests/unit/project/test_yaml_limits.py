"""Config and dataset files are measured before their data is built: YAML aliases expanded
(billion laughs), a recursive alias, and nesting depth (YAML and JSON), each a ConfigError
naming the file, the path and the setting (finding 5 and part of 10)."""

from __future__ import annotations

import json
import resource
import time

import pytest

from promptyard.errors import ConfigError
from promptyard.project.yamlio import count_yaml_items, load_json, load_structured, load_yaml
from promptyard.trust.policy import Limits


def laughs(levels: int, width: int = 9) -> str:
    """Each level lists the one before `width` times: width**levels strings in ~50 bytes a
    level (540 bytes became 70 MB when it was serialized)."""
    doc = "x0: &x0 [" + ", ".join(["lol"] * width) + "]\n"
    for i in range(1, levels):
        doc += f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * width) + "]\n"
    body = "".join("    " + line + "\n" for line in doc.splitlines())
    return "- description: boom\n  vars:\n" + body


def nested_yaml(depth: int) -> str:
    return "tests:\n  - vars:\n      x: " + "[" * depth + "]" * depth + "\n"


def nested_json(depth: int) -> str:
    return '{"tests": [{"vars": {"x": ' + '{"a": ' * depth + "1" + "}" * depth + "}}]}"


def test_billion_laughs_is_refused_before_it_expands() -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="PROMPTYARD_YAML_MAX_NODES") as info:
        load_yaml(laughs(12), "boom.yaml")  # 9**12 strings
    assert time.monotonic() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 50_000  # KB
    assert info.value.file == "boom.yaml"
    assert "more than 1000000 nodes" in str(info.value)


def test_aliases_within_the_limit_still_load_and_share() -> None:
    data, _ = load_yaml(laughs(3), "ok.yaml")  # 9**3 strings: fine
    x2 = data[0]["vars"]["x2"]
    assert len(x2) == 9 and x2[0] is x2[1]
    base = "base: &b {model: m, temperature: 0}\nuse: {<<: *b, temperature: 1}\n"
    assert load_yaml(base, "merge.yaml")[0]["use"] == {"model": "m", "temperature": 1}


def test_the_node_limit_is_a_setting() -> None:
    with pytest.raises(ConfigError, match="more than 100 nodes"):
        load_yaml(laughs(3), "ok.yaml", max_nodes=100)
    limits = Limits(yaml_max_nodes=100)
    with pytest.raises(ConfigError, match="more than 100 nodes"):
        load_structured(laughs(3), "ok.yaml", limits=limits)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="recursive alias"):
        load_yaml("a: &a [1, *a]\n", "rec.yaml")


@pytest.mark.parametrize("depth", [65, 500, 900])
def test_deep_yaml_is_refused_naming_the_path(depth: int) -> None:
    with pytest.raises(ConfigError, match="PROMPTYARD_MAX_DEPTH") as info:
        load_yaml(nested_yaml(depth), "deep.yaml")
    assert info.value.field is not None
    assert info.value.field.startswith("tests[0].vars.x[0][0]")
    # The root, tests, tests[0] and vars are 4 levels; x and 60 lists inside it make 65, the
    # first too deep: its path is tests[0], vars, x and those 60 indexes.
    assert info.value.field.count("[0]") == 1 + 60


def test_deep_block_yaml_is_refused_too() -> None:
    text = "x:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(100)) + "  " * 101 + "v\n"
    with pytest.raises(ConfigError, match="nested deeper than 64 levels") as info:
        load_yaml(text, "block.yaml")
    assert info.value.field is not None and info.value.field.startswith("x.k0.k1.k2")


def test_depth_at_the_limit_loads() -> None:
    data, _ = load_yaml(nested_yaml(64 - 4), "ok.yaml")  # 4 levels above x
    assert data["tests"][0]["vars"]["x"] is not None
    with pytest.raises(ConfigError):
        load_yaml(nested_yaml(64 - 3), "deep.yaml")


@pytest.mark.parametrize("depth", [61, 500, 5000, 100_000])
def test_deep_json_is_a_config_error_naming_the_path_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(ConfigError, match="PROMPTYARD_MAX_DEPTH") as info:
        load_json(nested_json(depth), "deep.json")
    assert info.value.field is not None and info.value.field.startswith("tests[0].vars.x.a.a")


def test_json_at_the_limit_loads_and_brackets_in_strings_do_not_count() -> None:
    assert load_json(nested_json(60), "ok.json")["tests"][0]["vars"]["x"]["a"]
    text = json.dumps({"s": "[" * 5000 + "{" * 5000, "t": ["]", "}"]})
    assert load_json(text, "strings.json")["t"] == ["]", "}"]


def test_count_yaml_items_counts_without_building() -> None:
    assert count_yaml_items("- a\n- b\n- c\n", "rows.yaml") == 3
    assert count_yaml_items("a: 1\n", "one.yaml") == 1
    assert count_yaml_items("", "empty.yaml") == 0
    with pytest.raises(ConfigError, match="PROMPTYARD_YAML_MAX_NODES"):
        count_yaml_items(laughs(12), "boom.yaml")
