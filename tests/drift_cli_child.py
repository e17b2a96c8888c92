"""``watchkeeper drift --reference --current --json`` in a process of its own, under an
address-space cap: prints ``{"code", "peak_mb", "rows"}`` (the peak is ``VmHWM``).

    python tests/drift_cli_child.py CAP_MB STREAM_BYTES REFERENCE CURRENT
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys


def main() -> None:
    cap_mb, stream_bytes, reference, current = sys.argv[1:5]
    cap = int(cap_mb) << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from child_process import peak_mb  # this script's folder, tests/, is on the path

    from watchkeeper.app import cli
    from watchkeeper.core.workbench import analyses

    analyses.STREAM_BYTES = int(stream_bytes)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["drift", "--reference", reference, "--current", current, "--json"])
    doc = json.loads(out.getvalue()) if code == 0 else {}
    peak = peak_mb()
    rows = sum(w["rows"] for w in doc.get("windows", []))
    print(json.dumps({"code": code, "peak_mb": round(peak), "rows": rows}))


if __name__ == "__main__":
    main()
