"""The ``hongyan`` command."""

from __future__ import annotations

import importlib
import importlib.util

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

# Command groups of the domains: (module under hongyan.cli, command name).
GROUPS = (
    ("numbers", "numbers"),
    ("review", "review"),
    ("words", "words"),
    ("messages", "message"),
    ("billing", "billing"),
    ("limits", "limits"),
    ("connectors", "connector"),
    ("routes", "route"),
    ("webhooks", "webhook"),
    ("smpp", "smpp"),
)
for module_name, command in GROUPS:
    full = f"hongyan.cli.{module_name}"
    if importlib.util.find_spec(full) is not None:
        app.add_typer(importlib.import_module(full).app, name=command)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
