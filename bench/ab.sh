#!/usr/bin/env bash
# A/B speed of two ropim binaries on one bench setting, measured in alternation (A B A B ...) so that
# the machine's drift hits both alike. Prints each run, then the median images/s of each and B/A.
#   bash bench/ab.sh OLD_BINARY NEW_BINARY PAIRS [ropim bench args...]
# e.g. cp .build/release/ropim /tmp/ropim-old; (change, rebuild);
#      bash bench/ab.sh /tmp/ropim-old .build/release/ropim 5 --preset vit-tiny --batch-size 64
set -euo pipefail
a=$1 b=$2 pairs=$3
shift 3
for bin in "$a" "$b"; do [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable ropim" >&2; exit 2; }; done
for ((i = 1; i <= pairs; i++)); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    "$bin" bench "$@" --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
print('$side', round(r['images_per_second'], 2), json.dumps({k: round(v, 4) for k, v in sorted(r['op_seconds'].items())}))"
  done
done | python3 -c "
import json, statistics, sys
rows = {'A': [], 'B': []}
ops = {'A': {}, 'B': {}}
for line in sys.stdin:
    print(line.rstrip())
    side, ips, o = line.split(' ', 2)
    rows[side].append(float(ips))
    for k, v in json.loads(o).items(): ops[side].setdefault(k, []).append(v)
ma, mb = statistics.median(rows['A']), statistics.median(rows['B'])
print(f'median images/s  A {ma:.2f}  B {mb:.2f}  B/A {mb / ma:.3f}')
for k in sorted(set(ops['A']) | set(ops['B'])):
    oa, ob = (statistics.median(ops[s].get(k, [0])) for s in 'AB')
    print(f'  {k:12s} A {oa:.4f} s  B {ob:.4f} s')
"
