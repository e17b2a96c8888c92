"""``watchkeeper audit verify --db URL``: check the audit hash chain and every signature.

Exit 0 when everything holds; 1 (a negative finding) naming the first broken record when
anything was altered, removed or forged — including entries cut off the log's end, caught
against the anchors this machine's writes kept and any ``--anchor``; 2 when the database
cannot be read.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


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
    v.add_argument(
        "--anchor",
        metavar="HASH|FILE",
        help="also check the log still holds this entry hash (sha256:...), or every anchor of "
        "an anchor file, or the hash in a text file; the anchors this machine's writes kept "
        "are always checked",
    )
    v.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import NegativeFinding
    from watchkeeper.core.governance.verify import verify_audit

    anchor, anchor_file = _anchor_argument(args.anchor)
    report = verify_audit(args.db, anchor=anchor, anchor_file=anchor_file)
    if report.ok:
        print(report.summary())
        return 0
    from watchkeeper.core.text import printable

    for problem in report.problems[:50]:
        print(printable(str(problem)))
    if len(report.problems) > 50:
        print(f"... and {len(report.problems) - 50} more")
    raise NegativeFinding(f"audit chain broken: first broken: {report.first_broken}")


def _anchor_argument(value: str | None) -> tuple[str | None, Path | None]:
    """``--anchor``: an entry hash, an anchor file (JSON), or a text file holding a hash."""
    from watchkeeper.core.errors import WatchkeeperError

    if value is None:
        return None, None
    value = value.strip()
    if _HASH.fullmatch(value):
        return value, None
    path = Path(value).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise WatchkeeperError(f"--anchor: cannot read {path}: {exc}") from None
        if _HASH.fullmatch(text):
            return text, None
        if text.startswith("{"):
            return None, path
    raise WatchkeeperError(
        f"--anchor: {value!r} is neither an entry hash (sha256: and 64 hex digits), an anchor "
        "file, nor a file holding a hash"
    )


_HASH = re.compile(r"sha256:[0-9a-f]{64}")
