"""``physlens systems`` and ``physlens probes``: what physlens has (built in and from plug-ins).

``physlens systems`` lists every system with its parameters' defaults; ``physlens systems NAME``
lists one system's parameters with their types, allowed ranges and descriptions, all read from the
system's pydantic ``Params`` model; ``--json`` prints the same records.
"""

from __future__ import annotations

import typer

from physlens.cli import commands, print_json


def _systems(
    name: str = typer.Argument(None, help="a system: list its parameters (default: list every system)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List the physical systems (built-in and plug-ins) with their parameters, or one system's parameters."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from physlens.systems import list_systems, system_parameters

    rows = [(n, c, d) for n, c, d in list_systems() if name is None or n == name]
    if name is not None and not rows:
        system_parameters(name)  # raises the one-line "unknown system ... (did you mean ...)"
    records = [{"name": n, "category": c, "description": d, "parameters": system_parameters(n)} for n, c, d in rows]
    if json_out:
        print_json({"systems": records})
        return
    console = Console()
    if name is not None:
        rec = records[0]
        table = Table(title=escape(f"{rec['name']}: {rec['description']}"))
        for col in ("parameter", "type", "default", "allowed", "description"):
            table.add_column(col)
        for p in rec["parameters"]:
            table.add_row(*(escape(t) for t in (p["name"], p["type"], _show(p["default"]), p["allowed"],
                                                p["description"])))
        console.print(table)
        return
    table = Table(title="physlens systems (`physlens systems NAME` describes the parameters)")
    for col in ("name", "category", "description", "parameters (defaults)"):
        table.add_column(col)
    for rec in records:
        params = ", ".join(f"{p['name']}={_show(p['default'])}" for p in rec["parameters"])
        table.add_row(*(escape(t) for t in (rec["name"], rec["category"], rec["description"], params)))
    console.print(table)

def _probes(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
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


register = commands(_systems, _probes)


def _show(value) -> str:
    """A default value as a user would type it after ``--param NAME=``.

    Example:
        >>> _show([0.5, 1.5]), _show(None), _show("energy")
        ('[0.5, 1.5]', 'none', 'energy')
    """
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)
