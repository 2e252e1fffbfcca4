"""Validating what the registry stores: names, labels, tags, templates, dataset rows, profiles.

Pure functions, so the server can check a request before it opens a transaction. Dataset rows
are checked all at once: RowErrors lists every problem of every bad row, which the server
turns into one 422 answer instead of a fix-one-resubmit loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from promptyard.core.secrets import is_secret_key

SPLITS = ("train", "val", "test")
ROW_FIELDS = ("vars", "assert", "expected", "split", "metadata", "description")
LATEST = "latest"  # the implicit label of the newest version
# Names go into URL paths and refs (name@3, name:label): no "/", "@", ":" or spaces.
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,198}[A-Za-z0-9_-])?")
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class RowErrors(ValueError):
    """Dataset rows that fail validation; `errors` lists every problem of every bad row."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        rows = sorted({e["row"] for e in errors})
        shown = "; ".join(f"row {e['row']} {e['field']}: {e['message']}" for e in errors[:5])
        more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
        super().__init__(f"{len(rows)} invalid dataset row(s): {shown}{more}")


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """(name, version, label) of `name`, `name@3` or `name:label`."""
    ref = ref.strip()
    if "@" in ref:
        name, _, num = ref.rpartition("@")
        if not num.isdigit() or int(num) < 1:
            raise ValueError(f"prompt ref {ref!r}: the version after '@' must be 1, 2, ...")
        return name, int(num), None
    if ":" in ref:
        name, _, label = ref.rpartition(":")
        check_label(label, allow_latest=True)
        return name, None, label
    return ref, None, None


def check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows with all six fields filled in; RowErrors lists every problem of every row."""
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Sequence):
        raise ValueError("dataset rows must be a list of objects")
    errors: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):

        def bad(field: str, message: str, i: int = i) -> None:
            errors.append({"row": i, "field": field, "message": message})

        if not isinstance(row, Mapping):
            bad("row", f"must be an object, not {type(row).__name__}")
            continue
        for key in row:
            if key not in ROW_FIELDS:
                bad(str(key), f"unknown field; a row has {', '.join(ROW_FIELDS)}")
        vars_ = {} if row.get("vars") is None else row["vars"]
        if not isinstance(vars_, Mapping):
            bad("vars", f"must be an object of variables, not {type(vars_).__name__}")
        split = row.get("split")
        if split is not None and split not in SPLITS:
            bad("split", f"{split!r} is not one of {', '.join(SPLITS)} (or empty)")
        meta = {} if row.get("metadata") is None else row["metadata"]
        if not isinstance(meta, Mapping):
            bad("metadata", f"must be an object, not {type(meta).__name__}")
        desc = row.get("description")
        if desc is not None and not isinstance(desc, str):
            bad("description", f"must be a string, not {type(desc).__name__}")
        asserts = [] if row.get("assert") is None else row["assert"]
        if not isinstance(asserts, list):
            bad("assert", f"must be a list of assertions, not {type(asserts).__name__}")
            asserts = []
        for j, a in enumerate(asserts):
            if not isinstance(a, Mapping):
                bad(f"assert[{j}]", f"must be an object, not {type(a).__name__}")
            elif not isinstance(a.get("type"), str) or not a["type"]:
                bad(f"assert[{j}].type", "every assertion needs a string `type`")
        out.append(
            {
                "vars": dict(vars_) if isinstance(vars_, Mapping) else vars_,
                "assert": [dict(a) if isinstance(a, Mapping) else a for a in asserts],
                "expected": row.get("expected"),
                "split": split,
                "metadata": dict(meta) if isinstance(meta, Mapping) else meta,
                "description": desc,
            }
        )
    if errors:
        raise RowErrors(errors)
    return out


def check_no_secrets(config: Mapping[str, Any], path: str = "") -> None:
    """ValueError naming the first key that would hold a secret value, at any depth."""
    for key, value in config.items():
        where = f"{path}.{key}" if path else str(key)
        if is_secret_key(key):
            raise ValueError(
                f"profile config key {where!r} looks like a secret: store secrets by env var "
                f"name only, e.g. `api_key_env: OPENAI_API_KEY`"
            )
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                check_no_secrets(item, f"{where}[{i}]" if isinstance(value, list) else where)


def check_name(name: str, kind: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r} is not valid: use letters, digits, '_', '-' and '.' "
            f"(as in `team.name`), up to 200 characters"
        )


def check_project(project: str | None) -> None:
    if project is not None and (not project.strip() or len(project) > 200):
        raise ValueError(f"project name {project!r} must be 1 to 200 characters")


def check_label(label: str, *, allow_latest: bool = False) -> None:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise ValueError(
            f"label {label!r} is not valid: lower-case letters, digits, '_' and '-', "
            "starting with a letter or digit, up to 40 characters"
        )
    if label == LATEST and not allow_latest:
        raise ValueError("label 'latest' is implicit (always the newest version) and cannot be set")


def check_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        raise ValueError("tags must be a list of strings, not one string")
    out: list[str] = []
    for t in tags:
        tag = t.strip().lower() if isinstance(t, str) else ""
        if not tag or len(tag) > 64 or any(ord(c) < 32 for c in tag):
            raise ValueError(f"tag {t!r} must be 1 to 64 printable characters")
        if tag not in out:
            out.append(tag)
    return out


def check_template(template: Any) -> Any:
    if isinstance(template, str):
        return template
    if isinstance(template, list) and all(
        isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in template
    ):
        return [dict(m) for m in template]
    raise ValueError("a prompt template is a string or a list of messages {role, content}")


def as_mapping(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be an object, not {type(value).__name__}")
    return dict(value)
