"""Prints a run's deterministic outputs, one line each, for byte-exact comparison across builds.

Usage: python3 scripts/golden/digest.py RUN_DIR

- every metrics.jsonl record's step and loss (and grad_norm, lr, test_top1 where present), with the
  float written exactly as the run wrote it (the JSON text, not a re-rounded value);
- every tensor of RUN_DIR/checkpoint.safetensors: name, dtype, shape and the SHA-256 of its bytes.
Timing fields (time, images_per_second) are left out: they differ between runs.
"""
import hashlib
import json
import re
import struct
import sys

run = sys.argv[1]
keys = ("step", "epoch", "loss", "lr", "grad_norm", "test_top1", "test_top5", "test_loss")
with open(f"{run}/metrics.jsonl") as f:
    for line in f:
        # Keep each number's text as written: parse pairs with a regex, not json.loads (which re-rounds).
        fields = dict(re.findall(r'"(\w+)":\s*([^,}]+)', line))
        kept = [f"{k}={fields[k]}" for k in keys if k in fields]
        print("loss " + " ".join(kept))
with open(f"{run}/checkpoint.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        start, end = t["data_offsets"]
        f.seek(base + start)
        digest = hashlib.sha256(f.read(end - start)).hexdigest()
        print(f"tensor {name} {t['dtype']} {t['shape']} {digest}")
