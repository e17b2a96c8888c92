"""``watchkeeper init --source SRC``: guess a monitor spec from a table or file, write a workspace.

Reads the source's schema and its first 50,000 rows, guesses each column's role and kind
(printing the reason for each, and whatever it was unsure of), reads the whole source's time
range and versions, proposes a reference, a drift window and slices, and — once confirmed on
a terminal, or with ``--yes`` — writes ``DIR/specs/<model>.toml`` and the governance
database. Every guess can be replaced by a flag. The work is
:mod:`watchkeeper.core.onboarding`'s; this module parses flags and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: Flags that give a role's column: (flag, role). A value of "none" (or "") says "no such column".
_ROLE_FLAGS = (
    ("--request-id", "request_id"),
    ("--ts", "ts"),
    ("--model-column", "model"),
    ("--version", "model_version"),
    ("--score", "score"),
    ("--prediction", "prediction"),
    ("--label", "label"),
    ("--label-ts", "label_ts"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "init",
        help="guess a monitor spec from your own table or file and write a workspace",
        description="Read SRC's schema and first 50,000 rows, guess each column's role and "
        "kind (with the reason), propose a reference period, drift window and slices, and "
        "write DIR/specs/<model>.toml plus a governance database. Asks before writing on a "
        "terminal; --yes writes unattended. Any guess can be overridden with the flags below "
        "(a role flag given 'none' says the source has no such column).",
    )
    p.add_argument(
        "--source",
        required=True,
        metavar="SRC",
        help="a .parquet/.csv file, a Parquet folder or URL#table "
        "(duckdb:///file.duckdb#predictions, postgresql+psycopg://u@host/db#table)",
    )
    p.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        help="where to write (default: the data folder's workspaces/<model>)",
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="the model's name (default: the model "
        "column's most frequent value, else the source's name)",
    )
    p.add_argument(
        "--registry",
        metavar="URI",
        help="an MLflow registry: its champion alias chooses the reference version",
    )
    p.add_argument("--yes", "-y", action="store_true", help="write without asking")
    p.add_argument("--force", action="store_true", help="replace an existing spec")
    roles = p.add_argument_group("columns (each replaces a guess)")
    for flag, role in _ROLE_FLAGS:
        roles.add_argument(flag, dest=f"role_{role}", metavar="COL", help=f"the {role} column")
    roles.add_argument(
        "--feature",
        nargs="+",
        default=[],
        metavar="COL",
        help="exactly these features (default: every other usable column)",
    )
    roles.add_argument(
        "--extra",
        nargs="+",
        default=[],
        metavar="COL",
        help="kept but not analysed (latency, amount…)",
    )
    roles.add_argument("--ignore", nargs="+", default=[], metavar="COL", help="left out")
    roles.add_argument(
        "--categorical",
        nargs="+",
        default=[],
        metavar="COL",
        help="features to treat as categories",
    )
    roles.add_argument(
        "--numerical", nargs="+", default=[], metavar="COL", help="features to treat as numbers"
    )
    choices = p.add_argument_group("choices")
    choices.add_argument("--task", choices=("binary", "multiclass", "regression"))
    choices.add_argument(
        "--reference-until", metavar="T", help="the reference is the data before T (ISO-8601)"
    )
    choices.add_argument(
        "--window",
        metavar="SPEC",
        help="the drift window (1d, 6h, 7d, 5000rows; 'none' for one window)",
    )
    p.set_defaults(run=run)


def _column(value: str | None) -> str | None:
    if value is None:
        return None
    return "" if value.strip().lower() in ("", "none") else value


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.onboarding import Overrides, inspect_source, plan_monitor, write_monitor
    from watchkeeper.core.paths import data_dir
    from watchkeeper.core.spec import parse_spec  # noqa: F401 - fail early if pydantic is broken
    from watchkeeper.core.telemetry.windows import parse_window
    from watchkeeper.core.times import parse_time

    roles = {
        role: col
        for _, role in _ROLE_FLAGS
        if (col := _column(getattr(args, f"role_{role}"))) is not None
    }
    if roles.get("ts") == "":
        raise WatchkeeperError("--ts cannot be none: it is required")
    window = None
    if args.window is not None:
        window = "" if args.window.strip().lower() in ("", "none") else args.window
        if window:
            parse_window(window)  # a bad window is refused before anything is read
    until = parse_time(args.reference_until, "--reference-until")
    overrides = Overrides(
        roles=roles,
        features=tuple(args.feature),
        extras=tuple(args.extra),
        ignore=tuple(args.ignore),
        categorical=tuple(args.categorical),
        numerical=tuple(args.numerical),
        task=args.task,
    )
    if args.registry and not args.model:
        raise WatchkeeperError("--registry needs --model NAME: the registered model's name")
    guesses = inspect_source(args.source, overrides)
    _print_guesses(guesses)
    plan = plan_monitor(
        args.source,
        guesses,
        model=args.model,
        registry_uri=args.registry,
        reference_until=until,
        window=window,
    )
    workspace = (args.workspace or data_dir() / "workspaces" / plan.proposal.model).expanduser()
    _print_plan(plan, workspace)
    if not args.yes:
        if not sys.stdin.isatty():
            raise WatchkeeperError(
                "nothing written: no terminal to confirm on; run again with --yes to write"
            )
        answer = input(f"Write this spec to {workspace}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing written.")
            return 0
    written = write_monitor(plan, workspace, force=args.force)
    print(f"\nWrote {written.spec}")
    print(f"      {written.governance} (governance database)")
    print("\nNext:")
    print(f"  watchkeeper check --workspace {written.workspace}")
    print(f"  watchkeeper drift --spec {written.spec}")
    print(f"  watchkeeper --workspace {written.workspace}      (the window)")
    return 0


def _print_guesses(g: Any) -> None:
    print(f"Source: {g.source} (guessed from its first {g.sample_rows:,} rows)\n")
    width = max((len(c.name) for c in g.columns), default=4)
    print(f"  {'column':<{width}}  {'role':<22}  why")
    for c in g.columns:
        role = f"{c.kind} feature" if c.role == "feature" else c.role
        print(f"  {c.name:<{width}}  {role:<22}  {c.reason}")
    print(f"\nTask: {g.task} ({g.task_reason})")
    if g.task == "multiclass":
        print(
            "  Multiclass analyses are not supported yet: the spec watches the features' "
            "drift; label, class probabilities and predicted class are kept as extras."
        )


def _print_plan(plan: Any, workspace: Path) -> None:
    p = plan.proposal
    e = p.extent
    print(
        f"\nModel: {p.model}   events: {e.rows:,} from {e.start:%Y-%m-%d %H:%M} "
        f"to {e.end:%Y-%m-%d %H:%M} UTC"
    )
    if e.versions:
        shown = ", ".join(f"{v} ({n:,})" for v, n in e.versions[:5])
        print(f"Versions: {shown}")
    print(
        f"Reference: version {p.reference_version}, {p.reference_start} to "
        f"{p.reference_end} (exclusive) — {p.reference_reason}"
    )
    print(f"Drift window: {p.window or 'one window'} — {p.window_reason}")
    if p.slices:
        print("Slices: " + "; ".join(s.name for s in p.slices))
    else:
        print("Slices: none (no low-cardinality categorical or numerical feature)")
    unsure = (*p.guesses.warnings, *p.notes)
    if unsure:
        print("\nCheck these:")
        for w in unsure:
            print(f"  - {w}")
    print(f"\nWorkspace: {workspace}")
