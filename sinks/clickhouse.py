"""One ClickHouse client for both worlds: the embedded engine (chDB) and ClickHouse servers.

Everything that talks to ClickHouse goes through `connect(dsn)`; the returned `Client` runs the same
DDL and the same question SQL whether the store is a directory on this machine or a server cluster.
clickhouse-connect (>= 1.12) does the work in both cases: a `chdb:` DSN selects its in-process chDB
backend, an `http(s):` DSN its HTTP client.

Accepted DSNs:

- ``chdb:///absolute/path`` — embedded store in that directory (created when missing);
- ``chdb://memory`` — embedded, in memory, gone when the process ends;
- ``http://user:password@host:port[/db]`` or ``https://…`` — a ClickHouse server (>= 24.8).

`None` means the default store, ``./.sitcen/store`` under the current directory.

chDB hosts one engine path per process and locks its directory against other processes, so a second
`sitcen` process on the same store gets a clear error instead of the engine's own message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import unquote, urlsplit

DATABASE = "sitcen"
DEFAULT_STORE = Path(".sitcen") / "store"
ACCEPTED_FORMS = (
    "chdb:///absolute/path (embedded store), chdb://memory (embedded, in memory), "
    "http(s)://user:password@host:port[/db] (ClickHouse server)"
)
INSERT_BATCH_ROWS = 100_000
UTC = dt.timezone.utc

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `sitcen.` in front of an identifier: the qualified table names in ddl.sql and the question SQL.
_QUALIFIED = re.compile(r"(?<![\w.`])sitcen\.(?=[A-Za-z_`])")


class ClickHouseError(RuntimeError):
    """A problem with the ClickHouse connection the person at the keyboard can act on."""


class DsnError(ClickHouseError, ValueError):
    """A DSN that is not one of the accepted forms."""


class StoreLockedError(ClickHouseError):
    """The embedded store directory is held by another process."""


class QueryError(ClickHouseError):
    """ClickHouse refused or failed a statement (the engine's message, first lines)."""


@dataclass(frozen=True)
class Dsn:
    """A parsed DSN. `kind` is ``chdb`` or ``http``; `path` is None for the in-memory store."""

    kind: str
    path: str | None = None
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    database: str = DATABASE

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    def display(self) -> str:
        """The DSN without its password, for messages and reports."""
        if self.kind == "chdb":
            return f"chdb://{self.path}" if self.path else "chdb://memory"
        scheme = "https" if self.secure else "http"
        user = f"{self.username}@" if self.username else ""
        db = f"/{self.database}" if self.database != DATABASE else ""
        return f"{scheme}://{user}{self.host}:{self.port}{db}"


def default_dsn(cwd: str | Path | None = None) -> str:
    """The embedded store under the current directory: ``chdb://<cwd>/.sitcen/store``."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    return f"chdb://{(base / DEFAULT_STORE).absolute()}"


def parse_dsn(dsn: str | None) -> Dsn:
    """Parse a DSN (None: the default store); raises DsnError naming the accepted forms."""
    text = default_dsn() if dsn is None else dsn.strip()

    def bad(problem: str) -> DsnError:
        return DsnError(f"bad ClickHouse DSN {text!r}: {problem}; accepted forms: {ACCEPTED_FORMS}")

    if not text:
        raise bad("empty")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme == "chdb":
        if parts.query or parts.fragment:
            raise bad("a chdb DSN takes no query or fragment")
        if parts.netloc in ("memory", ":memory:") and parts.path in ("", "/"):
            return Dsn(kind="chdb", path=None)
        if parts.netloc:
            raise bad("the store path must be absolute (three slashes: chdb:///path), or `memory`")
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise bad("the store path must be an absolute directory")
        return Dsn(kind="chdb", path=os.path.normpath(path))
    if scheme in ("http", "https"):
        if parts.query or parts.fragment:
            raise bad("query strings and fragments are not supported")
        if not parts.hostname:
            raise bad("no host")
        try:
            port = parts.port
        except ValueError:
            raise bad("the port is not a number") from None
        secure = scheme == "https"
        db = unquote(parts.path.strip("/")) or DATABASE
        if not _IDENT.match(db):
            raise bad(f"database {db!r} is not a plain identifier")
        return Dsn(
            kind="http",
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            secure=secure,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=db,
        )
    if not parts.scheme and text.startswith("/"):
        raise bad("a bare path is not a DSN; write chdb://" + text)
    raise bad(f"unknown scheme {parts.scheme!r}" if parts.scheme else "no scheme")


# ---------------------------------------------------------------------------------------------
# chDB: one engine path per process.

_engine_lock = threading.Lock()
_engine_path: str | None = None  # the store this process's chDB engine is bound to ("" = memory)
_engine_users = 0


def _store_key(d: Dsn) -> str:
    return os.path.realpath(d.path) if d.path else ""


def _check_not_locked(path: str) -> None:
    """Raise StoreLockedError when another process holds the store (ClickHouse flocks `status`)."""
    status = os.path.join(path, "status")
    try:
        fd = os.open(status, os.O_RDONLY)
    except FileNotFoundError:
        return
    except OSError:
        return  # let the engine report whatever this is
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(
                f"another sitcen process is using {path}; stop it or pass --clickhouse"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_chdb(d: Dsn):
    import clickhouse_connect

    global _engine_path, _engine_users
    key = _store_key(d)
    with _engine_lock:
        if _engine_users and _engine_path != key:
            where = _engine_path or "memory"
            raise ClickHouseError(
                f"this process already uses the embedded store {where}; chDB hosts one store per process "
                f"(close the other client first, or run in another process)"
            )
        if not _engine_users and key:
            os.makedirs(key, exist_ok=True)
            _check_not_locked(key)
        dsn = f"chdb://{key}" if key else "chdb://memory"
        try:
            raw = clickhouse_connect.get_client(dsn=dsn, tz_mode="aware")
        except Exception as exc:  # the engine's own message, made readable
            message = str(exc)
            if key and ("lock" in message.lower() or "EmbeddedServer" in message):
                raise StoreLockedError(
                    f"another sitcen process is using {key}; stop it or pass --clickhouse"
                ) from None
            raise ClickHouseError(f"cannot open the embedded store {key or 'memory'}: {message}") from None
        _engine_path = key
        _engine_users += 1
        return raw


def _release_chdb() -> None:
    global _engine_path, _engine_users
    with _engine_lock:
        _engine_users = max(0, _engine_users - 1)
        if not _engine_users:
            _engine_path = None


# ---------------------------------------------------------------------------------------------


def _to_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


class Client:
    """A thin wrapper over a clickhouse-connect client: the few operations sitcen needs.

    Table names in SQL are written qualified as ``sitcen.<table>``; when the DSN names another
    database (``http://…/db``), the client rewrites them so one server can host several instances.
    Datetimes come back timezone-aware in UTC on both backends.
    """

    def __init__(self, raw: Any, dsn: Dsn):
        self.raw = raw
        self.dsn = dsn
        self.database = dsn.database
        self._closed = False
        self._columns: dict[str, list[tuple[str, str]]] = {}

    # -- identity ------------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.dsn.embedded

    def __repr__(self) -> str:
        return f"Client({self.dsn.display()})"

    def sql(self, text: str) -> str:
        """Qualified names `sitcen.x` → `<database>.x` (identity for the default database)."""
        if self.database == DATABASE:
            return text
        return _QUALIFIED.sub(f"{self.database}.", text)

    def table(self, name: str) -> str:
        return f"{self.database}.{name}"

    # -- operations ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

        try:
            yield
        except DriverError as exc:
            text = str(exc).strip()
            lines = [ln for ln in text.splitlines() if ln.strip()][:3]
            raise QueryError(f"ClickHouse ({self.dsn.display()}): " + " ".join(lines)) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None) -> Any:
        """Run a statement that returns no rows (DDL, INSERT … SELECT)."""
        with self._errors():
            return self.raw.command(
                self.sql(sql), parameters=dict(params) if params else None, settings=dict(settings or {})
            )

    def query_rows(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a SELECT; one dict per row, datetimes as aware UTC."""
        names, rows = self.query_tuples(sql, params, settings)
        return [dict(zip(names, row)) for row in rows]

    def query_tuples(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Run a SELECT; (column names, rows as tuples) — cheaper than dicts for large results."""
        with self._errors():
            result = self.raw.query(
                self.sql(sql), parameters=dict(params) if params else None, settings=dict(settings or {})
            )
        names = list(result.column_names)
        rows = result.result_rows
        dt_cols = [i for i, t in enumerate(result.column_types) if "DateTime" in t.name]
        if not dt_cols:
            return names, [tuple(r) for r in rows]
        fixed = []
        for row in rows:
            row = list(row)
            for i in dt_cols:
                row[i] = _to_utc(row[i])
            fixed.append(tuple(row))
        return names, fixed

    def query_value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        _, rows = self.query_tuples(sql, params)
        return rows[0][0] if rows and rows[0] else None

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of the insertable columns of `sitcen.<table>`, cached."""
        if table not in self._columns:
            rows = self.query_rows(f"DESCRIBE TABLE sitcen.{table}")
            self._columns[table] = [
                (r["name"], r["type"]) for r in rows if r.get("default_type", "") not in ("MATERIALIZED", "ALIAS", "EPHEMERAL")
            ]
        return self._columns[table]

    def insert_rows(self, table: str, rows: Iterable[Mapping[str, Any]], batch_rows: int = INSERT_BATCH_ROWS) -> int:
        """Insert dict rows into `sitcen.<table>`, columnar, in batches.

        Keys that are not columns are an error; columns a row leaves out take their defaults (rows
        are grouped by the set of keys they carry). Datetime columns accept datetimes, epoch
        milliseconds, or strings (``YYYY-MM-DD HH:MM:SS.mmm`` UTC or ISO 8601).
        """
        types = dict(self.columns(table))
        total = 0
        for batch in _batches(rows, batch_rows):
            groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
            for row in batch:
                groups.setdefault(tuple(row.keys()), []).append(row)
            for keys, group in groups.items():
                unknown = [k for k in keys if k not in types]
                if unknown:
                    raise ClickHouseError(f"sitcen.{table} has no column(s) {', '.join(unknown)}")
                data = []
                for k in keys:
                    conv = _converter(types[k])
                    col = [row[k] for row in group]
                    data.append([conv(v) for v in col] if conv else col)
                with self._errors():
                    self.raw.insert(self.table(table), data, column_names=list(keys), column_oriented=True)
                total += len(group)
        return total

    def insert_raw(
        self, table: str, data: bytes | Iterable[bytes], fmt: str = "JSONEachRow", columns: Sequence[str] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Send already-formatted rows (e.g. JSON lines) straight to `sitcen.<table>`."""
        with self._errors():
            self.raw.raw_insert(
                self.table(table), column_names=list(columns) if columns else None, insert_block=data, fmt=fmt,
                settings=dict(settings or {}),
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.raw.close()
        finally:
            if self.embedded:
                _release_chdb()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(dsn: str | None = None) -> Client:
    """Open a client for a DSN (None: the embedded store ``./.sitcen/store``)."""
    d = parse_dsn(dsn)
    if d.embedded:
        return Client(_open_chdb(d), d)
    import clickhouse_connect

    try:
        raw = clickhouse_connect.get_client(
            host=d.host, port=d.port, username=d.username or None, password=d.password,
            secure=d.secure, interface="https" if d.secure else "http", tz_mode="aware",
        )
    except Exception as exc:
        raise ClickHouseError(f"cannot reach ClickHouse at {d.display()}: {exc}") from None
    return Client(raw, d)


# ---------------------------------------------------------------------------------------------


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def parse_instant(value: Any) -> dt.datetime | None:
    """A UTC instant from a datetime, epoch milliseconds, or a timestamp string (naive = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _to_utc(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return _to_utc(dt.datetime.fromisoformat(text))
    raise TypeError(f"not a timestamp: {value!r}")


def _converter(ch_type: str):
    if "DateTime" in ch_type:
        return parse_instant
    if ch_type.startswith("Nullable(Date)") or ch_type == "Date":
        return lambda v: dt.date.fromisoformat(v) if isinstance(v, str) else v
    return None
