"""`promptyard push` / `pull`: a project's prompts between its files (in git) and a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

EXIT_ERROR = 1
UrlOption = Annotated[
    str | None, typer.Option("--url", help="Server root URL (PROMPTYARD_URL, else local).")
]
TokenOption = Annotated[str | None, typer.Option("--token", help="API token (PROMPTYARD_TOKEN).")]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Project name on the server (folder name).")
]


def push_command(
    directory: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    url: UrlOption = None,
    token: TokenOption = None,
    project: ProjectOption = None,
) -> None:
    """Send the project's prompts (new versions only where they changed), its test cases
    (dataset `tests`) and its profiles to the server."""
    from promptyard_client import Client
    from promptyard_client.errors import NotFoundError
    from promptyard_client.errors import PromptyardError as ClientError

    from promptyard.cli import render
    from promptyard.errors import PromptyardError
    from promptyard.library import load_spec
    from promptyard.project.snapshot import DATASET, snapshot

    try:
        snap = snapshot(load_spec(directory), name=project or directory.resolve().name)
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    try:
        with Client(base_url=url or "http://127.0.0.1:6969", token=token) as client:
            for name, template in snap.prompts.items():
                try:
                    client.get_prompt(name, project=snap.name)
                except NotFoundError:
                    client.create_prompt(name, template, project=snap.name, message="push")
                    typer.echo(f"prompt {name}: created (version 1)")
                    continue
                version = client.create_prompt_version(name, template, project=snap.name,
                                                       message="push")  # fmt: skip
                typer.echo(f"prompt {name}: version {version.version}")
            try:
                client.get_dataset(DATASET, project=snap.name)
                client.upload_dataset(json.dumps(snap.rows).encode(), DATASET,
                                      filename="tests.json", project=snap.name)  # fmt: skip
            except NotFoundError:
                client.create_dataset(DATASET, snap.rows, project=snap.name)
            typer.echo(f"dataset {DATASET}: {len(snap.rows)} rows")
    except ClientError as exc:
        render.print_error(f"push failed: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    for why in snap.skipped:
        render.print_error(f"not pushed: {why}")


def pull_command(
    directory: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    label: Annotated[
        str, typer.Option("--label", help="Which version to write: a label, or `latest`.")
    ] = "production",
    url: UrlOption = None,
    token: TokenOption = None,
    project: ProjectOption = None,
) -> None:
    """Write the project's prompts from the server into prompts/NAME.txt (text) or
    prompts/NAME.json (chat messages), at `label` (prompts without it are skipped)."""
    from promptyard_client import Client
    from promptyard_client.errors import NotFoundError
    from promptyard_client.errors import PromptyardError as ClientError

    from promptyard.cli import render

    name_on_server = project or directory.resolve().name
    out_dir = directory / "prompts"
    try:
        with Client(base_url=url or "http://127.0.0.1:6969", token=token) as client:
            prompts = client.list_prompts(project=name_on_server, limit=500).items
            if not prompts:
                render.print_error(f"no prompts in project {name_on_server!r} on the server")
                raise typer.Exit(EXIT_ERROR)
            out_dir.mkdir(parents=True, exist_ok=True)
            for prompt in prompts:
                try:
                    version = client.get_deployed_prompt(prompt.name, label, project=name_on_server)
                except NotFoundError:
                    typer.echo(f"prompt {prompt.name}: no {label!r} version, skipped")
                    continue
                template = version.template
                if isinstance(template, str):
                    path, text = out_dir / f"{prompt.name}.txt", template
                else:
                    path, text = out_dir / f"{prompt.name}.json", json.dumps(template, indent=2)
                changed = not path.exists() or path.read_text(encoding="utf-8") != text
                path.write_text(text, encoding="utf-8")
                state = "written" if changed else "unchanged"
                typer.echo(f"prompt {prompt.name}@{version.version} -> {path} ({state})")
    except ClientError as exc:
        render.print_error(f"pull failed: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
