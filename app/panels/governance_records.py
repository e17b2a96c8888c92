"""The Governance view's records as text and tables — no Qt here.

A decision, a note or an outbox entry is shown twice: on one line in a table or list, and in
full in a detail box. Both forms are built here, so what a reviewer reads is tested without
a window; the widgets only place the strings.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from watchkeeper.app.panels.governance_work import REASON_LABELS, GovernanceView

__all__ = [
    "CELL_CHARS",
    "decision_records",
    "decisions_frame_empty",
    "describe_note",
    "describe_record",
    "is_outbox_entry",
    "note_label",
    "one_line",
    "outbox_frame",
    "revision_label",
    "sections",
    "utc_time",
    "version_label",
]

#: Characters of a note shown in a table cell (the full text is in the detail box).
CELL_CHARS = 160

_OUTBOX_KINDS = {
    "incident_note": "incident note",
    "model_card": "card draft",
    "approval": "decision",
    "rollback": "rollback decision",
}


def one_line(text: str, limit: int = CELL_CHARS) -> str:
    """A table cell's version of free text: one line, control characters made visible."""
    head = text[: limit + 1]
    out = "".join(
        "⏎" if ch in "\r\n" else ("·" if (ord(ch) < 32 and ch != "\t") or ch == "\x7f" else ch)
        for ch in head
    ).replace("\t", " ")
    return out[:limit] + "…" if len(text) > limit else out


def utc_time(value: Any) -> str:
    """A record's time to the minute, or nothing when it has none."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else ""


def version_label(version: str | None) -> str:
    return f"v{version}" if version else "none"


def sections(texts: dict[str, str], names: list[str]) -> str:
    """Card sections as one plain text, each under its ``[name]``."""
    return "\n\n".join(f"[{n}]\n{texts[n]}" for n in names)


def is_outbox_entry(value: Any) -> bool:
    """Whether a write went to a bundle's outbox (offline) rather than a database."""
    from watchkeeper.core.bundle.open import OutboxEntry

    return isinstance(value, OutboxEntry)


def outbox_frame(entries: Any, synced: Any = frozenset()) -> pd.DataFrame:
    """The bundle's outbox entries, newest first: when, what, by whom, pending or synced."""
    rows = []
    for e in entries:
        rows.append(
            {
                "time (UTC)": str(e.created_at).replace("T", " ").replace("Z", "")[:19],
                "kind": _OUTBOX_KINDS.get(e.kind, e.kind),
                "what": one_line(e.describe().split(" ", 1)[1], 120),
                "status": "synced" if e.id in synced else "pending",
                "by": e.by,
                "entry": e.id,
            }
        )
    frame = pd.DataFrame(rows, columns=["time (UTC)", "kind", "what", "status", "by", "entry"])
    return frame.sort_values("time (UTC)", ascending=False, kind="stable").reset_index(drop=True)


def decisions_frame_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["time (UTC)", "decision", "version", "by", "note", "evidence"])


def decision_records(view: GovernanceView, frame: pd.DataFrame) -> list[Any]:
    """The records behind the (time-sorted) decisions frame, in its row order."""
    records = [*view.approvals, *view.rollbacks]
    return [records[i] for i in frame.index]


def describe_record(record: Any) -> str:
    """A decision in full, as plain text: every field a reviewer checks, text verbatim."""
    who = f"{record.actor} ({'verified' if record.actor_verified else 'unverified'})"
    head = [f"Recorded {utc_time(record.created_at)} by {who}", f"Record {record.id}"]
    if hasattr(record, "decision"):
        head.insert(0, f"{record.decision} of version {record.model_version} as {record.role}")
        head.append(f"Evidence digest {record.evidence_digest}")
        return "\n".join(head) + "\n\nComment:\n" + record.comment
    head.insert(
        0,
        f"rollback from version {record.from_version} to {record.to_version} "
        f"({REASON_LABELS.get(record.reason_class, record.reason_class)})",
    )
    if record.incident_ref:
        head.append(f"Incident {record.incident_ref}")
    return "\n".join(head) + "\n\nReason:\n" + record.reason


def note_label(note: Any) -> str:
    """An incident note on one line of the notes list."""
    return f"{utc_time(note.starts_at)} — {one_line(note.title, 120)}"


def describe_note(note: Any) -> str:
    """An incident note in full, as plain text."""
    ends = utc_time(note.ends_at) if note.ends_at else "ongoing"
    return (
        f"{note.title}\n{utc_time(note.starts_at)} – {ends} · by {note.actor}"
        f"{'' if note.actor_verified else ' (unverified)'}\n\n{note.body}"
    )


def revision_label(card: Any) -> str:
    """A card revision on one line of the history list."""
    who = f"{card.actor}{'' if card.actor_verified else ' (unverified)'}"
    return f"revision {card.revision} · {who} · {utc_time(card.created_at)}"
