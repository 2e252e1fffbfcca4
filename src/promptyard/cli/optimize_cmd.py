"""`promptyard optimize`: improve a config's one prompt with an optimizer, following each
candidate live, then show the winner, its diff against the seed, both prompts' scores on the
held-out test split, the spend and why the search stopped (docs/optimize.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from promptyard.optimize.loop import Outcome, Settings

EXIT_FAILED = 1  # the search could not run, or the winner could not be saved
EXIT_USAGE = 1  # bad input, as `eval` exits: the message names the field
EXIT_CANCELLED = 130  # 128 + SIGINT
METRICS = ("score", "pass")


def optimize_command(
    config: Annotated[
        Path | None,
        typer.Option("-c", "--config", help="Config file or project folder (default: here)."),
    ] = None,
    optimizer: Annotated[
        str, typer.Option("--optimizer", help="instruct, fewshot, mipro or gepa.")
    ] = "instruct",
    proposer_model: Annotated[
        str | None,
        typer.Option(
            "--proposer-model",
            help="The model that writes candidates: a provider id, or JSON {id, config}.",
        ),
    ] = None,
    max_cost_usd: Annotated[
        float | None,
        typer.Option("--max-cost-usd", help="Spend cap: task, judge and proposer calls."),
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", help="Cap on calls of every kind.")
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option("--max-seconds", help="Wall-clock cap on the search (test scoring follows)."),
    ] = None,
    max_cycles: Annotated[
        int | None, typer.Option("--max-cycles", help="Propose-and-accept cycles (default 5).")
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option("--patience", help="Stop after N cycles with no accepted candidate (2)."),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Acceptance test significance (0.05).")
    ] = None,
    min_improvement: Annotated[
        float | None,
        typer.Option("--min-improvement", help="Smallest validation gain to accept (0)."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="score (paired bootstrap) or pass (McNemar)."),
    ] = None,
    stability_samples: Annotated[
        int | None,
        typer.Option(
            "--stability-samples", help="Samples per validation case; >1 leaves flaky ones out."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of splits and proposals.")
    ] = None,
    train_split_ratio: Annotated[
        float | None,
        typer.Option(
            "--train-split-ratio",
            help="Share of cases for train; val and test split the rest evenly (0.6).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Optimizer hyperparameter NAME=VALUE (JSON values); repeatable."
        ),
    ] = None,
    save: Annotated[
        str | None,
        typer.Option("--save", help="Save the winner as a new version of prompt NAME."),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option("--label", help="Point LABEL (e.g. production) at the saved version."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the outcome as JSON.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: project SQLite).")
    ] = None,
) -> None:
    """Improve the config's prompt: candidates are scored on train, kept only when better on
    validation beyond noise, and the winner is reported on the untouched test split."""
    from promptyard.cli import render
    from promptyard.errors import ConfigError, PromptyardError

    console = render.make_console()
    path = config or Path.cwd()
    budgets = {"max_cost_usd": max_cost_usd, "max_calls": max_calls, "max_seconds": max_seconds}
    loop = {"max_cycles": max_cycles, "patience": patience, "alpha": alpha,
            "min_improvement": min_improvement, "metric": metric,
            "stability_samples": stability_samples, "seed": seed}  # fmt: skip
    try:
        if label is not None and save is None:
            raise ConfigError("needs --save NAME: the prompt whose version to label",
                              field="--label")  # fmt: skip
        options = _loop_settings({**loop, **budgets}, train_split_ratio)
        hyperparameters = _params(param or [])
        proposer = _proposer(proposer_model)
        _check_optimizer(optimizer, hyperparameters, proposer)
        url = database_url or _default_url(path)
        steps = _Steps(console)
        outcome = asyncio.run(_run(path, url, optimizer, hyperparameters, proposer, options,
                                   steps))  # fmt: skip
    except ConfigError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_USAGE) from None
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:  # Ctrl-C before the search (and its handler) began
        render.print_error("interrupted before the search started")
        raise typer.Exit(EXIT_CANCELLED) from None
    _print_outcome(console, outcome, options)
    cancelled = outcome.stopped == "cancelled"
    if output is not None:
        try:
            text = json.dumps(_json_ready(outcome.to_dict()), indent=2, allow_nan=False)
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            render.print_error(f"cannot write {str(output)!r}: {exc}")
            raise typer.Exit(EXIT_FAILED) from None
        console.print(f"Wrote {render.escape(str(output))}")
    if save is not None and cancelled:
        # An interrupted search is not a result to ship (and --label may be production).
        console.print(f"Not saved to {render.escape(save)}: the search was cancelled.")
    elif save is not None:
        try:
            version = _save(url, save, label, outcome)
        except PromptyardError as exc:
            render.print_error(f"cannot save {save!r}: {exc}")
            raise typer.Exit(EXIT_FAILED) from None
        moved = f"; label {label} -> {version}" if label else ""
        console.print(f"Saved {render.escape(save)} version {version}{render.escape(moved)}")
    raise typer.Exit(EXIT_CANCELLED if cancelled else 0)


def _loop_settings(values: dict[str, Any], train_split_ratio: float | None) -> Settings:
    """The loop's Settings from the options given (the rest keep the loop's defaults)."""
    from promptyard.errors import ConfigError
    from promptyard.optimize.loop import Settings

    given = {k: v for k, v in values.items() if v is not None}
    if given.get("metric", "score") not in METRICS:
        raise ConfigError(f"must be score or pass, got {given['metric']!r}", field="--metric")
    if train_split_ratio is not None:
        if not 0 < train_split_ratio < 1:
            raise ConfigError(f"must be between 0 and 1, got {train_split_ratio:g}",
                              field="--train-split-ratio")  # fmt: skip
        rest = (1 - train_split_ratio) / 2
        given["ratios"] = (train_split_ratio, rest, rest)
    return Settings(**given)


def _params(items: list[str]) -> dict[str, Any]:
    """`--param name=value` pairs; a value that parses as JSON is that (8 is an int, true a
    bool), anything else is a string."""
    from promptyard.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"expected NAME=VALUE, got {item!r}", field="--param")
        try:
            out[name.strip()] = json.loads(raw)
        except ValueError:
            out[name.strip()] = raw
    return out


def _proposer(value: str | None) -> str | dict[str, Any] | None:
    from promptyard.errors import ConfigError

    if value is None or not value.strip():
        return None
    if not value.lstrip().startswith("{"):
        return value
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", field="--proposer-model") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ConfigError("a JSON proposer needs an `id`", field="--proposer-model")
    return data


def _check_optimizer(name: str, hyperparameters: dict[str, Any], proposer: Any) -> None:
    """Fail before anything runs: an unknown optimizer, a bad hyperparameter, no proposer."""
    from promptyard.errors import ConfigError
    from promptyard.optimize.registry import get_optimizer

    info = get_optimizer(name)
    info.build(hyperparameters)
    if info.needs_proposer and proposer is None:
        raise ConfigError(f"the {name} optimizer needs a proposer model: give a provider id",
                          field="--proposer-model")  # fmt: skip


def _default_url(path: Path) -> str:
    """Where `promptyard eval` on the same config keeps its runs (the winner goes there too)."""
    from promptyard.settings import load_settings
    from promptyard.store import default_database_url

    base = path if path.is_dir() else path.resolve().parent
    return load_settings().database_url or default_database_url(str(base))


async def _run(
    path: Path,
    url: str,
    optimizer: str,
    hyperparameters: dict[str, Any],
    proposer: Any,
    options: Settings,
    steps: _Steps,
) -> Outcome:
    from promptyard.library import optimize_async

    cancel = asyncio.Event()

    def stop() -> None:
        if cancel.is_set():  # a second Ctrl-C: stop waiting for the calls in flight
            sys.exit(EXIT_CANCELLED)
        steps.note("Stopping: the best prompt so far is kept. Ctrl-C again to quit now.")
        cancel.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no handler
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop)
    try:
        return await optimize_async(
            path, optimizer=optimizer, hyperparameters=hyperparameters, proposer=proposer,
            options=options, database_url=url, notify=steps.on_event, cancel=cancel,
        )  # fmt: skip
    finally:
        steps.stop()


class _Steps:
    """The live table: one row per prompt scored (the seed, then each candidate), filled in
    from the loop's `step` and `proposal` events; `*` marks the best so far."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[dict[str, Any]] = []
        self.best_step = 0
        self.caption = ""
        self._live: Live | None = None

    async def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        phase = payload.get("phase")
        if kind == "step" and phase == "preflight":
            affordable = payload.get("candidates_affordable")
            self.caption = f"{payload.get('calls_per_candidate')} calls per candidate" + (
                "" if affordable is None else f"; the budget allows ~{affordable} candidates"
            )
        elif kind == "step" and phase == "seed":
            self.rows.append({**payload, "prompt": "(seed)", "decision": "seed"})
        elif kind == "proposal":
            self.rows.append({**payload, "decision": _verdict(payload.get("decision") or {})})
        elif kind == "step" and phase == "cycle":
            self.best_step = int(payload.get("best_step") or 0)
        else:
            return
        self._show()

    def note(self, message: str) -> None:
        console = self._live.console if self._live is not None else self.console
        console.print(f"[yellow]{_escape(message)}[/yellow]")

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None
        elif self.rows and not self.console.is_terminal:
            self.console.print(self._table())  # piped: the final table once, not every frame

    def _show(self) -> None:
        # Started on the first event, so that an error before the search prints no table.
        if self._live is None and self.console.is_terminal:
            from rich.live import Live

            self._live = Live(self._table(), console=self.console, refresh_per_second=4)
            self._live.start()
        elif self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Table:
        from rich.table import Table

        caption = "; ".join(filter(None, ["* best so far", self.caption]))
        table = Table(title="Optimization", title_justify="left", caption=caption,
                      caption_justify="left")  # fmt: skip
        # The prompt column gives way on a narrow terminal; the numbers keep their width.
        fixed = 73  # the other columns (4 + 5 + 5 + 30 + 9), borders and padding
        table.add_column("step", justify="right", no_wrap=True, min_width=4)
        table.add_column("candidate", no_wrap=True, overflow="ellipsis",
                         max_width=min(60, max(8, self.console.width - fixed)))  # fmt: skip
        table.add_column("train", justify="right", no_wrap=True, min_width=5)
        table.add_column("val", justify="right", no_wrap=True, min_width=5)
        table.add_column("decision", no_wrap=True, min_width=30)
        table.add_column("spent", justify="right", no_wrap=True, min_width=9)
        for row in self.rows:
            step = int(row.get("step") or 0)
            table.add_row(
                f"{step}{'*' if step == self.best_step else ''}",
                _escape(" ".join(str(row.get("prompt", "")).split())),
                _score(row.get("train")),
                _score(row.get("val")),
                _escape(str(row.get("decision", ""))),
                f"${float(row.get('spent_usd') or 0.0):.6f}",
            )
        return table


