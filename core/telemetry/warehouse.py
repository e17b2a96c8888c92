"""Spark SQL (and Hive) through HiveServer2's Thrift protocol: addresses, connecting, limits.

A warehouse source is ``hive://[user@]host:port/database[?auth=…]#table``. What the
connection needs besides the address — a password for LDAP, a Kerberos service name — is
never written in a file: the password lives in the OS keyring under the connection profile
whose ``telemetry_source`` names the same server, database and user
(:func:`profile_password`), and :func:`prepare_engine` asks for it when PyHive connects.

Two limits keep a desktop session bounded whatever the table's size (the URL's query
carries them, so the spec, a profile and the CLI configure them the same way):

* ``timeout_s`` — how long one statement may run on the server (default
  :data:`DEFAULT_TIMEOUT_S`); past it the job is cancelled there (``TCancelOperation``) and
  the analysis fails with a message naming the setting. Connecting has its own, shorter
  limit (:data:`CONNECT_TIMEOUT_S`): an unreachable host fails within it.
* ``max_rows`` — how many rows a read of raw events may bring back (default
  :data:`DEFAULT_MAX_ROWS`); analyses push their counting down and read aggregates and
  bounded samples, so only a read that asks for the events themselves can reach it.

Every statement on a ``hive://`` engine runs asynchronously and is polled
(:mod:`~watchkeeper.core.telemetry.sql_cancel`), so a Cancel or the timeout can reach it.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from watchkeeper.core.errors import TelemetryError, WatchkeeperError

__all__ = [
    "AUTH_MODES",
    "CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_OPTION",
    "WarehouseAddress",
    "list_tables",
    "prepare_engine",
    "profile_password",
    "split_limits",
]

#: PyHive's authentication modes over a binary Thrift socket (hive.server2.authentication).
AUTH_MODES = ("NONE", "NOSASL", "LDAP", "KERBEROS")
#: Seconds to reach the server and open a session before giving up.
CONNECT_TIMEOUT_S = 10.0
#: Seconds one statement may run on the server before it is cancelled there.
DEFAULT_TIMEOUT_S = 900.0
#: Rows a read of raw events may return from a warehouse before it is cut.
DEFAULT_MAX_ROWS = 1_000_000
#: The execution option carrying a statement's timeout (seconds) to sql_cancel.
TIMEOUT_OPTION = "watchkeeper_timeout_s"
#: The execution option carrying the raw-row ceiling to the reader.
MAX_ROWS_OPTION = "watchkeeper_max_rows"
_LIMIT_KEYS = ("timeout_s", "max_rows")


@dataclass(frozen=True)
class WarehouseAddress:
    """Where a Spark Thrift server (or HiveServer2) is, and how to sign in. No secret."""

    host: str
    port: int = 10000
    database: str = "default"
    auth: str = "NONE"
    username: str | None = None
    kerberos_service_name: str | None = None

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise TelemetryError("a Spark/Hive address needs a host name")
        if not 0 < int(self.port) < 65536:
            raise TelemetryError(f"port {self.port} is not a TCP port (1-65535)")
        if self.auth not in AUTH_MODES:
            raise TelemetryError(
                f"authentication {self.auth!r} is not one of {', '.join(AUTH_MODES)}"
            )
        if self.auth == "KERBEROS" and not self.kerberos_service_name:
            raise TelemetryError("Kerberos needs the server's service name (often 'hive')")

    def url(self) -> str:
        """``hive://user@host:port/database?auth=…`` (no password, ever)."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        query = []
        if self.auth != "NONE":
            query.append(f"auth={self.auth}")
        if self.kerberos_service_name and self.auth == "KERBEROS":
            query.append(f"kerberos_service_name={quote(self.kerberos_service_name)}")
        tail = f"?{'&'.join(query)}" if query else ""
        return f"hive://{user}{self.host}:{int(self.port)}/{quote(self.database)}{tail}"

    def source(self, table: str) -> str:
        """The telemetry ``source`` for one table: ``URL#table``."""
        return f"{self.url()}#{table}"

    @classmethod
    def from_url(cls, text: str) -> WarehouseAddress:
        """The address in ``hive://…`` (a ``#table`` and the limits are ignored)."""
        base = text.split("#", 1)[0]
        try:
            url = sa.engine.make_url(base)
        except (sa.exc.ArgumentError, ValueError):
            raise TelemetryError(
                "not a Spark/Hive URL (expected hive://host:port/database#table)", source=base
            ) from None
        if url.get_backend_name() != "hive":
            raise TelemetryError("not a hive:// URL", source=base)
        query = dict(url.query)
        return cls(
            host=url.host or "",
            port=url.port or 10000,
            database=url.database or "default",
            auth=str(query.get("auth", "NONE")).upper(),
            username=url.username,
            kerberos_service_name=query.get("kerberos_service_name"),  # type: ignore[arg-type]
        )


