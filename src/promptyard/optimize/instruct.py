"""`instruct`: a proposer model rewrites the prompt from its train score and failures
(OPRO/APE-style). It sees train results only, never validation or test."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from promptyard.core.templates import template_variables
from promptyard.core.types import CompletionRequest
from promptyard.errors import TemplateError
from promptyard.optimize.base import OptimizerInfo, Param, ProposeContext

MAX_FAILURES = 8  # failure reasons shown to the proposer
_PROMPT = re.compile(r"<prompt>(.*?)</prompt>", re.DOTALL | re.IGNORECASE)
_SYSTEM = (
    "You improve prompts for a language model. You get a prompt template, its score on"
    " training cases (0 to 1) and why some cases failed. Write an improved version that fixes"
    " those failures without overfitting to them. Keep every template variable such as"
    " {{ name }} exactly as written. Reply with the new template only, between <prompt> and"
    " </prompt>."
)

PARAMS = (Param("candidates", "int", 1, "rewrites asked for per cycle", minimum=1, maximum=8),)


def info() -> OptimizerInfo:
    return OptimizerInfo(
        name="instruct",
        description="A proposer model rewrites the instruction from the current prompt, its "
        "train score and its failures with their reasons (OPRO/APE-style).",
        params=PARAMS,
        factory=InstructOptimizer,
    )


class InstructOptimizer:
    name = "instruct"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        values = {p.name: p.default for p in PARAMS} | dict(params or {})
        self.candidates = int(values["candidates"])

    async def propose(self, ctx: ProposeContext) -> list[str]:
        out: list[str] = []
        for attempt in range(self.candidates):
            candidate = await rewrite(ctx, attempt)
            if candidate is not None and candidate not in out:
                out.append(candidate)
        return out


async def rewrite(
    ctx: ProposeContext,
    attempt: int = 0,
    *,
    current: str | None = None,
    optimizer: str = "instruct",
) -> str | None:
    """One rewrite of the incumbent (or of `current`, e.g. its instruction without demos) by
    the proposer model, or None when its reply is unusable (no text, or it drops a template
    variable). `attempt` makes repeated asks distinct requests (the sample index: distinct
    cache entries)."""
    model = ctx.require_chat(optimizer)
    current = ctx.incumbent if current is None else current
    failures = [c.reason for c in ctx.train.cases if c.reason][:MAX_FAILURES]
    rejected = [i.prompt for i in ctx.history if not i.accepted][-3:]
    lines = [f"<current>\n{current}\n</current>",
             f"Training score: {ctx.train.mean_score:.3f}"]  # fmt: skip
    if failures:
        lines.append("Failures:\n" + "\n".join(f"- {f}" for f in failures))
    if rejected:
        lines.append("Rejected earlier attempts (do not repeat them):\n"
                     + "\n---\n".join(rejected))  # fmt: skip
    if attempt:
        lines.append(f"(Variant {attempt + 1}: try a different approach.)")
    messages = [{"role": "system", "content": _SYSTEM},
                {"role": "user", "content": "\n\n".join(lines)}]  # fmt: skip
    completion = await model.complete(
        CompletionRequest(prompt=messages[-1]["content"], messages=messages, sample=attempt)
    )
    candidate = extract_prompt(completion.output)
    if candidate is None or not keeps_variables(current, candidate):
        return None
    return candidate


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
