"""The `prompts` key: inline text, chat message lists, `{id, label, raw}` objects, and
`file://` files and globs read the way promptfoo reads them (a .txt file holds several
prompts separated by lines of `---`; .json is one chat prompt kept as JSON text; .jsonl one
prompt per line; .yaml a message list; .md and .j2 the whole file)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from promptyard.core.templates import check_syntax, json_stringify
from promptyard.core.types import PromptTemplate
from promptyard.project.files import FILE_PREFIX, LoadContext
from promptyard.project.source import Path, Source, type_name
from promptyard.project.yamlio import load_yaml

PROMPT_DELIMITER = "---"
PROMPT_KEYS = ("id", "label", "raw")
PROMPT_UNSUPPORTED = {
    "config": "per-prompt provider config is not supported yet; set it on the provider",
    "function": "prompt functions are not supported",
}
_SCRIPT_EXTENSIONS = frozenset({".js", ".cjs", ".mjs", ".ts", ".py", ".prompty"})


def _prompt_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _check_messages(messages: Any, src: Source, path: Path) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        src.fail("a chat prompt must be a non-empty list of {role, content} messages", path)
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            src.fail(f"a chat message needs a string `role`, got {type_name(message)}", (*path, i))
        if "content" not in message:
            src.fail("a chat message needs `content`", (*path, i))
        content = message["content"]
        if isinstance(content, str):
            check_syntax(content, source=src.where((*path, i, "content")))
    return messages


def _text_prompt(text: str, label: str, source: str, explicit_id: str | None) -> PromptTemplate:
    check_syntax(text, source=source)
    return PromptTemplate(id=explicit_id or _prompt_id(text), label=label, text=text, source=source)


def _chat_prompt(
    messages: list[dict[str, Any]], label: str, source: str, explicit_id: str | None
) -> PromptTemplate:
    text = json.dumps(messages, ensure_ascii=False)
    return PromptTemplate(
        id=explicit_id or _prompt_id(text), label=label, text=text, messages=messages, source=source
    )


def _split_txt(content: str) -> list[str]:
    """promptfoo's text-file rule: a line that is `---` (after trimming) separates prompts."""
    prompts: list[str] = []
    buffer: list[str] = []
    for line in content.replace("\r\n", "\n").split("\n"):
        if line.strip() == PROMPT_DELIMITER:
            prompts.append("\n".join(buffer).strip())
            buffer = []
        else:
            buffer.append(line)
    prompts.append("\n".join(buffer).strip())
    return [p for p in prompts if p]


def _from_file(
    full: str,
    spec: str,
    label: str | None,
    explicit_id: str | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[PromptTemplate]:
    name = ctx.display(full)
    ext = os.path.splitext(full)[1].lower()
    if ext in _SCRIPT_EXTENSIONS:
        src.fail(f"{name}: prompt scripts ({ext}) are not supported; use a text or JSON file", path)
    content = ctx.read_text(full, src, path)
    if ext == ".json":
        return [_text_prompt(content, label or f"{spec}: {content}", name, explicit_id)]
    if ext == ".jsonl":
        lines = [line for line in content.replace("\r\n", "\n").split("\n") if line]
        many = len(lines) > 1
        out = []
        for i, line in enumerate(lines):
            lab = (f"{label}: {line}" if label else f"{spec}: {line}") if many else (label or spec)
            out.append(
                _text_prompt(line, lab, f"{name}:{i + 1}", explicit_id and f"{explicit_id}:{i}")
            )
        return out
    if ext in (".yaml", ".yml"):
        data, _ = load_yaml(content, name)
        if isinstance(data, list) and all(isinstance(m, dict) and "role" in m for m in data):
            messages = _check_messages(data, Source(name), ())
            lab = label or f"{spec}: {json_stringify(data)[:80]}"
            return [_chat_prompt(messages, lab, name, explicit_id)]
        text = data if isinstance(data, str) else json_stringify(data)
        return [_text_prompt(text, label or f"{spec}: {text[:80]}", name, explicit_id)]
    if ext in (".md", ".j2", ".jinja", ".jinja2"):
        lab = label or (f"{spec}: {content[:50]}..." if ext == ".md" else spec)
        return [_text_prompt(content, lab, name, explicit_id)]
    parts = _split_txt(content)
    if not parts:
        src.fail(f"{name} holds no prompt text", path)
    single = len(parts) == 1
    return [
        _text_prompt(
            text,
            (
                label
                if single and label
                else f"{label}: {spec}: {text}"
                if label
                else f"{spec}: {text}"
            ),
            name,
            explicit_id if single or not explicit_id else f"{explicit_id}:{i}",
        )
        for i, text in enumerate(parts)
    ]


def _one(
    ref_or_text: str,
    label: str | None,
    explicit_id: str | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[PromptTemplate]:
    if ref_or_text.startswith(FILE_PREFIX):
        spec = ref_or_text[len(FILE_PREFIX) :]
        out = []
        for full in ctx.resolve(ref_or_text, src, path, "prompt"):
            shown = ctx.display(full) if spec != ctx.display(full) and "*" in spec else spec
            out.extend(_from_file(full, shown, label, explicit_id, ctx, src, path))
        return out
    return [_text_prompt(ref_or_text, label or ref_or_text, src.where(path), explicit_id)]


def load_prompts(value: Any, ctx: LoadContext, src: Source, path: Path) -> list[PromptTemplate]:
    """Every prompt named by the `prompts` key, in order."""
    if value is None:
        src.fail("no prompts: add a `prompts` list", path)
    if isinstance(value, str):
        value = [value]
    elif isinstance(value, dict):  # promptfoo's legacy {path-or-text: label} map
        value = [{"raw": k, "label": v} for k, v in value.items()]
    if not isinstance(value, list):
        src.fail(f"expected a list of prompts, got {type_name(value)}", path)
    prompts: list[PromptTemplate] = []
    for i, item in enumerate(value):
        at = (*path, i)
        if isinstance(item, str):
            prompts.extend(_one(item, None, None, ctx, src, at))
        elif isinstance(item, list):
            messages = _check_messages(item, src, at)
            prompts.append(_chat_prompt(messages, json.dumps(messages)[:80], src.where(at), None))
        elif isinstance(item, dict):
            src.check_keys(item, at, PROMPT_KEYS, PROMPT_UNSUPPORTED)
            label = item.get("label")
            pid = item.get("id")
            raw = item.get("raw")
            if label is not None:
                src.expect(label, str, "a string", (*at, "label"))
            if pid is not None:
                src.expect(pid, str, "a string", (*at, "id"))
            if raw is None and isinstance(pid, str) and pid.startswith(FILE_PREFIX):
                prompts.extend(_one(pid, label, None, ctx, src, at))  # {id: file://..., label}
            elif isinstance(raw, list):
                messages = _check_messages(raw, src, (*at, "raw"))
                prompts.append(
                    _chat_prompt(messages, label or pid or json.dumps(raw)[:80], src.where(at), pid)
                )
            elif isinstance(raw, str):
                prompts.extend(_one(raw, label, pid, ctx, src, at))
            else:
                src.fail("a prompt object needs `raw` text (or `id: file://...`)", at)
        else:
            src.fail(
                f"a prompt must be text, a message list or a mapping, got {type_name(item)}", at
            )
    if not prompts:
        src.fail("no prompts: the `prompts` list is empty", path)
    return prompts
