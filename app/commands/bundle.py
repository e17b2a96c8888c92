"""``watchkeeper bundle export|sync``: offline incident bundles.

``export`` writes one signed file with the evidence of a spec's model over a time range (see
``watchkeeper.core.bundle``); ``sync`` pushes the outbox inside a bundle to the shared
database. Exit codes: 0 done; 1 some entries conflict with newer records (reported, not
overwritten); 2 bad input, an entry refused (not signed by the signed-in identity's key), or
an unreachable database.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bundle",
        help="export an offline incident bundle, or sync its outbox",
        description="Offline incident bundles: export the evidence of a model to one signed "
        "file; sync the notes and decisions made offline back to the shared database.",
    )
    sub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    e = sub.add_parser(
        "export",
        help="write a signed bundle of a model's telemetry and records",
        description="Write one signed file holding the model's telemetry over [start, end) "
        "(all rows, or a stratified sample by version x day with --max-rows), its reference "
        "profiles, the registry snapshot, its governance records and the monitor spec.",
    )
    e.add_argument("--spec", required=True, type=Path, metavar="FILE", help="monitor spec")
    e.add_argument("--out", required=True, type=Path, metavar="FILE", help="bundle to write")
    e.add_argument("--start", metavar="T", help="from T (ISO-8601, UTC if no zone)")
    e.add_argument("--end", metavar="T", help="until T, exclusive (ISO-8601)")
    e.add_argument(
        "--version",
        dest="versions",
        action="append",
        metavar="V",
        help="only this model version (repeat for more; default: all in range)",
    )
    e.add_argument(
        "--max-rows",
        type=int,
        metavar="N",
        help="keep at most N events: a stratified sample by version x day",
    )
    e.add_argument("--seed", type=int, default=0, metavar="S", help="sample seed (default 0)")
    e.set_defaults(run=run_export)
    s = sub.add_parser(
        "sync",
        help="push the bundle's outbox to the shared database",
        description="Push the notes, card drafts and decisions in the bundle's outbox to the "
        "shared database. Idempotent: entries already there are skipped. Exit 1 when some "
        "conflict with newer records (nothing is overwritten).",
    )
    s.add_argument("bundle", type=Path, metavar="BUNDLE")
    s.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="governance database: a SQLAlchemy URL or a SQLite file path",
    )
    s.set_defaults(run=run_sync)


def run_export(args: argparse.Namespace) -> int:
    from watchkeeper.core.bundle.export import export_bundle
    from watchkeeper.core.governance.identity import load_signer, os_login

    me = os_login()
    info = export_bundle(
        args.spec,
        args.out,
        start=args.start,
        end=args.end,
        versions=args.versions,
        max_rows=args.max_rows,
        seed=args.seed,
        signer=load_signer(me),
        exporter=me,
    )
    rows = f"{info.rows:,} events"
    if info.sampled:
        rows += f" (stratified sample of {info.rows_in_range:,})"
    print(
        f"wrote {info.path} ({info.size:,} bytes): {info.model} versions "
        f"{', '.join(info.versions)}, {rows}; manifest {info.manifest_digest}"
    )
    for reason in (info.registry_reason, info.governance_reason):
        if reason:
            print(f"note: {reason}")
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from watchkeeper.core.bundle.sync import sync_bundle

    report = sync_bundle(args.bundle, args.db)
    from watchkeeper.core.text import printable

    for line in report.lines():
        print(printable(line))
    report.raise_for_outcome()
    return 0
