#!/usr/bin/env bash
# Data-parallel throughput (issue 15): images/s of pre-training steps for
#   1 process × 1 thread,  1 process × 2 threads,  2 ranks (mpirun) × 1 thread each,
# measured in alternation (round-robin over the three, ROUNDS times) so that the machine's drift hits all
# alike, on the fmnist preset and ViT-T 32/p4 (the cifar preset), generated data. Each run takes STEPS
# optimizer steps of the preset's per-process batch (a rank keeps its batch: 2 ranks do twice the images per
# step, as DDP does); images/s counts steps 2..STEPS (the first pays for allocation) over the metrics clock.
# Also prints rank 0's all-reduce share of the 2-rank runs.
#   bash bench/mpi.sh                 # ROUNDS=3 STEPS=12
#   ROUNDS=5 STEPS=20 PRESETS="fmnist" bash bench/mpi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ROPIM:=.build/release/ropim}" "${ROUNDS:=3}" "${STEPS:=12}" "${PRESETS:=fmnist cifar}"
[[ -x $ROPIM ]] || { echo "mpi.sh: no ropim at $ROPIM (swift build -c release)" >&2; exit 2; }
command -v mpirun > /dev/null || { echo "mpi.sh: needs mpirun (openmpi-bin; bash scripts/setup.sh)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {   # run NAME PRESET THREADS LAUNCH... : one measured run, prints "NAME PRESET images/s allreduce_share"
  local name=$1 preset=$2 threads=$3; shift 3
  local out="$work/$name-$preset-$RANDOM"
  "$@" pretrain --preset "$preset" --threads "$threads" --dataset synthetic --set data.synthetic_count=4096 --max-steps "$STEPS" \
    --set run.log_every=1000 --output "$out" > "$out.log" 2>&1 || { echo "mpi.sh: $name $preset failed:"; tail -5 "$out.log"; exit 1; }
  python3 - "$out" "$name" "$preset" <<'EOF'
import json, sys
out, name, preset = sys.argv[1:]
rows = [json.loads(l) for l in open(out + "/metrics.jsonl") if '"loss"' in l]
summary = json.load(open(out + "/summary.json"))
batch = 0
for line in open(out + ".log"):
    if "global batch" in line and line.startswith("lr ="):
        batch = int(line.split("global batch")[1].split()[0])
t = rows[-1]["time"] - rows[0]["time"]
share = summary.get("allreduce_seconds", 0.0) / summary["seconds"]
print(f"{name} {preset} {(len(rows) - 1) * batch / t:.2f} {share:.4f}")
EOF
}

for ((i = 1; i <= ROUNDS; i++)); do
  for preset in $PRESETS; do
    run 1x1 "$preset" 1 "$ROPIM"
    run 1x2 "$preset" 2 "$ROPIM"
    run 2x1 "$preset" 1 mpirun --oversubscribe -np 2 "$ROPIM"
  done
done | python3 -c "
import statistics, sys
rows = {}
for line in sys.stdin:
    print(line.rstrip())
    name, preset, ips, share = line.split()
    rows.setdefault((preset, name), []).append((float(ips), float(share)))
for preset in dict.fromkeys(p for p, _ in rows):
    base = statistics.median(v for v, _ in rows[(preset, '1x1')])
    for name in ('1x1', '1x2', '2x1'):
        ips = statistics.median(v for v, _ in rows[(preset, name)])
        share = statistics.median(s for _, s in rows[(preset, name)])
        extra = f'  all-reduce {100 * share:.1f} % of the run' if name == '2x1' else ''
        print(f'{preset:7s} {name}: median {ips:8.2f} img/s  ({ips / base:.2f}× 1 process × 1 thread){extra}')
"
