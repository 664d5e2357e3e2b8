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
total=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -n 1)
if [ -n "$total" ]; then
  n=$(echo "$total" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  f=$(echo "$total" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
  k=$(echo "$total" | grep -oE '[0-9]+ tests? skipped' | grep -oE '^[0-9]+' || echo 0)
  echo "$((n - f - k)) passed, $f failed, $k skipped"
fi
exit "$status"
