"""``physlens systems`` and ``physlens probes``: what is built in."""

from __future__ import annotations

import typer

from physlens.cli import print_json


def register(app: typer.Typer) -> None:
    """Add the ``systems`` and ``probes`` commands to ``app``.

    Example:
        >>> import typer
        >>> app = typer.Typer()
        >>> register(app)
    """

    @app.command()
    def systems(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List the built-in physical systems with a one-line description."""
        from rich.console import Console
        from rich.table import Table

        from physlens.systems import list_systems

        rows = list_systems()
        if json_out:
            print_json({"systems": [{"name": n, "category": c, "description": d} for n, c, d in rows]})
            return
        table = Table(title="physlens systems")
        for col in ("name", "category", "description"):
            table.add_column(col)
        for row in rows:
            table.add_row(*row)
        Console().print(table)

    @app.command()
    def probes(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """List the probes that read a trained network."""
        from rich.console import Console
        from rich.table import Table

        from physlens.probes import list_probes

        rows = list_probes()
        if json_out:
            print_json({"probes": [{"name": n, "description": d} for n, d in rows]})
            return
        table = Table(title="physlens probes")
        table.add_column("name")
        table.add_column("description")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