def _print_outcome(console: Console, out: Outcome, options: Settings) -> None:
    import difflib

    from rich.panel import Panel
    from rich.text import Text

    splits = ", ".join(f"{k} {v}" for k, v in out.splits.items())
    console.print(f"Cases: {splits}" if splits else "Cases: none scored")
    title = f"Best prompt (step {out.best_step})" if out.best_step else "Best prompt (the seed)"
    console.print(Panel(Text(out.best_prompt), title=title, title_align="left", expand=False))
    if out.best_prompt == out.seed_prompt:
        console.print("No candidate beat the seed on validation: the prompt is unchanged.")
    else:
        console.print("Diff against the seed:")
        diff = difflib.unified_diff(out.seed_prompt.splitlines(), out.best_prompt.splitlines(),
                                    "seed", f"step {out.best_step}", lineterm="")  # fmt: skip
        for line in diff:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            console.print(Text(line, style=style))
    test, level = out.test, f"{100 * (1 - options.alpha):g}% CI"
    if test.n:
        console.print(
            f"Test ({test.n} cases, {level}): seed {_score(test.seed)} {_ci(test.seed_interval)}"
            f" -> best {_score(test.best)} {_ci(test.best_interval)};"
            f" difference {test.best - test.seed:+.3f} {_ci(test.diff_interval)}"
        )
        console.print(f"Validation - test gap: {out.val_test_gap:+.3f} (validation "
                      f"{_score(out.best_val)}, test {_score(out.best_test)})")  # fmt: skip
    else:
        console.print("Test: not scored (the search ended before the test scoring).")
    console.print(f"Spent {out.spent_usd:.6f} USD in {out.calls} calls. "
                  f"Stopped: {_escape(out.stopped)}.")  # fmt: skip


