"""`promptyard eval`: run a config, show progress and a summary, keep and export the run."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_FAILED_TESTS = 100  # promptfoo's exit code when any test fails
EXIT_ERROR = 1
EXIT_CANCELLED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def eval_command(
    config: Annotated[
        Path | None,
        typer.Option("-c", "--config", help="Config file or project folder (default: here)."),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option("-j", "--max-concurrency", help="Calls in flight at once.")
    ] = None,
    repeat: Annotated[
        int | None, typer.Option("--repeat", help="Samples per case (flaky cases are flagged).")
    ] = None,
    filter_pattern: Annotated[
        str | None, typer.Option("--filter-pattern", help="Only tests whose description matches.")
    ] = None,
    filter_first_n: Annotated[
        int | None, typer.Option("-n", "--filter-first-n", help="Only the first N tests.")
    ] = None,
    filter_providers: Annotated[
        str | None,
        typer.Option(
            "--filter-providers",
            "--filter-targets",
            help="Only providers whose id or label matches this regex.",
        ),
    ] = None,
    filter_failing: Annotated[
        str | None,
        typer.Option(
            "--filter-failing",
            help="Only the tests that failed in a results file (promptfoo JSON) or a run id.",
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="KEY=VALUE set in every test's vars (repeatable)."),
    ] = None,
    vars_file: Annotated[
        Path | None,
        typer.Option(
            "-v", "--vars", "-t", "--tests", help="Tests from a CSV, JSON, JSONL or YAML file."
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", "--env-path", help="Load environment variables (dotenv)."),
    ] = None,
    delay: Annotated[
        int | None, typer.Option("--delay", help="Milliseconds between calls (forces -j 1).")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Call providers even for cached answers.")
    ] = False,
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "-o",
            "--output",
            help="Write results to FILE (.json, .jsonl, .yaml, .csv, .txt, .md, .html, "
            ".xml for JUnit).",
        ),
    ] = None,
    pass_rate_threshold: Annotated[
        float | None,
        typer.Option(
            "--pass-rate-threshold",
            help="Exit 0 when at least this % of trials pass (0-100; default "
            "$PROMPTFOO_PASS_RATE_THRESHOLD).",
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: project SQLite).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    kpi_threshold: Annotated[
        float | None,
        typer.Option(
            "--kpi-threshold",
            help="Gate on the weighted KPI score: exit 0 when the run's score is at least this.",
        ),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", "--no-progress-bar", help="No progress bar.")
    ] = False,
    no_table: Annotated[bool, typer.Option("--no-table", help="No results table.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print every trial.")] = False,
) -> None:
    """Evaluate prompts x providers x test cases and print what passed, cost and latency."""
    gc.disable()  # start-up allocates many long-lived objects: no collections until the run
    from promptyard.cli import render
    from promptyard.errors import PromptyardError
    from promptyard.library import EvalRequest, evaluate_async, load_spec
    from promptyard.reports.export import format_for_path

    console = render.make_console()
    from promptyard.cli import promptfoo_flags as pf

    try:
        if env_file is not None:
            pf.load_dotenv(env_file, override=True)  # promptfoo: the file given wins
        var_overrides = pf.parse_var_flags(var or [])
        if pass_rate_threshold is None:
            pass_rate_threshold = pf.env_pass_rate_threshold()
        failed_code = pf.env_failed_test_exit_code()
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    for path in output or []:
        try:
            format_for_path(path)
        except ValueError as exc:
            render.print_error(exc)
            raise typer.Exit(EXIT_ERROR) from None
    if pass_rate_threshold is not None and not 0 <= pass_rate_threshold <= 100:
        render.print_error("--pass-rate-threshold must be between 0 and 100")
        raise typer.Exit(EXIT_ERROR)
    if filter_pattern:
        import re

        try:
            re.compile(filter_pattern)
        except re.error as exc:
            render.print_error(f"--filter-pattern {filter_pattern!r} is not a valid regex: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
    request = EvalRequest(
        max_concurrency=max_concurrency,
        repeat=repeat,
        delay_ms=delay,
        cache=False if no_cache else None,
        filter_pattern=filter_pattern,
        filter_first_n=filter_first_n,
        description=description,
        kpi_threshold=kpi_threshold,
    )
    try:
        if vars_file is not None:
            data, path = pf.config_with_tests(config or Path.cwd(), vars_file)
            if path.name.startswith("promptfooconfig"):  # as load_config decides
                request.errored_tests = True
            spec = load_spec(data, base_dir=path.parent, request=request)
            spec.config_path = str(path)
        else:
            spec = load_spec(config or Path.cwd(), request=request)
        if filter_failing:
            failed = pf.failing_vars(filter_failing, database_url=database_url,
                                     base_dir=spec.base_dir)  # fmt: skip
            pf.keep_failing(spec, failed)
            if not spec.tests:
                console.print(f"No failed test in {render.escape(filter_failing)}: nothing to run.")
                raise typer.Exit(0)
        if filter_providers:
            pf.filter_providers(spec, filter_providers)
        pf.apply_vars(spec, var_overrides)
        progress = render.TrialProgress(console, enabled=not no_progress, verbose=verbose)
        # Everything loaded so far lives until exit: move it out of the collector's sight, so
        # that collections during the run do not walk the imported modules (~8% less CPU).
        gc.freeze()
        gc.enable()
        result = asyncio.run(_run(spec, database_url, progress, evaluate_async))
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    except KeyboardInterrupt:  # Ctrl-C while loading, before the run (and its handler) began
        render.print_error("interrupted before the run started; nothing was stored")
        raise typer.Exit(EXIT_CANCELLED) from None
    render.print_summary(
        console,
        result.summary,
        progress.failures,
        kpi_errors=progress.kpi_errors,
        kpi_error_count=progress.kpi_error_count,
        table=not no_table,
    )
    console.print(f"Run [bold]{result.run_id}[/bold] ({result.status}) saved.")
    for path in output or []:
        try:
            _export(result.database_url, result.run_id, path)
        except (OSError, PromptyardError) as exc:
            render.print_error(f"cannot write {str(path)!r}: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
        console.print(f"Wrote {render.escape(str(path))}")
    raise typer.Exit(_exit_code(result.summary, result.status, pass_rate_threshold, failed_code))


async def _run(spec: Any, database_url: str | None, progress: Any, evaluate_async: Any) -> Any:
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if cancel.is_set():  # a second Ctrl-C: stop waiting for in-flight work
            sys.exit(EXIT_CANCELLED)
        progress.note("Stopping: finished results are kept. Ctrl-C again to quit now.")
        cancel.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no handler
        loop.add_signal_handler(signal.SIGINT, stop)
    with progress.running(total=_planned(spec)):
        return await evaluate_async(
            None,
            spec=spec,
            database_url=database_url,
            on_trial=progress.on_trial,
            cancel=cancel,
            keep_trials=False,
        )


def _planned(spec: Any) -> int:
    from promptyard.core.plan import trial_count

    return trial_count(spec)


def _export(database_url: str, run_id: str, path: Path) -> None:
    from promptyard.reports.export import export_run, format_for_path
    from promptyard.store import Store

    store = Store.open(database_url)
    try:
        run = store.get_run(run_id)
        export_run(run, store.iter_trials(run.id), path, format_for_path(path))
    finally:
        store.close()


def _exit_code(
    summary: dict[str, Any],
    status: str,
    threshold: float | None,
    failed: int = EXIT_FAILED_TESTS,
) -> int:
    """0, `failed` (100 unless $PROMPTFOO_FAILED_TEST_EXIT_CODE says) or 130 when cancelled."""
    if status == "cancelled":
        return EXIT_CANCELLED
    kpi = summary.get("kpi") or {}
    if kpi.get("threshold") is not None:
        # The KPI score is the gate (with the pass-rate threshold too, when one is given).
        if not kpi.get("passed"):
            return failed
        if threshold is None:
            return 0
    total = summary.get("total", 0)
    passed = summary.get("passed", 0)
    if threshold is not None:
        rate = 100.0 * passed / total if total else 0.0
        return 0 if rate >= threshold else failed
    return 0 if passed == total else failed
