"""Terminal output for runs: the progress bar, the summary table and the failures list."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as _escape
from rich.table import Table

from promptyard.core.types import TrialResult

if TYPE_CHECKING:
    from rich.progress import Progress

MAX_FAILURES_SHOWN = 10


def make_console() -> Console:
    """A console that stays wide enough for the summary table when output is piped."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))
    return console


def escape(text: str) -> str:
    return _escape(text)


def print_error(message: object) -> None:
    """`Error: message` on stderr, unwrapped (so it greps and copies whole) and unmarked-up
    (messages quote user text such as `tests[2]`, which rich would read as markup)."""
    Console(stderr=True, soft_wrap=True).print(f"[red]Error:[/red] {escape(str(message))}")


class TrialProgress:
    """Follows a run: a progress bar, per-trial lines with -v, and the first failures."""

    def __init__(self, console: Console, *, enabled: bool, verbose: bool) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self.verbose = verbose
        self.failures: list[TrialResult] = []
        self.kpi_errors: list[TrialResult] = []  # the first trials whose KPIs could not be computed
        self.kpi_error_count = 0
        self._progress: Progress | None = None
        self._task: Any = None
        self._passed = 0
        self._failed = 0

    @contextlib.contextmanager
    def running(self, *, total: int) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        # Imported here: a run without a bar (piped, CI, --no-progress) skips ~30 ms of imports.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]eval[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} pass[/green]"),
            TextColumn("[red]{task.fields[failed]} fail[/red]"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task("eval", total=total, passed=0, failed=0)
        with self._progress:
            yield
        self._progress = None

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/yellow]")

    def on_trial(self, trial: TrialResult) -> None:
        if trial.success:
            self._passed += 1
        else:
            self._failed += 1
            if len(self.failures) < MAX_FAILURES_SHOWN:
                self.failures.append(trial)
        kpi_errors = kpi_error_messages(trial)
        if kpi_errors:
            self.kpi_error_count += 1
            if len(self.kpi_errors) < MAX_FAILURES_SHOWN:
                self.kpi_errors.append(trial)
        if self.verbose:
            mark = "[green]PASS[/green]" if trial.success else "[red]FAIL[/red]"
            why = trial.error or (trial.grading.reason if trial.grading else "")
            self.console.print(
                f"{mark} #{trial.index} {escape(trial.description or '')} "
                f"[dim]{escape(trial.provider_label)}[/dim] {escape(_short(why, 100))}"
            )
            for message in kpi_errors:
                self.console.print(f"  [yellow]KPI error:[/yellow] {escape(_short(message, 200))}")
        if self._progress is not None:
            self._progress.update(self._task, advance=1, passed=self._passed, failed=self._failed)


def kpi_error_messages(trial: TrialResult) -> list[str]:
    """Why the trial's KPIs could not be computed (`KPI "quality": unknown variable ...`)."""
    errors = (trial.kpis or {}).get("errors") or {}
    return [str(message) for message in errors.values()] if isinstance(errors, dict) else []


def print_kpi_errors(console: Console, trials: list[TrialResult], count: int) -> None:
    """The trials whose KPIs errored (each counts as 0 in the KPI score), with the reason."""
    if not trials:
        return
    console.print(
        f"[yellow]KPI errors[/yellow] on {count} trial(s) (an erroring KPI counts as 0)"
        + (f"; first {len(trials)}:" if count > len(trials) else ":")
    )
    for trial in sorted(trials, key=lambda t: t.index):
        name = trial.description or f"case {trial.case_index}"
        for message in kpi_error_messages(trial):
            console.print(
                f"  [yellow]![/yellow] {escape(name)} "
                f"[dim]({escape(_short(trial.prompt_label, 40))} x "
                f"{escape(trial.provider_label)})[/dim]: {escape(_short(message, 300))}"
            )


