#!/usr/bin/env bash
# Sets up (system packages) and runs the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The tests are XCTest; swift test then also prints Swift Testing's empty run last. End with one plain
# summary line of the XCTest totals so the closing line is the real count.
total=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1)
if [ -n "$total" ]; then
  n=$(echo "$total" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  f=$(echo "$total" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
  echo "$((n - f)) passed, $f failed"
fi
exit "$status"
