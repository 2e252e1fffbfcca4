"""The `prompts` key: inline text, chat message lists, `{id, label, raw}` objects, and
`file://` files and globs read the way promptfoo reads them (a .txt file holds several
prompts separated by lines of `---`; .json is one chat prompt kept as JSON text; .jsonl one
prompt per line; .yaml a message list; .md and .j2 the whole file)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from typing import Any

from promptyard.core.template_js import json_stringify
from promptyard.core.templates import check_syntax
from promptyard.core.types import PromptTemplate, TestCase
from promptyard.errors import ConfigError, TemplateError
from promptyard.project.files import FILE_PREFIX, GLOB_CHARS, LoadContext, python_function
from promptyard.project.source import Path, Source, type_name
from promptyard.project.yamlio import load_yaml
from promptyard.trust.files import split_function

PROMPT_DELIMITER = "---"
PROMPT_KEYS = ("id", "label", "raw", "config")
PROMPT_UNSUPPORTED = {
    "function": "prompt functions are not supported",
}
_SCRIPT_EXTENSIONS = frozenset({".js", ".cjs", ".mjs", ".ts", ".py", ".prompty"})


def _prompt_id(label: str) -> str:
    """promptfoo's generateIdFromPrompt: the SHA-256 of the label (every prompt has one)."""
    return hashlib.sha256(label.encode("utf-8")).hexdigest()


# promptfoo's maybeFilePath: a prompt string without a newline that has a path separator, a
# `*`, or a short extension (`x.txt`, `x.md`) names a file even without `file://`.
_PROMPT_FILE_EXTENSIONS = frozenset(
    {".txt", ".json", ".jsonl", ".yaml", ".yml", ".md", ".j2", ".jinja", ".jinja2", ".csv"}
)


def _maybe_file_path(text: str) -> bool:
    if "\n" in text or ("://" in text and not text.startswith(FILE_PREFIX)):
        return False
    return (
        text.startswith(FILE_PREFIX)
        or "/" in text
        or "\\" in text
        or "*" in text
        or text[-3:-2] == "."
        or text[-4:-3] == "."
    )


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
    pid = explicit_id or _prompt_id(label)
    return PromptTemplate(id=pid, label=label, text=text, source=source)


def _chat_prompt(
    messages: list[dict[str, Any]], label: str, source: str, explicit_id: str | None
) -> PromptTemplate:
    pid = explicit_id or _prompt_id(label)
    text = json_stringify(messages)
    return PromptTemplate(id=pid, label=label, text=text, messages=messages, source=source)


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
    label: str | None,
    explicit_id: str | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[PromptTemplate]:
    # promptfoo labels a file prompt with its path joined to the config's directory, which
    # is the path relative to that directory when promptfoo runs there (its usual case).
    name = ctx.display(full)
    shown = ctx.relative(full)
    ext = os.path.splitext(full)[1].lower()
    if ext in _SCRIPT_EXTENSIONS:
        src.fail(f"{name}: prompt scripts ({ext}) are not supported; use a text or JSON file", path)
    if ext == ".csv":
        src.fail(
            f"{name}: CSV prompt files are not supported yet; use one .txt file per prompt", path
        )
    content = ctx.read_text(full, src, path)
    if ext == ".json":
        # promptfoo re-serialises valid JSON compactly; other text stays as it is
        with contextlib.suppress(ValueError):
            content = json_stringify(json.loads(content))
        return [_text_prompt(content, label or f"{shown}: {content}", name, explicit_id)]
    if ext == ".jsonl":
        lines = [line for line in content.replace("\r\n", "\n").split("\n") if line]
        many = len(lines) > 1
        out = []
        for i, line in enumerate(lines):
            lab = f"{label or shown}: {line}" if many else (label or shown)
            out.append(
                _text_prompt(line, lab, f"{name}:{i + 1}", explicit_id and f"{explicit_id}:{i}")
            )
        return out
    if ext in (".yaml", ".yml"):
        data, _ = load_yaml(content, name)
        text = json_stringify(data)
        lab = label or f"{shown}: {text[:80]}"
        if isinstance(data, list) and all(isinstance(m, dict) and "role" in m for m in data):
            messages = _check_messages(data, Source(name), ())
            return [_chat_prompt(messages, lab, name, explicit_id)]
        text = data if isinstance(data, str) else text
        return [_text_prompt(text, lab, name, explicit_id)]
    if ext in (".md", ".j2", ".jinja", ".jinja2"):
        return [_text_prompt(content, label or f"{shown}: {content[:50]}...", name, explicit_id)]
    parts = _split_txt(content)
    if not parts:
        src.fail(f"{name} holds no prompt text", path)
    single = len(parts) == 1
    # promptfoo's text files always label `[label: ]path: text`, even with one prompt.
    prefix = f"{label}: {shown}" if label else shown
    return [
        _text_prompt(
            text,
            f"{prefix}: {text}",
            name,
            explicit_id if single or not explicit_id else f"{explicit_id}:{i}",
        )
        for i, text in enumerate(parts)
    ]


