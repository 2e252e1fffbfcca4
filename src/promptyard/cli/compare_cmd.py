"""`promptyard compare RUN_A RUN_B`: what B fixed and broke relative to A, and does it matter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from promptyard.cli.runs_cmd import DbOption, ProjectOption, open_store

if TYPE_CHECKING:
    from rich.console import Console

    from promptyard.reports.compare import Comparison

MAX_REGRESSIONS_SHOWN = 10


def compare_command(
    run_a: Annotated[str, typer.Argument(help="The baseline run: id or a unique prefix.")],
    run_b: Annotated[str, typer.Argument(help="The candidate run: id or a unique prefix.")],
    database_url: DbOption = None,
    project: ProjectOption = Path("."),
    alpha: Annotated[
        float, typer.Option("--alpha", help="Significance level for McNemar's test.")
    ] = 0.05,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="Exit 1 when B regresses more cases than it improves and McNemar's test is "
            "significant at --alpha.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Only this prompt (label or id) of both runs.")
    ] = None,
    prompt_a: Annotated[
        str | None, typer.Option("--prompt-a", help="Only this prompt (label or id) of run A.")
    ] = None,
    prompt_b: Annotated[
        str | None, typer.Option("--prompt-b", help="Only this prompt (label or id) of run B.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only this provider (label or id), both runs.")
    ] = None,
    provider_a: Annotated[
        str | None, typer.Option("--provider-a", help="Only this provider (label or id) of A.")
    ] = None,
    provider_b: Annotated[
        str | None, typer.Option("--provider-b", help="Only this provider (label or id) of B.")
    ] = None,
) -> None:
    """Compare two runs case by case: paired by case, prompt label, provider label and sample,
    except that two runs of one prompt and one provider each pair by case (whatever their
    labels). Give the same run twice with --prompt-a and --prompt-b to compare two of its
    prompts."""
    from promptyard.cli import render
    from promptyard.reports.compare import compare_runs

    if not 0.0 < alpha < 1.0:
        render.print_error(f"--alpha must be between 0 and 1, got {alpha}")
        raise typer.Exit(1)
    with open_store(database_url, project) as store:
        a = store.get_run(run_a)
        b = store.get_run(run_b)
        try:
            result = compare_runs(
                store.iter_trials(a.id),
                store.iter_trials(b.id),
                run_a=a.id,
                run_b=b.id,
                alpha=alpha,
                prompt_a=prompt_a or prompt,
                prompt_b=prompt_b or prompt,
                provider_a=provider_a or provider,
                provider_b=provider_b or provider,
            )
        except ValueError as exc:
            render.print_error(exc)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print(render.make_console(), result)
    if fail_on_regression and result.regresses and result.significant:
        raise typer.Exit(1)


def _print(console: Console, c: Comparison) -> None:
    from rich.table import Table

    from promptyard.cli.render import escape
    from promptyard.reports.compare import format_p

    console.print(f"A = [bold]{c.run_a}[/bold]{_chosen(c, 'a')}\n"
                  f"B = [bold]{c.run_b}[/bold]{_chosen(c, 'b')}")  # fmt: skip
    if "prompt_label" not in c.key or "provider_label" not in c.key:
        how = ("case: each side has one prompt and one provider" if len(c.key) == 2
               else ", ".join(c.key))  # fmt: skip
        console.print(f"[dim]Paired by {how}.[/dim]")
    table = Table(title="Comparison (B vs A)", title_justify="left")
    headers = ("prompt", "provider", "paired", "improved", "regressed", "unchanged")
    for column in (*headers, "only A", "only B", "McNemar", "Δ mean score [95% CI]"):
        if column in ("prompt", "provider"):
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=36)
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for g in c.groups:
        s = g.score
        delta = "-" if s is None else f"{s.mean_diff:+.3f} [{s.low:+.3f}, {s.high:+.3f}]"
        table.add_row(
            escape(g.prompt_label),
            escape(g.provider_label),
            str(g.paired),
            str(g.improved),
            str(g.regressed),
            str(g.unchanged),
            str(g.only_a),
            str(g.only_b),
            format_p(g.mcnemar.p_value) if g.paired else "-",
            delta,
        )
    console.print(table)
    style = "red" if c.regresses and c.significant else "bold"
    console.print(f"[{style}]{escape(c.sentence)}[/{style}]")
    if c.regressions:
        shown = c.regressions[:MAX_REGRESSIONS_SHOWN]
        console.print(f"[bold red]Regressed[/bold red] ({len(shown)} of {len(c.regressions)}):")
        for r in shown:
            console.print(
                f"  [red]✗[/red] {escape(r.name)} [dim]({escape(r.prompt_label)} x "
                f"{escape(r.provider_label)}, sample {r.sample})[/dim]"
            )
    for side, refs in (("A", c.only_in_a), ("B", c.only_in_b)):
        if refs:
            names = ", ".join(escape(r.name) for r in refs[:MAX_REGRESSIONS_SHOWN])
            more = f", and {len(refs) - MAX_REGRESSIONS_SHOWN} more" if len(refs) > 10 else ""
            console.print(f"[yellow]Only in {side}:[/yellow] {names}{more}")


def _chosen(c: Comparison, side: str) -> str:
    from promptyard.cli.render import escape

    parts = [f"{what} {c.selected[f'{what}_{side}']}" for what in ("prompt", "provider")
             if c.selected.get(f"{what}_{side}")]  # fmt: skip
    return f" [dim]({escape(', '.join(parts))})[/dim]" if parts else ""
