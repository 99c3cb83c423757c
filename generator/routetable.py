"""The Traefik route table (`tenantforge check --routes`) as a Rich table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from checks.integrity.routes import RouteRow


def route_table(rows: Sequence[RouteRow]) -> Table:
    table = Table(title="routes proven in Traefik", title_justify="left")
    for column in ("env", "host", "check", "expected", "got", "via", ""):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.env or "-",
            row.host,
            row.check,
            row.expected,
            row.got,
            row.router or "-",
            "[green]ok[/green]" if row.ok else f"[red]{row.rule_id}[/red]",
        )
    return table
