"""``watchkeeper audit verify --db URL``: check the audit hash chain and every signature.

Exit 0 when everything holds; 1 (a negative finding) naming the first broken record when
anything was altered, removed or forged; 2 when the database cannot be read.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="check the governance database's audit log",
        description="Check the governance database's audit log.",
    )
    sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = sub.add_parser(
        "verify",
        help="verify the hash chain and every signature",
        description="Verify the audit log's hash chain, every record's hash and signature, "
        "and that no record or entry was removed. Exit 0 when all hold, 1 naming the first "
        "broken record.",
    )
    v.add_argument(
        "--db",
        required=True,
        metavar="URL",
        help="governance database: a SQLAlchemy URL or a SQLite file path",
    )
    v.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import NegativeFinding
    from watchkeeper.core.governance.verify import verify_audit

    report = verify_audit(args.db)
    if report.ok:
        print(report.summary())
        return 0
    for problem in report.problems[:50]:
        print(problem)
    if len(report.problems) > 50:
        print(f"... and {len(report.problems) - 50} more")
    raise NegativeFinding(f"audit chain broken: first broken: {report.first_broken}")