def _print_spend_and_kpis(console: Console, summary: dict[str, Any]) -> None:
    """Judge spend apart from the task's, and the weighted KPI score with its gate."""
    if summary.get("judge_tokens") or summary.get("judge_cost"):
        console.print(
            f"Cost: task {summary.get('cost', 0.0):.6f} + judges {summary['judge_cost']:.6f}"
            f" = {summary.get('total_cost', 0.0):.6f} USD"
            f" [dim](judge tokens {summary.get('judge_tokens', 0):,})[/dim]"
        )
    if summary.get("grading_errors"):
        console.print(
            f"[yellow]{summary['grading_errors']} trial(s) with an assertion that could not be"
            " checked[/yellow] (code that threw, an unreadable judge reply or a failed judge"
            " call: see the reasons below)"
        )
    kpi = summary.get("kpi")
    if kpi:
        score = "n/a" if kpi.get("score") is None else f"{kpi['score']:.3f}"
        values = ", ".join(
            f"{escape(name)} {'n/a' if v is None else f'{v:.3f}'}"
            for name, v in (kpi.get("values") or {}).items()
        )
        line = f"KPI score {score} [dim]({values})[/dim]"
        if kpi.get("threshold") is not None:
            verdict = "[green]met[/green]" if kpi.get("passed") else "[red]not met[/red]"
            line += f"; threshold {kpi['threshold']:g} {verdict}"
        console.print(line)


def print_summary(
    console: Console,
    summary: dict[str, Any],
    failures: list[TrialResult],
    *,
    kpi_errors: list[TrialResult] | None = None,
    kpi_error_count: int = 0,
    table: bool = True,
) -> None:
    if table:
        _print_table(console, summary)
    _print_spend_and_kpis(console, summary)
    print_kpi_errors(console, kpi_errors or [], max(kpi_error_count, len(kpi_errors or [])))
    _print_failures_and_totals(console, summary, failures)


def _print_table(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="Results", title_justify="left")
    for column in (
        "prompt",
        "provider",
        "pass rate",
        "passed",
        "failed",
        "errors",
        "mean score",
        "tokens",
        "cost (USD)",
        "p50 ms",
        "p95 ms",
    ):
        if column in ("prompt", "provider"):
            # One line per column: promptfoo-style labels ("v2: prompts/a.txt: You are…") are long.
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=36)
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for pair in summary.get("pairs", []):
        latency = pair["latency_ms"]
        cost = "?" if pair["cost_unknown"] and not pair["cost"] else f"{pair['cost']:.6f}"
        table.add_row(
            escape(_short(pair["prompt_label"], 40)),
            escape(_short(pair["provider_label"], 30)),
            f"{100 * pair['pass_rate']:.1f}%",
            str(pair["passed"]),
            str(pair["failed"]),
            str(pair["errors"]),
            f"{pair['mean_score']:.3f}",
            f"{pair['tokens']['total']:,}",
            cost,
            _ms(latency["p50"]),
            _ms(latency["p95"]),
        )
    console.print(table)


def _print_failures_and_totals(
    console: Console, summary: dict[str, Any], failures: list[TrialResult]
) -> None:
    if failures:
        console.print(f"[bold red]Failures[/bold red] (first {len(failures)}):")
        for trial in failures:
            why = trial.error or (trial.grading.reason if trial.grading else "")
            name = trial.description or f"case {trial.case_index}"
            console.print(
                f"  [red]✗[/red] {escape(name)} [dim]({escape(_short(trial.prompt_label, 40))} x "
                f"{escape(trial.provider_label)})[/dim]: {escape(_short(why, 300))}"
            )
    flaky = summary.get("flaky") or []
    if flaky:
        console.print(
            f"[yellow]{len(flaky)} flaky case(s): verdict differs across samples.[/yellow]"
        )
    total, passed = summary.get("total", 0), summary.get("passed", 0)
    planned = summary.get("planned")
    if summary.get("status") == "cancelled" and planned is not None:
        # Otherwise "4/4 passed" reads as a complete success.
        console.print(f"[yellow]Cancelled: {total} of {planned} planned trials finished.[/yellow]")
    console.print(
        f"[bold]{passed}/{total} passed[/bold] "
        f"({100 * summary.get('pass_rate', 0):.1f}%), {summary.get('failed', 0)} failed, "
        f"{summary.get('errors', 0)} errors, cost ${summary.get('cost', 0):.6f}, "
        f"{summary.get('duration_s', 0):.2f}s"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
