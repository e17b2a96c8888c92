#!/usr/bin/env bash
# Build the frozen one-folder Watchkeeper bundle (packaging/dist/watchkeeper) and smoke-test it.
# Usage: bash packaging/build.sh        (from anywhere; needs PyInstaller in the venv)
# Env:   PYTHON=/path/to/python         (default: the repository's .venv)
#        WK_SKIP_BUILD=1                (only re-run the smoke test on an existing build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
DIST="$HERE/dist"
APP="$DIST/watchkeeper/watchkeeper"
DEMO_WS="${WK_SMOKE_WORKSPACE:-/tmp/wk-frozen-demo}"
SHOT="${WK_SMOKE_SCREENSHOT:-/tmp/wk-frozen.png}"

fail() { echo "build.sh: FAILED: $*" >&2; exit 1; }

cd "$HERE"
if [[ "${WK_SKIP_BUILD:-0}" != 1 ]]; then
    "$PYTHON" -m PyInstaller --version >/dev/null 2>&1 \
        || fail "PyInstaller is not installed in $PYTHON (run: $REPO/.venv/bin/pip install pyinstaller)"
    echo "== building with PyInstaller $("$PYTHON" -m PyInstaller --version)"
    start=$(date +%s)
    "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$HERE/build" watchkeeper.spec \
        || fail "PyInstaller build"
    end=$(date +%s)
    echo "== build time: $((end - start)) s"
fi
[[ -x "$APP" ]] || fail "no frozen executable at $APP"
echo "== bundle size: $(du -sh "$DIST/watchkeeper" | cut -f1)  ($DIST/watchkeeper)"

echo "== smoke 1/2: watchkeeper --version"
version_out="$("$APP" --version)" || fail "--version exited $?"
echo "$version_out"
[[ "$version_out" == watchkeeper\ [0-9]* ]] || fail "--version printed '$version_out'"

echo "== smoke 2/2: demo offscreen with screenshot"
rm -rf "$DEMO_WS" "$SHOT"
smoke_start=$(date +%s)
QT_QPA_PLATFORM=offscreen timeout 300 "$APP" demo --workspace "$DEMO_WS" \
    --events-per-day 1000 --screenshot "$SHOT" || fail "demo exited $?"
echo  # DuckDB's nanobind may print a leak report at exit without a final newline
echo "== demo smoke time: $(( $(date +%s) - smoke_start )) s"
[[ -s "$SHOT" ]] || fail "no screenshot at $SHOT"
"$PYTHON" - "$SHOT" <<'PY' || fail "screenshot is not a sensible PNG"
import struct, sys
data = open(sys.argv[1], "rb").read(24)
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert w >= 400 and h >= 300, f"screenshot only {w}x{h}"
print(f"screenshot {sys.argv[1]}: {w}x{h}")
PY
echo "== smoke test passed"
