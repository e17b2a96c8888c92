"""``watchkeeper drift --reference --current --json`` in a process of its own, under an
address-space cap: prints ``{"code", "peak_mb", "rows", "reference_rows"}`` (the peak is
``VmHWM``). ``STREAM_BYTES`` and ``REFERENCE_BYTES`` set the thresholds of the same names;
the options after them go to the command.

    python tests/drift_cli_child.py CAP_MB STREAM_BYTES REFERENCE_BYTES REFERENCE CURRENT [OPT...]
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys


def main() -> None:
    cap_mb, stream_bytes, reference_bytes, reference, current = sys.argv[1:6]
    cap = int(cap_mb) << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from child_process import peak_mb  # this script's folder, tests/, is on the path

    from watchkeeper.app import cli
    from watchkeeper.core.workbench import analyses

    analyses.STREAM_BYTES = int(stream_bytes)
    analyses.REFERENCE_BYTES = int(reference_bytes)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(
            ["drift", "--reference", reference, "--current", current, "--json", *sys.argv[6:]]
        )
    doc = json.loads(out.getvalue()) if code == 0 else {}
    peak = peak_mb()
    rows = sum(w["rows"] for w in doc.get("windows", []))
    reference_rows = doc.get("reference", {}).get("rows", 0)
    print(
        json.dumps(
            {"code": code, "peak_mb": round(peak), "rows": rows, "reference_rows": reference_rows}
        )
    )


if __name__ == "__main__":
    main()
