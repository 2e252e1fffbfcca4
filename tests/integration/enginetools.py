"""The engine under test without the library around it: specs loaded from dicts, real
providers (closed after the test), the real grader, a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptyard.core.types import EvalSpec
from promptyard.engine.runner import EvalRunner, RunOutcome
from promptyard.library import load_spec
from promptyard.providers import create_provider
from promptyard.providers.base import Provider
from promptyard.scorers import Grader
from promptyard.store import Store
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


class Harness:
    """Builds specs and their providers; closes the providers at the end of the test."""

    def __init__(self, tmp_path: Path, store: Store) -> None:
        self.tmp_path = tmp_path
        self.store = store
        self.made: list[Provider] = []

    def spec(self, config: dict[str, Any]) -> EvalSpec:
        return load_spec(config, base_dir=self.tmp_path)

    def providers(self, spec: EvalSpec) -> list[Any]:
        made = [
            create_provider(p, base_dir=spec.base_dir, trust=LOCAL_TRUST) for p in spec.providers
        ]
        self.made.extend(made)
        return made

    async def run(
        self, spec: EvalSpec, providers: list[Any] | None = None, **kw: Any
    ) -> RunOutcome:
        grader = Grader(base_dir=spec.base_dir)
        try:
            runner = EvalRunner(
                spec,
                providers=providers if providers is not None else self.providers(spec),
                grader=grader,
                store=kw.pop("store", self.store),
                keep_trials=kw.pop("keep_trials", True),
                **kw,
            )
            return await runner.run()
        finally:
            grader.close()
