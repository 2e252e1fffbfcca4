"""`promptyard assertions` and `promptyard providers`: what this installation can use."""

from __future__ import annotations

from typing import Annotated

import typer


def assertions_command(
    all_types: Annotated[
        bool, typer.Option("--all", help="Include types that need a grading model.")
    ] = False,
) -> None:
    """Assertion types, read from the scorer registry (the table docs/scorers.md shows)."""
    from rich.table import Table

    from promptyard.cli import render
    from promptyard.scorers import assertion_types

    table = Table(title="Assertion types (prefix any negatable one with not-)")
    for column in ("type", "negatable", "threshold", "needs a model", "description"):
        table.add_column(column)
    for entry in assertion_types():
        if entry.needs_model and not all_types:
            continue
        threshold = "yes" if entry.takes_threshold else ""
        if entry.default_threshold is not None:
            threshold = f"yes (default {entry.default_threshold:g})"
        table.add_row(
            entry.name,
            "yes" if entry.negatable else "",
            threshold,
            "yes" if entry.needs_model else "",
            entry.description,
        )
    render.make_console().print(table)


def providers_command() -> None:
    """Provider id prefixes this installation knows (`prefix:model`)."""
    from promptyard.cli import render
    from promptyard.providers import known_prefixes

    console = render.make_console()
    for prefix in known_prefixes():
        console.print(prefix)
