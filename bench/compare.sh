#!/usr/bin/env bash
# Side-by-side speed and memory of one pre-training step: ropim vs the PyTorch reference
# (bench/torch_step.py), same shapes, same thread count, measured in one run. Each row alternates
# the two tools ROUNDS times (default 3: ropim, torch, ropim, torch, ...) and reports the median
# images/s of each and the largest peak RSS: a shared machine drifts by ±25 % within minutes.
#   [ROUNDS=3] bash bench/compare.sh [threads]
# Needs a Python with torch (set PYTHON, default python3); installs nothing itself.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
PY=${PYTHON:-python3}
swift build -c release >/dev/null
ropim=.build/release/ropim
rounds=${ROUNDS:-3}
row() {  # name, ropim args, torch args
  local name=$1 rargs=$2 targs=$3
  local rs=() ts=() i
  for ((i = 0; i < rounds; i++)); do
    rs+=("$($ropim bench $rargs --threads "$threads" --steps 5 --warmup 2 --json)")
    ts+=("$($PY bench/torch_step.py $targs --threads "$threads" --steps 5 --warmup 2)")
  done
  $PY - "$name" "${#rs[@]}" "${rs[@]}" "${ts[@]}" <<'PYEOF'
import json, statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
r = [json.loads(x) for x in sys.argv[3:3 + n]]
t = [json.loads(x) for x in sys.argv[3 + n:]]
ri = statistics.median(x['images_per_second'] for x in r)
ti = statistics.median(x['images_per_second'] for x in t)
peak = statistics.median(x['peak_fraction'] for x in r)
rm, tm = max(x['peak_rss_bytes'] for x in r), max(x['peak_rss_bytes'] for x in t)
print(f"| {name} | {ri:.1f} | {ti:.1f} | {ri / ti:.2f}× | {100 * peak:.0f} % | {rm / 2**20:.0f} | {tm / 2**20:.0f} | {rm / tm:.2f} |")
PYEOF
}
echo "| step (fp32, $threads threads, median of $rounds) | ropim img/s | PyTorch img/s | ratio | ropim % of peak | ropim RSS MiB | PyTorch RSS MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|"
row "fmnist preset, 28/p4, 192×6, batch 128" "--preset fmnist --batch-size 128" "--img-size 28 --patch-size 4 --chans 1 --embed-dim 192 --depth 6 --heads 3 --sketch-size 7 --batch-size 128"
row "ViT-T 32/p4, batch 256" "--preset cifar --batch-size 256" "--img-size 32 --patch-size 4 --chans 3 --embed-dim 192 --depth 12 --heads 3 --sketch-size 8 --batch-size 256"
row "ViT-T 224/p16, batch 64" "--preset vit-tiny --batch-size 64" "--img-size 224 --patch-size 16 --chans 3 --embed-dim 192 --depth 12 --heads 3 --sketch-size 28 --batch-size 64"
