"""`instruct`: a proposer model rewrites the prompt from its train score and failures
(OPRO/APE-style). It sees train results only, never validation or test."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from promptyard.core.templates import template_variables
from promptyard.core.types import Completion, CompletionRequest
from promptyard.errors import TemplateError
from promptyard.optimize.loop import Evaluation, Iteration

MAX_FAILURES = 8  # failure reasons shown to the proposer
_PROMPT = re.compile(r"<prompt>(.*?)</prompt>", re.DOTALL | re.IGNORECASE)
_SYSTEM = (
    "You improve prompts for a language model. You get a prompt template, its score on"
    " training cases (0 to 1) and why some cases failed. Write an improved version that fixes"
    " those failures without overfitting to them. Keep every template variable such as"
    " {{ name }} exactly as written. Reply with the new template only, between <prompt> and"
    " </prompt>."
)


class ChatModel(Protocol):
    id: str

    async def complete(self, request: CompletionRequest) -> Completion: ...


class InstructProposer:
    name = "instruct"

    def __init__(self, model: ChatModel) -> None:
        self._model = model
        self.spent_usd = 0.0

    async def propose(
        self, incumbent: str, train: Evaluation, history: Sequence[Iteration]
    ) -> list[str]:
        failures = [c.reason for c in train.cases if c.reason][:MAX_FAILURES]
        rejected = [i.prompt for i in history if not i.accepted][-3:]
        lines = [f"<current>\n{incumbent}\n</current>",
                 f"Training score: {train.mean_score:.3f}"]  # fmt: skip
        if failures:
            lines.append("Failures:\n" + "\n".join(f"- {f}" for f in failures))
        if rejected:
            lines.append("Rejected earlier attempts (do not repeat them):\n"
                         + "\n---\n".join(rejected))  # fmt: skip
        messages = [{"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": "\n\n".join(lines)}]  # fmt: skip
        completion = await self._model.complete(
            CompletionRequest(prompt=messages[-1]["content"], messages=messages)
        )
        self.spent_usd += completion.cost or 0.0
        candidate = extract_prompt(completion.output)
        if candidate is None or not keeps_variables(incumbent, candidate):
            return []
        return [candidate]


def extract_prompt(output: Any) -> str | None:
    """The text between <prompt> tags, else the whole reply; None when empty."""
    text = output if isinstance(output, str) else str(output or "")
    match = _PROMPT.search(text)
    candidate = (match.group(1) if match else text).strip()
    return candidate or None


def keeps_variables(incumbent: str, candidate: str) -> bool:
    """A candidate must read every variable the incumbent reads (else tests lose inputs), and
    must be a valid template."""
    try:
        return template_variables(incumbent) <= template_variables(candidate)
    except TemplateError:  # a syntax error in the candidate: not a usable prompt
        return False