def split_limits(url: URL, description: str) -> tuple[URL, dict[str, Any]]:
    """``url`` without Watchkeeper's own query keys, and the execution options they set.

    A warehouse gets the defaults when the URL says nothing; other databases only what the
    URL asks for (their statements run where the data is, on this machine or a server the
    team runs next to it)."""
    options: dict[str, Any] = {}
    warehouse = url.get_backend_name() == "hive"
    if warehouse:
        options = {TIMEOUT_OPTION: DEFAULT_TIMEOUT_S, MAX_ROWS_OPTION: DEFAULT_MAX_ROWS}
    for key in _LIMIT_KEYS:
        if key not in url.query:
            continue
        text = url.query[key]
        try:
            value = float(text) if key == "timeout_s" else int(str(text))  # type: ignore[arg-type]
        except ValueError:
            raise TelemetryError(f"{key}={text!r} is not a number", source=description) from None
        if value <= 0:
            raise TelemetryError(f"{key} must be positive, not {text}", source=description)
        options[TIMEOUT_OPTION if key == "timeout_s" else MAX_ROWS_OPTION] = value
    return url.difference_update_query(_LIMIT_KEYS), options


def profile_password(url: URL) -> str | None:
    """The password of the connection profile whose telemetry source names the same
    server, database and user as ``url``, from the OS keyring; ``None`` if none does."""
    from watchkeeper.core.registry.profiles import ProfileStore

    store = ProfileStore()
    try:
        profiles = store.list()
    except WatchkeeperError:  # an unreadable profiles file: the dialog says so when opened
        return None
    for profile in profiles:
        src = profile.telemetry_source
        if not src or not src.startswith("hive://"):
            continue
        try:
            other = sa.engine.make_url(src.split("#", 1)[0])
        except (sa.exc.ArgumentError, ValueError):
            continue
        if (other.host, other.port or 10000, other.database or "default", other.username) == (
            url.host,
            url.port or 10000,
            url.database or "default",
            url.username,
        ):
            return store.get_secret(profile.name, "telemetry-password")
    return None


def _open_transport(params: dict[str, Any], timeout_s: float) -> Any:
    """PyHive's own transport for ``params`` over a socket that gives up after
    ``timeout_s`` (PyHive's socket waits forever: a dropped packet froze the session)."""
    import thrift.transport.TSocket
    import thrift.transport.TTransport

    host, port = params["host"], int(params.get("port") or 10000)
    auth = str(params.get("auth") or "NONE").upper()
    sock = thrift.transport.TSocket.TSocket(host, port)
    sock.setTimeout(timeout_s * 1000)
    if auth == "NOSASL":
        return thrift.transport.TTransport.TBufferedTransport(sock)
    import thrift_sasl
    from pyhive.hive import get_installed_sasl

    mechanism = "GSSAPI" if auth == "KERBEROS" else "PLAIN"
    username = params.get("username") or _login()
    password = params.get("password") or "x"  # NONE: any non-empty password
    service = params.get("kerberos_service_name")

    def sasl() -> Any:
        return get_installed_sasl(
            host=host, sasl_auth=mechanism, service=service, username=username, password=password
        )

    return thrift_sasl.TSaslClientTransport(sasl, mechanism, sock)


def _login() -> str:
    import getpass

    return getpass.getuser()


