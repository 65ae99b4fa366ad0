#!/usr/bin/env bash
# Proves the sanitizer job is armed: builds the C core with PYAUTOTAPE_CANARY=1 on top of
# the sanitizers (csrc/canary.c: every unary forward kernel first writes one element past
# the end of its output) and runs the sanitizer job, scripts/sanitize.sh, exactly as CI
# does. The job must fail: a non-zero exit with an AddressSanitizer report naming the
# canary. This script shows the job's output and exit status, then
#   exits 0 when the job failed that way (the sanitizer job is armed), and
#   exits 1 when the job passed or failed for another reason (it is not).
# CI runs the sanitizer job without the canary (.ci/run); run this by hand:
#   scripts/canary.sh [pytest arguments...]
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PYAUTOTAPE_CANARY=1
export PYAUTOTAPE_SANITIZE_DIR="${PYAUTOTAPE_SANITIZE_DIR:-$ROOT/build/canary}"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

bash "$ROOT/scripts/sanitize.sh" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

echo
echo "== canary: the sanitizer job exited with status $rc"
if [ "$rc" -ne 0 ] && grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" "$LOG" \
        && grep -q "__wrap_pat_k_unary_fwd" "$LOG"; then
    grep -m1 "ERROR: AddressSanitizer" "$LOG"
    grep -m1 "SUMMARY: AddressSanitizer" "$LOG" || true
    echo "== canary: caught. The job fails on an out-of-bounds write in C: it is armed."
    exit 0
fi
echo "== canary: NOT caught: the sanitizer job did not fail with the canary's report" >&2
exit 1
