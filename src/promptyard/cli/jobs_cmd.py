"""`promptyard export-job ID --dir D`: a job as files (manifest, events, summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

EXIT_ERROR = 1


def export_job_command(
    job_id: str,
    directory: Annotated[Path, typer.Option("--dir", help="Folder to write into.")],
    db: Annotated[str | None, typer.Option("--db", help="The server's database URL.")] = None,
) -> None:
    """Write manifest.json, events.jsonl (append-only: a second export adds only the events
    that came since) and summary.json (once the job has finished)."""
    from promptyard.cli import render
    from promptyard.cli.token_cmd import open_server_store
    from promptyard.errors import PromptyardError

    try:
        with open_server_store(db) as store:
            job = store.jobs.get_job(job_id)
            events_path = directory / "events.jsonl"
            last = _last_seq(events_path)
            events = store.jobs.events(job.id, after=last)
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    directory.mkdir(parents=True, exist_ok=True)
    data = job.to_dict()
    (directory / "manifest.json").write_text(
        json.dumps({k: v for k, v in data.items() if k != "summary"}, indent=2) + "\n"
    )
    with events_path.open("a", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event.to_dict()) + "\n")
    if job.summary is not None:
        (directory / "summary.json").write_text(json.dumps(job.summary, indent=2) + "\n")
    typer.echo(f"Job {job.id} ({job.status}): {len(events)} new event(s) in {events_path}")


def _last_seq(path: Path) -> int:
    """The seq of the last event already exported (0 for none)."""
    if not path.exists():
        return 0
    last = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                last = max(last, int(json.loads(line)["seq"]))
    return last