def _connect(engine_url: URL, params: dict[str, Any]) -> Any:
    """A PyHive connection whose connect and every later socket read are bounded."""
    from pyhive import hive

    params = dict(params)
    shown = engine_url.render_as_string(hide_password=True)
    auth = str(params.get("auth") or "NONE").upper()
    if auth in ("LDAP", "CUSTOM") and not params.get("password"):
        params["password"] = profile_password(engine_url)
        if not params["password"]:
            raise TelemetryError(
                "LDAP needs a password, and no connection profile for this server, database "
                "and user holds one: save it from File → New monitor… → Spark / Hive… (it is "
                "kept in the OS keyring)",
                source=shown,
            )
    host, port = params["host"], int(params.get("port") or 10000)
    try:
        # a plain socket first: an unreachable host is told apart from a refused login
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise TelemetryError(
            f"cannot connect: no Spark/Hive server answers at {host}:{port} ({reason}; "
            f"waited at most {CONNECT_TIMEOUT_S:g} s): check the host, the port and that the "
            "server runs",
            source=shown,
        ) from None
    transport = _open_transport(params, CONNECT_TIMEOUT_S)
    database = params.get("database") or "default"
    try:
        conn = hive.Connection(
            thrift_transport=transport,
            username=params.get("username"),
            database=database,
            configuration=params.get("configuration"),
        )
    except Exception as exc:
        transport.close()
        from watchkeeper.core.telemetry.sql_values import short_error

        text = short_error(exc)
        if "SCHEMA_NOT_FOUND" in text or ("atabase" in text and "not found" in text):
            raise TelemetryError(
                f"cannot connect: the server has no database {database!r} ({text})",
                source=shown,
            ) from None
        if isinstance(exc, OSError | EOFError) or "TTransportException" in type(exc).__name__:
            raise TelemetryError(
                f"cannot connect: the server at {host}:{port} did not open a session ({text}): "
                "is it a "
                f"Spark Thrift server or HiveServer2, and is the authentication ({auth}) "
                "the server's?",
                source=shown,
            ) from None
        raise
    # opened: later reads wait for polls and fetches, each short (statements run async)
    _socket_of(transport).setTimeout(_READ_TIMEOUT_S * 1000)
    _accelerate(conn, transport)
    return conn


def _accelerate(conn: Any, transport: Any) -> None:
    """Decode the server's answers with Thrift's C extension where it is installed.

    PyHive builds its client on the pure-Python ``TBinaryProtocol``, which decodes a fetched
    block value by value (0.32 s for a million doubles here; ``fastbinary`` 0.03 s). Its
    generated classes predate the extension's current form, which wants each struct's type
    arguments as a ``[class, spec]`` list where they hold a tuple, so the protocol hands it
    converted specs (:func:`_c_spec`). The protocol keeps no state between calls, so the
    client is swapped once the session is open. Without the extension nothing changes."""
    try:
        from thrift.protocol import fastbinary
    except ImportError:  # pragma: no cover - the wheels ship it
        return
    from TCLIService import TCLIService
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol

    protocol = TBinaryProtocol(transport)

    def decode(obj: Any, iprot: Any, typeargs: Any) -> Any:
        return fastbinary.decode_binary(obj, iprot, [typeargs[0], _c_spec(typeargs[0])])

    def encode(obj: Any, typeargs: Any) -> Any:
        return fastbinary.encode_binary(obj, [typeargs[0], _c_spec(typeargs[0])])

    protocol._fast_decode = decode
    protocol._fast_encode = encode
    conn._client = TCLIService.Client(protocol)


@functools.cache
def _c_spec(cls: type) -> tuple:
    """``cls.thrift_spec`` with every struct's type arguments as ``fastbinary`` reads them."""
    from thrift.Thrift import TType

    def args(ttype: int, a: Any) -> Any:
        if a is None:
            return None
        if ttype == TType.STRUCT:
            return [a[0], _c_spec(a[0])]
        if ttype in (TType.LIST, TType.SET):
            return (a[0], args(a[0], a[1]), *a[2:])
        if ttype == TType.MAP:
            return (a[0], args(a[0], a[1]), a[2], args(a[2], a[3]), *a[4:])
        return a

    return tuple(
        None if f is None else (f[0], f[1], f[2], args(f[1], f[3]), *f[4:])
        for f in cls.thrift_spec  # type: ignore[attr-defined]
    )


#: Result types whose values PyHive hands over as Thrift decoded them (no converter), and
#: SQLAlchemy's types for them process nothing: :func:`fetched_columns` may skip both.
_PLAIN_TYPES = frozenset(
    f"{t}_TYPE"
    for t in ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "STRING")
)