def _save(url: str, name: str, label: str | None, out: Outcome) -> int:
    """The winner as the next version of `name` (created if new) in the store; `label` moved
    to it. Returns the version number."""
    from promptyard.errors import NotFound
    from promptyard.store import Store

    message = f"promptyard optimize {out.optimization_id}, step {out.best_step}"
    store = Store.open(url)
    try:
        registry = store.registry
        try:
            version = registry.add_prompt_version(name, template=out.best_prompt,
                                                  message=message)[0].version  # fmt: skip
        except NotFound:
            registry.create_prompt(name, template=out.best_prompt, message=message)
            version = 1
        if label is not None:
            registry.set_label(name, label, version)
        return int(version)
    finally:
        store.close()


def _verdict(decision: dict[str, Any]) -> str:
    """`accepted +0.083 [0.031, 0.135]`: the validation gain and its interval (the full
    reason is in the -o JSON)."""
    word = "accepted" if decision.get("accepted") else "rejected"
    low, high = (decision.get("interval") or [None, None])[:2]
    gain = decision.get("mean_diff")
    gain_text = "-" if gain is None or math.isnan(gain) else f"{gain:+.3f}"
    return f"{word} {gain_text} [{_score(low)}, {_score(high)}]"


def _score(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.3f}"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{_score(interval[0])}, {_score(interval[1])}]"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _json_ready(value: Any) -> Any:
    """NaN (a score nothing was measured for) as null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value
