"""The `promptyard` command. Heavy modules are imported inside commands to keep --help fast."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from promptyard.cli import (
    catalog_cmd,
    compare_cmd,
    eval_cmd,
    init_cmd,
    jobs_cmd,
    optimize_cmd,
    runs_cmd,
    schema_cmd,
    serve_cmd,
    sync_cmd,
    token_cmd,
)

app = typer.Typer(
    name="promptyard",
    help="Test, tune and ship LLM prompts.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from promptyard._version import __version__

        print(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Test, tune and ship LLM prompts."""
    if not any(arg.split("=")[0] in ("--env-file", "--env-path") for arg in sys.argv[1:]):
        _load_dotenv()


def _load_dotenv() -> None:
    """`.env` in the working folder, as promptfoo loads it: never over a variable already set
    (with --env-file, promptfoo loads that file instead)."""
    if os.path.isfile(".env"):
        from promptyard.cli.promptfoo_flags import load_default_dotenv

        load_default_dotenv()


app.command("eval")(eval_cmd.eval_command)
app.command("init")(init_cmd.init_command)
app.command("schema")(schema_cmd.schema_command)
app.command("optimize")(optimize_cmd.optimize_command)
app.command("export")(runs_cmd.export_command)
app.add_typer(runs_cmd.runs_app, name="runs")
app.command("compare")(compare_cmd.compare_command)
app.command("assertions")(catalog_cmd.assertions_command)
app.command("providers")(catalog_cmd.providers_command)
app.command("serve")(serve_cmd.serve_command)
app.add_typer(token_cmd.token_app, name="token")
app.command("export-job")(jobs_cmd.export_job_command)
app.command("push")(sync_cmd.push_command)
app.command("pull")(sync_cmd.pull_command)


def main() -> None:
    """Console-script entry point.

    Every command closes its store, files and child processes before it returns, so the
    process then exits at once instead of tearing down every imported module, which costs
    0.2-0.3 s after an eval (the price catalog alone holds thousands of objects).
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
