"""The `promptyard` command. Heavy modules are imported inside commands to keep --help fast."""

from __future__ import annotations

import typer

from promptyard.cli import catalog_cmd, eval_cmd, init_cmd, runs_cmd

app = typer.Typer(
    name="promptyard",
    help="Test, tune and ship LLM prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("eval")(eval_cmd.eval_command)
app.command("init")(init_cmd.init_command)
app.command("export")(runs_cmd.export_command)
app.add_typer(runs_cmd.runs_app, name="runs")
app.command("assertions")(catalog_cmd.assertions_command)
app.command("providers")(catalog_cmd.providers_command)


def main() -> None:
    app()
