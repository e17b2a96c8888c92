"""``watchkeeper drift``: compare current telemetry with a reference, per feature and window.

Sources are files (``.parquet``, ``.csv``) or ``URL#table``. When the current data is in a
SQL database the counting is pushed down to it (only counts come back), and exact
KS/Wasserstein and the multivariate check run on at most ``exact_sample_limit`` rows per window
fetched from it (a seeded sample above that; the JSON says ``"exact": "sample"``); files are
read into memory. Exit code 0 whatever the decisions, 2 on bad input (one line on stderr).

With ``--spec FILE`` the spec says everything else — telemetry, reference window, features,
thresholds, window — and the analysis is the workbench's (:func:`~watchkeeper.core.
workbench.analyses.run_drift`), the one the Drift view draws: the same numbers, the same JSON.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from watchkeeper.core.text import printable

_CODES = {"ok": ".", "watch": "w", "drift": "D", "insufficient": "-"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "drift",
        help="compare current data with a reference: drift per feature and window",
        description="Compare the current data with a reference per feature and time window "
        "(PSI, Jensen-Shannon, chi-square with Holm correction, KS, Wasserstein) and decide "
        "ok / watch / drift / insufficient. SRC is a .parquet or .csv file, or a SQLAlchemy "
        "URL with the table after '#', e.g. duckdb:///telemetry.duckdb#predictions.",
    )
    p.add_argument("--spec", type=Path, metavar="FILE", help="a monitor spec (the rest from it)")
    p.add_argument("--reference", metavar="SRC", help="the reference data (without --spec)")
    p.add_argument("--current", metavar="SRC", help="the data to check (without --spec)")
    p.add_argument(
        "--timestamp",
        default="ts",
        metavar="COL",
        help="timestamp column of the current data (default: ts)",
    )
    p.add_argument(
        "--window",
        metavar="SPEC",
        help="1d, 6h, 7d (calendar-aligned, UTC) or 5000rows; default one window",
    )
    p.add_argument("--features", nargs="+", metavar="F", help="features (default: all)")
    p.add_argument(
        "--categorical", nargs="+", default=[], metavar="F", help="features to treat as categorical"
    )
    p.add_argument("--model", metavar="M", help="only rows of this model (column 'model')")
    p.add_argument(
        "--version", metavar="V", help="only rows of this model version (column 'model_version')"
    )
    p.add_argument("--start", metavar="T", help="current data from T (ISO-8601; UTC if no zone)")
    p.add_argument("--end", metavar="T", help="current data before T")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")
    p.set_defaults(run=run)


def _filters(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    if args.model is not None:
        out["model"] = args.model
    if args.version is not None:
        out["model_version"] = str(args.version)
    return out


def _filter_table(table: Any, filters: dict[str, str], what: str, required: bool) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    from watchkeeper.core.drift.errors import DriftError

    for column, value in filters.items():
        if column not in table.column_names:
            if required:
                raise DriftError(
                    f"{what}: --{_flag(column)} given but there is no {column!r} column"
                )
            continue
        col = table.column(column)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = col.cast(pa.string())
        table = table.filter(pc.fill_null(pc.equal(col, value), False))
    return table


def _reference_in_batches(args: argparse.Namespace, filters: dict[str, str], progress: Any) -> Any:
    """The reference file prepared a batch of columns at a time, as the window prepares a
    large reference window (``analyses.REFERENCE_BYTES``), when it keeps its row order
    (Parquet) and it is that large; else None: read whole. Both go through the disk cache.
    Its features are ``--features``, or those the whole read would profile, named from the
    schema (a batch sees only its own columns). ``--model``/``--version`` select its rows
    where it has the column, as for the whole read."""
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.reference import default_features
    from watchkeeper.core.errors import TelemetryError
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.source import open_source
    from watchkeeper.core.workbench import analyses

    with open_source(args.reference) as src:
        try:
            schema = src.schema()
        except TelemetryError:  # no time column, say: read whole, as read_table reads it
            return None
        names = schema.names
        features = list(args.features or ())
        if not features:  # the ones the whole read would profile, named from the schema
            try:
                features = default_features(
                    src.source_schema(),
                    categorical=args.categorical or (),
                    timestamp=args.timestamp,
                )
            except DriftError:
                return None  # the whole read says why
        if any(f not in names for f in features):
            return None  # the whole read names the missing feature
        present = {k: v for k, v in filters.items() if k in names}
        query = TelemetryQuery(
            model=present.get("model"),
            versions=(present["model_version"],) if "model_version" in present else (),
        )
        prediction = "score" if "score" in names else None
        width = len(features) + (prediction is not None)
        rows = analyses.batched_reference_rows(src, query, width)
        if not rows:
            return None
        return analyses.reference_in_batches(
            src,
            query,
            rows,
            features=features,
            categorical=args.categorical or (),
            prediction=prediction,
            progress=progress,
        )


def _current_of(src: Any, location: str, filters: dict[str, str]) -> Any:
    """The current data: a file too large to hold (Parquet; every column × its rows above
    ``STREAM_BYTES``) as a reader of a few columns at a time, as the window reads a
    workspace's (1,500,000 rows × 43 columns took the command to 1.6 GB read whole);
    otherwise read whole."""
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.sources import read_table
    from watchkeeper.core.errors import TelemetryError
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.workbench.analyses import streamed_current

    try:
        names = src.schema().names
    except TelemetryError:  # no time column, say: read whole, as read_table reads such a file
        return _filter_table(read_table(location), filters, "current", True)
    for column in filters:
        if column not in names:
            raise DriftError(f"current: --{_flag(column)} given but there is no {column!r} column")
    query = TelemetryQuery(
        model=filters.get("model"),
        versions=(filters["model_version"],) if "model_version" in filters else (),
    )
    reader = streamed_current(src, query)
    if reader is not None:
        return reader
    return _filter_table(read_table(location), filters, "current", True)


def _flag(column: str) -> str:
    return "model" if column == "model" else "version"


def _run_spec(args: argparse.Namespace, progress: Any) -> Any:
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.times import parse_time
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.health import version_to_judge
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    given = [f"--{n}" for n in ("reference", "current", "model") if getattr(args, n) is not None]
    given += ["--features"] if args.features else []
    given += ["--categorical"] if args.categorical else []
    if given:
        raise DriftError(f"--spec says the data and columns; leave out {', '.join(given)}")
    start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    (entry,) = portfolio_of_spec(args.spec).models
    version = str(args.version) if args.version is not None else version_to_judge(entry)
    if not version:
        raise DriftError(f"{args.spec}: say which version (--version): the spec names none")
    return run_drift(entry, version, args.window, progress, start=start, as_of=end)


def run(args: argparse.Namespace) -> int:
    if args.spec is None and (args.reference is None or args.current is None):
        from watchkeeper.core.drift.errors import DriftError

        raise DriftError("give --spec FILE, or both --reference SRC and --current SRC")
    interactive = sys.stderr.isatty() and not args.json

    def progress(fraction: float, message: str) -> None:
        if interactive:
            print(f"\r{fraction:4.0%} {message[:60]:<60}", end="", file=sys.stderr, flush=True)

    result = _run_spec(args, progress) if args.spec is not None else _run_sources(args, progress)
    if interactive:
        print("\r" + " " * 66 + "\r", end="", file=sys.stderr)
    if args.json:
        print(result.to_json())
    else:
        print(_table(result))
    return 0


def _run_sources(args: argparse.Namespace, progress: Any) -> Any:
    from watchkeeper.core.drift.engine import analyze_drift
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.reference_cache import cached_reference
    from watchkeeper.core.drift.sources import read_table
    from watchkeeper.core.telemetry.source import open_source
    from watchkeeper.core.telemetry.sql import sql_location
    from watchkeeper.core.telemetry.windows import parse_window
    from watchkeeper.core.times import to_us

    window = parse_window(args.window)  # refuse a bad spec before reading anything
    for t in (args.start, args.end):
        to_us(t)
    filters = _filters(args)
    batched = _reference_in_batches(args, filters, progress)
    reference = None
    if batched is None:
        reference = _filter_table(read_table(args.reference), filters, "reference", False)
        if reference.num_rows == 0:
            raise DriftError(
                "reference: no rows" + (" for the --model/--version given" if filters else "")
            )
    common: dict[str, Any] = {
        "features": args.features,
        "categorical": args.categorical,
        "timestamp": args.timestamp,
        "window": window,
        "start": args.start,
        "end": args.end,
    }

    def prepared() -> Any:
        if batched is not None:
            return batched
        # prepared once per machine: a repeated run loads it (core/drift/reference_cache.py)
        return cached_reference(
            reference,
            features=args.features,
            categorical=args.categorical,
            timestamp=args.timestamp,
        )

    with open_source(args.current) as src:
        parts = sql_location(src)
        if parts is not None:
            engine, table_name = parts
            import sqlalchemy as sa

            from watchkeeper.core.telemetry.contract import TelemetryQuery
            from watchkeeper.core.telemetry.sql import reflect_table

            with engine.connect() as conn:
                table = reflect_table(conn, table_name)
                for column in filters:
                    if column not in table.c:
                        raise DriftError(
                            f"current: --{_flag(column)} given but the table has "
                            f"no {column!r} column"
                        )
                where = []
                if filters:  # the telemetry reader's own filter: one for every analysis
                    query = TelemetryQuery(
                        model=filters.get("model"),
                        versions=(filters["model_version"],) if "model_version" in filters else (),
                    )
                    where = src.where(table, query)
                result = analyze_drift_sql(
                    prepared(),
                    conn,
                    table,
                    where=sa.and_(*where) if where else None,
                    progress=progress,
                    **common,
                )
        else:
            current = _current_of(src, args.current, filters)
            result = analyze_drift(prepared(), current, progress=progress, **common)
    return result


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(result: Any) -> str:
    """A compact table: one line per feature, one character per window."""
    lines = [
        f"reference: {result.reference_rows:,} rows, {result.reference_digest[:19]}…",
        f"windows: {len(result.windows)} ({result.window_spec.text or 'whole period'}), "
        f"rows {sum(w.rows for w in result.windows):,}; "
        "per window: . ok  w watch  D drift  - insufficient",
    ]
    feats = list(result.features) + ([result.prediction] if result.prediction else [])
    names = {id(f): printable(f.name) for f in feats}  # escaped before measuring the column
    width = max([len("feature"), *(len(name) for name in names.values())])
    n = len(result.windows)
    shown = n if n <= 60 else 60
    lines.append(
        f"{'feature':<{width}}  {'kind':<11} {'worst':<12} {'max psi':>8} {'last psi':>8}  windows"
    )
    order = {"drift": 3, "watch": 2, "ok": 1, "insufficient": 0}
    for f in feats:
        decisions = f.decisions()
        worst = max(decisions, key=order.__getitem__) if decisions else "-"
        psis = [v for v in f.windows.column("psi").tolist() if math.isfinite(v)]
        grid = "".join(_CODES[d] for d in decisions[-shown:])
        if n > shown:
            grid = "…" + grid
        kind = "score" if f is result.prediction else f.kind
        lines.append(
            f"{names[id(f)]:<{width}}  {kind:<11} {worst:<12} "
            f"{_fmt(max(psis) if psis else None):>8} "
            f"{_fmt(f.windows[-1].psi if f.windows else None):>8}  {grid}"
        )
    if result.multivariate is not None:
        mv = result.multivariate
        grid = "".join(_CODES[w.decision] for w in mv.windows[-shown:])
        lines.append(
            f"{'(multivariate)':<{width}}  {'pca':<11} "
            f"{max((w.decision for w in mv.windows), key=order.__getitem__):<12} "
            f"{'':>8} {'':>8}  {grid}"
        )
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(printable(line) for line in lines)  # a newline in a name stays in its line
