"""`promptyard token create|list|revoke`: API tokens in the server's database (hashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from promptyard.store import Store

token_app = typer.Typer(help="API tokens for the server (stored hashed; shown once).",
                        no_args_is_help=True)  # fmt: skip
EXIT_ERROR = 1
DbOption = Annotated[str | None, typer.Option("--db", help="The server's database URL.")]


def open_server_store(db: str | None) -> Store:
    """The server's store, found as `promptyard serve` finds it."""
    from promptyard.server.factory import server_database_url
    from promptyard.settings import load_settings
    from promptyard.store import Store

    return Store.open(server_database_url(db, load_settings()))


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. ci.")],
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin.")] = "read",
    service: Annotated[bool, typer.Option("--service", help="A service-account token.")] = False,
    db: DbOption = None,
) -> None:
    """Create a token and print its secret (the only time it is shown)."""
    from promptyard.cli import render
    from promptyard.errors import PromptyardError

    if scope not in ("read", "write", "admin"):
        render.print_error("--scope must be read, write or admin")
        raise typer.Exit(EXIT_ERROR)
    try:
        with open_server_store(db) as store:
            record, secret = store.tokens.create(
                name, scopes=[scope], kind="service" if service else "personal"
            )
    except PromptyardError as exc:
        render.print_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(f"Created token {record.id} ({name}, {scope}). Its secret, shown only now:")
    typer.echo(secret)


@token_app.command("list")
def list_tokens(db: DbOption = None) -> None:
    """Tokens with their scopes and prefixes (never their secrets)."""
    with open_server_store(db) as store:
        for t in store.tokens.list():
            state = "revoked" if t.revoked_at else "active"
            typer.echo(f"{t.id}  {t.prefix}…  {t.name}  {','.join(t.scopes)}  {state}")


@token_app.command("revoke")
def revoke(token_id: str, db: DbOption = None) -> None:
    """Revoke a token: it stops working at once."""
    with open_server_store(db) as store:
        store.tokens.revoke(token_id)
    typer.echo(f"Revoked {token_id}")
