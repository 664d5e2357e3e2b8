#!/usr/bin/env bash
# Golden runs that pin behaviour across refactors (issue 13): 40 pre-training steps for each objective
# and a 40-step fine-tune from the ROPIM run, all seeded, 2 threads.
#
#   bash scripts/golden/run.sh record [ROPIM]   # write scripts/golden/expected/ (losses + final tensors' SHA-256)
#   bash scripts/golden/run.sh check  [ROPIM]   # rerun and compare byte for byte; exit 1 on any difference
#
# ROPIM defaults to .build/release/ropim (build it first: swift build -c release).
# Needs Fashion-MNIST (/usr/share/datasets/fashion-mnist, Debian dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: run.sh record|check [ROPIM]}
bin=${2:-.build/release/ropim}
golden=scripts/golden/expected
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--max-steps 40 --subset 4096 --seed 3 --threads 2)
for c in rop mask; do
  "$bin" pretrain "${common[@]}" --corruption "$c" --output "$work/pretrain-$c" > "$work/pretrain-$c.log"
done
"$bin" finetune --pretrained "$work/pretrain-rop/checkpoint.safetensors" "${common[@]}" --test-subset 1000 \
  --output "$work/finetune-rop" > "$work/finetune-rop.log"
mkdir -p "$work/now"
for r in pretrain-rop pretrain-mask finetune-rop; do
  python3 scripts/golden/digest.py "$work/$r" > "$work/now/$r.txt"
done
case "$mode" in
  record) mkdir -p "$golden"; cp "$work"/now/*.txt "$golden/"; echo "golden: recorded into $golden/" ;;
  check)
    status=0
    for r in pretrain-rop pretrain-mask finetune-rop; do
      if diff -u "$golden/$r.txt" "$work/now/$r.txt" > "$work/$r.diff"; then
        echo "golden: $r identical ($(grep -c '^loss' "$golden/$r.txt") losses, $(grep -c '^tensor' "$golden/$r.txt") tensors)"
      else
        echo "golden: $r DIFFERS"; head -20 "$work/$r.diff"; status=1
      fi
    done
    exit $status ;;
  *) echo "usage: run.sh record|check [ROPIM]" >&2; exit 2 ;;
esac
