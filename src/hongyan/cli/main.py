"""The ``hongyan`` command."""

from __future__ import annotations

import typer

from hongyan import __version__
from hongyan.cli import keys, server, system, tenants

app = typer.Typer(
    name="hongyan",
    help="Hongyan (鸿雁): a self-hostable SMS platform.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)
app.command()(server.run)
app.command()(server.serve)
app.command()(server.worker)
app.command("errors")(system.errors_command)
app.command("docs")(system.docs_command)
app.add_typer(system.db_app, name="db")
app.add_typer(tenants.app, name="tenant")
app.add_typer(keys.app, name="key")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
