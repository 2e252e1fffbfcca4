"""Render a prompt template for one test case into text and chat messages (pure)."""

from __future__ import annotations

import json
from typing import Any

from promptyard.core.templates import render_string
from promptyard.core.types import PromptTemplate, TestCase


def render_prompt(prompt: PromptTemplate, test: TestCase) -> tuple[str, list[dict[str, Any]]]:
    """Return (text, messages) for `prompt` with `test`'s vars.

    As in promptfoo, the test's `options.prefix`/`suffix` wrap the raw template, and a rendered
    text that is a JSON list of {role, content} messages is sent as a chat conversation.
    """
    label = test.label
    if prompt.messages is not None:
        messages = [
            {
                **message,
                "content": render_string(
                    str(message.get("content", "")), test.vars, test=label, source=prompt.source
                )
                if isinstance(message.get("content"), str)
                else message.get("content"),
            }
            for message in prompt.messages
        ]
        return json.dumps(messages, ensure_ascii=False), messages
    raw = prompt.text
    prefix, suffix = test.options.get("prefix"), test.options.get("suffix")
    if prefix or suffix:
        raw = f"{prefix or ''}{raw}{suffix or ''}"
    text = render_string(raw, test.vars, test=label, source=prompt.source or prompt.label)
    return text, _as_messages(text)


def _as_messages(text: str) -> list[dict[str, Any]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if (
            isinstance(parsed, list)
            and parsed
            and all(isinstance(m, dict) and "role" in m for m in parsed)
        ):
            return parsed
    return [{"role": "user", "content": text}]
