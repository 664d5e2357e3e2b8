#!/usr/bin/env bash
# Side-by-side speed and memory of one pre-training step: ropim vs the PyTorch reference
# (bench/torch_step.py), same shapes, same thread count, measured back to back in one run.
#   bash bench/compare.sh [threads]
# Needs a Python with torch (set PYTHON, default python3); installs nothing itself.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
PY=${PYTHON:-python3}
swift build -c release >/dev/null
ropim=.build/release/ropim
row() {  # name, ropim args, torch args
  local name=$1 rargs=$2 targs=$3
  local r t
  r=$($ropim bench $rargs --threads "$threads" --steps 5 --warmup 2 --json)
  t=$($PY bench/torch_step.py $targs --threads "$threads" --steps 5 --warmup 2)
  $PY - "$name" "$r" "$t" <<'PYEOF'
import json, sys
name, r, t = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"| {name} | {r['images_per_second']:.1f} | {t['images_per_second']:.1f} | {r['images_per_second']/t['images_per_second']:.2f}× "
      f"| {100*r['peak_fraction']:.0f} % | {r['peak_rss_bytes']/2**20:.0f} | {t['peak_rss_bytes']/2**20:.0f} | {r['peak_rss_bytes']/t['peak_rss_bytes']:.2f} |")
PYEOF
}
echo "| step (fp32, $threads threads) | ropim img/s | PyTorch img/s | ratio | ropim % of peak | ropim RSS MiB | PyTorch RSS MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|"
row "fmnist preset, 28/p4, 192×6, batch 128" "--preset fmnist --batch-size 128" "--img-size 28 --patch-size 4 --chans 1 --embed-dim 192 --depth 6 --heads 3 --sketch-size 7 --batch-size 128"
row "ViT-T 32/p4, batch 256" "--preset cifar --dataset synthetic --batch-size 256" "--img-size 32 --patch-size 4 --chans 3 --embed-dim 192 --depth 12 --heads 3 --sketch-size 8 --batch-size 256"
row "ViT-T 224/p16, batch 64" "--preset vit-tiny --batch-size 64" "--img-size 224 --patch-size 16 --chans 3 --embed-dim 192 --depth 12 --heads 3 --sketch-size 28 --batch-size 64"
