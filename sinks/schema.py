"""The ClickHouse schema: apply `sql/ddl.sql` and load the branch catalog.

`ddl.sql` is the single definition of the tables and views, identical for chDB and ClickHouse
servers. Its statements are separated by lines holding only `;` and every one of them is idempotent
(`IF NOT EXISTS` / `OR REPLACE`), so `ensure` can run at every start.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Iterable, Mapping

from sinks.clickhouse import Client

TABLES = (
    "branches", "tickets", "ticket_stages", "alerts", "branch_minute", "ratings", "dead_letters",
    "late_events", "job_stats",
)


def sql_text(name: str) -> str:
    """The text of a file under `sinks/sql/` (e.g. ``ddl.sql``, ``q1.sql``)."""
    return resources.files("sinks").joinpath("sql", name).read_text(encoding="utf-8")


def split_statements(text: str) -> list[str]:
    """Split on lines holding only `;`; drop pieces that hold nothing but comments."""
    statements, current = [], []
    for line in text.splitlines():
        if line.strip() == ";":
            statements.append("\n".join(current))
            current = []
        else:
            current.append(line)
    statements.append("\n".join(current))
    out = []
    for stmt in statements:
        code = [ln for ln in stmt.splitlines() if ln.strip() and not ln.strip().startswith("--")]
        if code:
            out.append(stmt.strip())
    return out


def ddl_statements() -> list[str]:
    return split_statements(sql_text("ddl.sql"))


def ensure(client: Client) -> None:
    """Create the database, tables and views that are missing (safe to run any number of times)."""
    for stmt in ddl_statements():
        if client.database != "sitcen":
            stmt = stmt.replace("CREATE DATABASE IF NOT EXISTS sitcen", f"CREATE DATABASE IF NOT EXISTS {client.database}")
        client.command(stmt)


def load_branches(client: Client, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert the branch catalog (rows with the columns of `sitcen.branches`); returns the row count.

    `branches` is a ReplacingMergeTree keyed by `branch_id`, so loading the catalog again replaces
    the rows instead of adding copies.
    """
    return client.insert_rows("branches", list(rows))


def has_data(client: Client) -> bool:
    """Whether the store holds any pipeline output (tickets or branch-minutes)."""
    if not client.query_value("SELECT count() FROM system.databases WHERE name = {db:String}", {"db": client.database}):
        return False
    return bool(
        client.query_value("SELECT (SELECT count() FROM sitcen.tickets) + (SELECT count() FROM sitcen.branch_minute)")
    )


def compact(client: Client, tables: Iterable[str] = TABLES) -> None:
    """Merge each table down to its latest versions (``OPTIMIZE … FINAL``).

    Not needed for correctness — every reader uses FINAL — but FINAL over one merged part is
    several times cheaper than over the many small parts a run's batched loads leave behind. An
    embedded store merges only while a process holds it, so the end of `sitcen run` is the moment
    to call this (about a second for a national day).
    """
    for table in tables:
        client.command(f"OPTIMIZE TABLE sitcen.{table} FINAL")