def _bare_path(text: str, ctx: LoadContext, src: Source, path: Path) -> list[str] | None:
    """The files a prompt string without `file://` names, or None when it is prompt text.

    promptfoo treats any path-like string as a file; we do so when it matches files or ends
    in a prompt-file extension (then a missing file is an error), and keep other text, such as
    `What is 1/2?`, as a prompt where promptfoo would fail.

    Under a confining policy (the server) a file outside the project's folder is treated as
    one that does not exist, decided from the text alone, before the disk is asked: a string
    with a prompt-file extension (`/etc/x.txt`, `../p.md`) is refused, as a missing file would
    be, and other text (`/etc/passwd`, `and/or`) stays prompt text, as a string naming no file
    does on the command line. Either way nothing outside is read and the answer is the same
    whether the file exists or not.
    """
    if not _maybe_file_path(text):
        return None
    try:
        return ctx.resolve(text, src, path, "prompt")
    except ConfigError:
        ext = os.path.splitext(text)[1].lower()
        if ext in _PROMPT_FILE_EXTENSIONS or ext in _SCRIPT_EXTENSIONS:
            raise
        return None


def _function_prompt(
    ref: str,
    script: str,
    function: str | None,
    label: str | None,
    explicit_id: str | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> PromptTemplate:
    """promptfoo's prompt function `file://prompt.py:fn`: called for every trial with
    `{"vars": ..., "provider": {"id", "label"}}`; it returns the prompt text or a list of chat
    messages. Python only where the trust policy allows it."""
    if not script.lower().removeprefix(FILE_PREFIX).endswith(".py"):
        src.fail(
            f"{ref}: JavaScript prompt functions are not supported yet; write a Python one"
            " (file://prompt.py:fn) or the prompt as a template in a text, JSON or YAML file",
            path,
        )
    if function is None:
        src.fail(f"{ref}: name the prompt function (file://prompt.py:function_name)", path)
    ctx.trust.check_python("Python prompt functions", file=src.name, field=src.field(path))
    (full,) = ctx.resolve(script, src, path, "prompt")[:1]
    shown = f"{ctx.relative(full)}:{function}"
    fn = python_function(full, function, shown, src, path)
    prompt_label = label or shown  # promptfoo's label: the file's path and the function
    prompt = PromptTemplate(
        id=explicit_id or _prompt_id(prompt_label),
        label=prompt_label,
        text=FILE_PREFIX + shown,
        source=shown,
    )
    prompt.function = functools.partial(_call_prompt_function, fn, shown)
    return prompt


def _call_prompt_function(
    fn: Any, shown: str, test: TestCase, provider_id: str, provider_label: str | None
) -> tuple[str, list[dict[str, Any]]]:
    context = {
        "vars": dict(test.vars),
        "provider": {"id": provider_id, "label": provider_label or provider_id},
        "config": {},
    }
    try:
        result = fn(context)
    except Exception as exc:
        raise TemplateError(
            f"prompt function {shown} failed: {type(exc).__name__}: {exc}", test=test.label
        ) from None
    if isinstance(result, dict) and "prompt" in result:
        result = result["prompt"]  # promptfoo's {prompt, config}; config is not supported
    if isinstance(result, str):
        with contextlib.suppress(ValueError):
            parsed = json.loads(result)
            if _is_chat(parsed):
                return result, parsed
        return result, [{"role": "user", "content": result}]
    if _is_chat(result):
        return json.dumps(result, ensure_ascii=False, indent=2), result
    raise TemplateError(
        f"prompt function {shown} must return text or a list of chat messages, got"
        f" {type_name(result)}",
        test=test.label,
    )


def _is_chat(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
    )


def _one(
    ref_or_text: str,
    label: str | None,
    explicit_id: str | None,
    ctx: LoadContext,
    src: Source,
    path: Path,
) -> list[PromptTemplate]:
    script, function = split_function(ref_or_text)
    if function is not None or (
        ref_or_text.startswith(FILE_PREFIX)
        and os.path.splitext(script)[1].lower() in _SCRIPT_EXTENSIONS
    ):
        return [_function_prompt(ref_or_text, script, function, label, explicit_id, ctx, src, path)]
    if ref_or_text.startswith(FILE_PREFIX):
        files: list[str] | None = ctx.resolve(ref_or_text, src, path, "prompt")
    else:
        files = _bare_path(ref_or_text, ctx, src, path)
    if files is None:
        return [_text_prompt(ref_or_text, label or ref_or_text, src.where(path), explicit_id)]
    spec = ref_or_text.removeprefix(FILE_PREFIX)
    if not GLOB_CHARS.intersection(spec):
        return _from_file(files[0], label, explicit_id, ctx, src, path)
    out = []
    for full in files:
        # a glob's matches get promptfoo's `label: relative/path` and `id:relative/path`
        rel = ctx.relative(full)
        lab = label and f"{label}: {rel}"
        pid = explicit_id and f"{explicit_id}:{rel}"
        out.extend(_from_file(full, lab, pid, ctx, src, path))
    return out


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
            prompts.append(_chat_prompt(messages, json_stringify(messages), src.where(at), None))
        elif isinstance(item, dict):
            src.check_keys(item, at, PROMPT_KEYS, PROMPT_UNSUPPORTED)
            first = len(prompts)
            label = item.get("label")
            pid = item.get("id")
            raw = item.get("raw")
            if label is not None:
                src.expect(label, str, "a string", (*at, "label"))
            if pid is not None:
                src.expect(pid, str, "a string", (*at, "id"))
            if raw is None and isinstance(pid, str):
                # promptfoo reads `id` as the prompt when there is no `raw`: {id: file://...}
                # or {id: "Tell me about {{topic}}", label}
                prompts.extend(_one(pid, label, None, ctx, src, at))
            elif isinstance(raw, list):
                messages = _check_messages(raw, src, (*at, "raw"))
                prompts.append(
                    _chat_prompt(messages, label or json_stringify(raw), src.where(at), pid)
                )
            elif isinstance(raw, str):
                prompts.extend(_one(raw, label, pid, ctx, src, at))
            else:
                src.fail("a prompt object needs `raw` text (or an `id`: a file or the text)", at)
            config = item.get("config")
            if config is not None:
                src.expect(config, dict, "a mapping of provider settings", (*at, "config"))
                for prompt in prompts[first:]:  # every prompt of a glob
                    prompt.config = dict(config) or None
        else:
            src.fail(
                f"a prompt must be text, a message list or a mapping, got {type_name(item)}", at
            )
    if not prompts:
        src.fail("no prompts: the `prompts` list is empty", path)
    return prompts
