"""Champion vs challenger and the Excel export: this tree against a baseline commit, in
alternating subprocesses of the same run (the machine's load falls on both alike).

    .venv/bin/python benchmarks/views_ab.py --workspace /tmp/wviews-demo --baseline d27dfc3

``--baseline`` is unpacked (``git archive``) into a temporary folder that a ``PYTHONPATH``
shim puts before the editable install, so the baseline runs its own ``watchkeeper`` code.
Each round times, in a fresh process: ``run_challenger`` of fraud-detector v1 vs v2 (the
view's work, n_boot 500) — the time to its first answer (``on_partial``, where the tree has
it) and to the complete view — and ``run_slices`` then ``export_slice_report`` (the time
from the export to the file written). Prints each round, the medians and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import inspect, json, sys, tempfile, time
from pathlib import Path
from watchkeeper.core.workbench.portfolio import load_portfolio
from watchkeeper.core.workbench.challenger import run_challenger
from watchkeeper.core.workbench.slices import export_slice_report, run_slices
entry = load_portfolio(Path(sys.argv[1])).model("fraud-detector")
out = {}
if sys.argv[2] == "champion":
    first = []
    kw = {}
    if "on_partial" in inspect.signature(run_challenger).parameters:
        kw["on_partial"] = lambda v: first.append(time.perf_counter())
    t = time.perf_counter()
    view = run_challenger(entry, "1", "2", n_boot=500, **kw)
    out["full"] = time.perf_counter() - t
    out["first"] = (first[0] - t) if first else out["full"]
else:
    view = run_slices(entry, "1")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        export_slice_report(entry, view, Path(tmp) / "slices.xlsx")
        out["full"] = time.perf_counter() - t
print("RESULT " + json.dumps(out), flush=True)
"""


def run(kind: str, workspace: Path, pythonpath: str | None) -> dict[str, float]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(workspace), kind],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise SystemExit(f"{kind} failed: {proc.stderr[-1500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True, help="a demo workspace")
    parser.add_argument("--baseline", required=True, help="a commit of this repository")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=("champion", "export"), nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wk-ab-") as tmp:
        src, shim = Path(tmp) / "src", Path(tmp) / "path" / "watchkeeper"
        src.mkdir()
        shim.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "core", "app", "widgets"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        for part in ("core", "app", "widgets"):
            (shim / part).symlink_to(src / part, target_is_directory=True)
        base_path = str(shim.parent)
        for kind in args.only or ("champion", "export"):
            rows: dict[str, list[dict[str, float]]] = {"baseline": [], "this tree": []}
            for r in range(args.rounds):
                for name, path in (("baseline", base_path), ("this tree", None)):
                    got = run(kind, args.workspace, path)
                    rows[name].append(got)
                    shown = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(got.items()))
                    print(f"{kind} round {r + 1} {name:10}: {shown}", flush=True)
            for key in ("first", "full") if kind == "champion" else ("full",):
                base = statistics.median(x[key] for x in rows["baseline"])
                new = statistics.median(x[key] for x in rows["this tree"])
                print(
                    f"{kind} {key}: baseline median {base:.1f} s, this tree {new:.1f} s, "
                    f"ratio {new / base:.2f}"
                )


if __name__ == "__main__":
    main()
