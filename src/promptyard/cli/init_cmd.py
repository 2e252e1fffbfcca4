"""`promptyard init`: scaffold a runnable project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Create a project (promptyard.yaml, a prompt, test cases) that runs offline."""
    from importlib import resources

    from rich.console import Console

    console = Console()
    scaffold = resources.files("promptyard.cli") / "scaffold"
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in scaffold.iterdir() if p.is_file() and p.name[0] not in "._")
    clashes = [n for n in names if (directory / n).exists()]
    if clashes and not force:
        from promptyard.cli.render import print_error

        print_error(f"{', '.join(clashes)} already exist in {directory} (use --force to overwrite)")
        raise typer.Exit(1)
    for name in names:
        (directory / name).write_text((scaffold / name).read_text(encoding="utf-8"), "utf-8")
        console.print(f"created {directory / name}")
    # Editors complete and check promptyard.yaml against this (its first line points here).
    import json

    from promptyard.cli.schema_cmd import current_schema
    from promptyard.project.schema import SCHEMA_FILE

    (directory / SCHEMA_FILE).write_text(json.dumps(current_schema(), indent=2) + "\n", "utf-8")
    console.print(f"created {directory / SCHEMA_FILE}")
    ignore = directory / ".gitignore"
    lines = ignore.read_text("utf-8").splitlines() if ignore.exists() else []
    if ".promptyard/" not in lines:  # runs and the response cache stay out of version control
        ignore.write_text("\n".join([*lines, ".promptyard/"]) + "\n", "utf-8")
        console.print(f"{'updated' if lines else 'created'} {ignore}")
    console.print(f"\nNext: [bold]cd {directory} && promptyard eval[/bold]")