def fetched_columns(result: Any) -> list[list[Any]] | None:
    """A Spark/Hive statement's rows as columns (None for another driver, or a result with a
    column PyHive or SQLAlchemy would convert: then fetch rows).

    PyHive decodes each block into columns, zips them into rows and hands them over one
    ``fetchone`` at a time; the Champion view's 666,344 pairs spent 1.7 s there and 0.7 s
    in SQLAlchemy's rows (cProfile, local Spark). Here a block's columns are kept as they
    arrive, NULLs set from the block's bitmap — the values ``fetchall`` would give."""
    blocks = column_blocks(result)
    if blocks is None:
        return None
    out: list[list[Any]] = [[] for _ in result.cursor.description]
    for block in blocks:
        for column, values in zip(out, block, strict=True):
            column.extend(values)
    return out


def column_blocks(result: Any) -> Iterator[list[list[Any]]] | None:
    """:func:`fetched_columns` a fetch block at a time (each block's columns, in order)."""
    cursor = getattr(result, "cursor", None)
    if cursor is None or not type(cursor).__module__.startswith("pyhive"):
        return None
    description = cursor.description
    if not description or any(d[1] not in _PLAIN_TYPES for d in description):
        return None
    return _blocks(cursor, getattr(result.context, "statement", None))


def float_blocks(result: Any, width: int) -> Iterator[Any] | None:
    """:func:`column_blocks` as float64 ``(rows, width)`` arrays, NULL as NaN (None for
    another driver or a result fetched as rows)."""
    import numpy as np

    blocks = column_blocks(result)
    if blocks is None:
        return None
    return (
        np.column_stack([np.array(c, dtype=np.float64) for c in columns]).reshape(-1, width)
        for columns in blocks
    )


def _blocks(cursor: Any, statement: str | None) -> Iterator[list[list[Any]]]:
    import numpy as np
    import sqlalchemy as sa
    from pyhive import exc as hive_errors
    from pyhive.hive import _check_status
    from TCLIService import ttypes

    while True:
        req = ttypes.TFetchResultsReq(
            operationHandle=cursor._operationHandle,
            orientation=ttypes.TFetchOrientation.FETCH_NEXT,
            maxRows=cursor.arraysize,
        )
        try:
            response = cursor._connection.client.FetchResults(req)
            _check_status(response)
        except hive_errors.Error as exc:
            # wrapped as SQLAlchemy wraps a failed fetchmany: the callers' "the database
            # refused …" and cancelled-in-the-database handling catch DBAPIError
            raise sa.exc.DBAPIError.instance(statement, None, exc, hive_errors.Error) from exc
        block = []
        for values in response.results.columns:
            wrapper = next(v for v in vars(values).values() if v is not None)
            column = wrapper.values
            nulls = np.unpackbits(np.frombuffer(wrapper.nulls, np.uint8), bitorder="little")
            for i in np.flatnonzero(nulls[: len(column)]):
                column[i] = None
            block.append(column)
        if not block or not block[0]:  # the server's hasMoreRows is not to be trusted
            cursor._state = cursor._STATE_FINISHED
            return
        yield block


#: Seconds one Thrift call may take once connected (a poll, a fetch of a block of rows).
_READ_TIMEOUT_S = 120.0


def _socket_of(transport: Any) -> Any:
    # thrift_sasl keeps the socket as _trans, TBufferedTransport as __trans
    return getattr(transport, "_trans", None) or transport._TBufferedTransport__trans


def prepare_engine(engine: Engine) -> None:
    """Connect through :func:`_connect` (bounded, password from the keyring) and run every
    statement asynchronously so a Cancel or the timeout reaches it on the server."""
    from watchkeeper.core.telemetry.sql_cancel import install_hive_execution

    url = engine.url

    def do_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> Any:
        return _connect(url, cparams)

    sa.event.listen(engine, "do_connect", do_connect)
    install_hive_execution(engine)


def list_tables(source_url: str) -> list[str]:
    """The tables and views of the address's database, sorted; a clear
    :class:`TelemetryError` for an unreachable server, a wrong database or a refused login."""
    from watchkeeper.core.telemetry.sql import open_engine, relation_names

    engine, _description = open_engine(source_url.split("#", 1)[0])
    try:
        return relation_names(engine, _description)
    finally:
        engine.dispose()
