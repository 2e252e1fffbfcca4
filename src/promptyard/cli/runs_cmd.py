"""`promptyard runs list|show` and `promptyard export`: read stored runs."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from promptyard.core.types import TrialResult
    from promptyard.store import Store

runs_app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True)

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: the project's SQLite).")
]
ProjectOption = Annotated[
    Path, typer.Option("-p", "--project", help="Project folder whose store to read.")
]


@contextlib.contextmanager
def open_store(database_url: str | None, project: Path) -> Iterator[Store]:
    from promptyard.cli.render import print_error
    from promptyard.errors import PromptyardError
    from promptyard.settings import load_settings
    from promptyard.store import Store, default_database_url

    url = database_url or load_settings().database_url or default_database_url(str(project))
    try:
        store = Store.open(url)
    except PromptyardError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    try:
        yield store
    except PromptyardError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    finally:
        store.close()


@runs_app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option("-n", "--limit")] = 20,
    database_url: DbOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Stored runs, newest first."""
    from rich.table import Table

    from promptyard.cli import render

    with open_store(database_url, project) as store:
        runs = store.list_runs(limit=limit)
    table = Table(title="Runs", title_justify="left")
    for column in ("id", "created", "status", "description", "trials", "pass rate", "cost"):
        # Ids and dates are what users copy: never wrap or cut them.
        table.add_column(column, no_wrap=column != "description")
    for run in runs:
        summary = run.summary or {}
        table.add_row(
            run.id[:8],
            run.created_at[:19].replace("T", " "),
            run.status,
            run.description or "",
            str(run.trial_count),
            f"{100 * summary['pass_rate']:.1f}%" if "pass_rate" in summary else "-",
            f"${summary.get('cost', 0):.6f}" if summary else "-",
        )
    console = render.make_console()
    if not runs:
        console.print("No runs yet. Start one with `promptyard eval`.")
        return
    console.print(table)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of it.")],
    database_url: DbOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """One run's summary and its failures."""
    from promptyard.cli import render

    console = render.make_console()
    with open_store(database_url, project) as store:
        run = store.get_run(run_id)
        failures: list[TrialResult] = []
        kpi_errors: list[TrialResult] = []
        kpi_error_count = 0
        for t in store.iter_trials(run.id):
            if not t.success and len(failures) < render.MAX_FAILURES_SHOWN:
                failures.append(t)
            if render.kpi_error_messages(t):
                kpi_error_count += 1
                if len(kpi_errors) < render.MAX_FAILURES_SHOWN:
                    kpi_errors.append(t)
    console.print(f"Run [bold]{run.id}[/bold]  {run.status}  {run.created_at}")
    if run.description:
        console.print(run.description)
    render.print_summary(
        console, run.summary or {}, failures, kpi_errors=kpi_errors, kpi_error_count=kpi_error_count
    )


def export_command(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix of it.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="json, jsonl, csv, yaml, txt, md, html or junit."),
    ] = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
    database_url: DbOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Export a stored run (format from --format or the output file's extension)."""
    from promptyard.cli.render import print_error
    from promptyard.reports.export import FORMATS, export_run, format_for_path

    try:
        chosen = fmt or (format_for_path(output) if output else "json")
    except ValueError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    if chosen not in FORMATS:
        print_error(f"unknown format {chosen!r} (use {', '.join(FORMATS)})")
        raise typer.Exit(1)
    with open_store(database_url, project) as store:
        run = store.get_run(run_id)
        try:
            export_run(run, store.iter_trials(run.id), output or "-", chosen)
            sys.stdout.flush()  # a closed pipe must fail here, not in the exit-time flush
        except BrokenPipeError:  # `promptyard export X | head`: the reader has had enough
            _silence_stdout()
        except OSError as exc:
            print_error(f"cannot write {output!r}: {exc}")
            raise typer.Exit(1) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
