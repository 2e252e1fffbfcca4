"""The check before any call: every test has the variables its prompts read (a promptfoo
config errors the tests that do not, and runs the rest)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from promptyard.core.prompts import missing_variables, render_prompt
from promptyard.core.templates import RenderLimitError
from promptyard.core.types import EvalSpec
from promptyard.engine.chains import _CONVERSATION
from promptyard.errors import ConfigError, TemplateError

log = logging.getLogger(__name__)


class PreflightMixin:
    """EvalRunner's preflight, run on the render thread before the first call."""

    spec: EvalSpec
    cancel: asyncio.Event
    _stores: bool
    _converses: bool
    _compares: bool
    _group_size: int
    _rendering: str | None

    def _preflight(self) -> None:
        """Stop before any call when a test lacks a variable its prompt reads.

        A static check of every (prompt, test) pair is cheap; only a pair that seems to miss a
        name is rendered, which raises TemplateError naming the variable and the test (a name
        read only inside an unrendered `{% if %}` branch is fine and renders).
        """
        tolerant = self.spec.errored_tests
        later: dict[str, Any] = {}  # what a chained run gives tests besides their own vars
        if self._stores:
            later.update((str(t.options["storeOutputAs"]), "") for t in self.spec.tests
                         if t.options.get("storeOutputAs"))  # fmt: skip
        if self._converses:
            later[_CONVERSATION] = []
        for prompt in self.spec.prompts:
            for test in self.spec.tests:
                if self.cancel.is_set():
                    return
                checked = test
                if later and test.error is None and missing_variables(prompt, test):
                    checked = replace(test, vars={**later, **test.vars})  # a stand-in
                if test.error is None and missing_variables(prompt, checked):
                    self._rendering = test.label
                    try:
                        render_prompt(prompt, checked)
                    except RenderLimitError:
                        raise
                    except TemplateError as exc:
                        if not tolerant:
                            raise
                        test.error = str(exc)  # a promptfoo config: error this test only
        errored = [test for test in self.spec.tests if test.error is not None]
        if errored:
            # Said before the first call: these tests are recorded as errored, not run.
            log.warning(
                "%d of %d tests will not run and are recorded as errored: %s%s",
                len(errored),
                len(self.spec.tests),
                "; ".join(str(t.error) for t in errored[:3]),
                " ..." if len(errored) > 3 else "",
            )
        if (
            self._compares
            and self._group_size < 2
            and any(a.type == "select-best" for t in self.spec.tests for a in t.assertions)
        ):  # max-score over one output simply selects it, as in promptfoo
            raise ConfigError(
                "select-best compares the outputs of several prompts or providers for each"
                " case; this config gives one output per case"
            )
