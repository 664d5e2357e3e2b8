#!/usr/bin/env python3
"""Compare ropim's encoder with timm's on the same images.

    ropim export RUN_DIR --format beit --output enc.safetensors          # + enc.json sidecar
    ropim embed --checkpoint enc.safetensors --count 64 --save-inputs --output feats.safetensors
    python scripts/parity/compare_timm.py enc.safetensors feats.safetensors

Builds the timm model the sidecar names, loads the exported weights (strict, apart from timm's
non-persistent buffers), feeds it the exact normalized images ropim used (`images` in the features
file), and prints the max absolute and relative difference of the final normalized tokens
(timm's forward_features vs ropim's `features`). Needs torch, timm and safetensors.
"""
import importlib
import json
import sys

import torch
from safetensors.torch import load_file


def main():
    enc_path, feat_path = sys.argv[1], sys.argv[2]
    side = json.load(open(enc_path.removesuffix(".safetensors") + ".json"))
    module, cls = side["timm_class"].rsplit(".", 1)
    model = getattr(importlib.import_module(module), cls)(**side["timm_kwargs"]).eval()   # as written: timm takes every argument
    missing, unexpected = model.load_state_dict(load_file(enc_path), strict=False)
    missing = [k for k in missing if not k.endswith(("relative_position_index", "k_bias"))]
    if missing or unexpected:
        sys.exit(f"weights do not fit {cls}: missing {missing}, unexpected {unexpected}")
    feats = load_file(feat_path)
    with torch.no_grad():
        ref = model.forward_features(feats["images"].float())
    ours = feats["features"]
    diff = (ref - ours).abs()
    rel = diff.max() / ref.abs().max()
    print(json.dumps({"timm_class": side["timm_class"], "images": int(ours.shape[0]), "tokens": list(ours.shape[1:]),
                      "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                      "max_rel_diff": float(rel), "max_abs_value": float(ref.abs().max())}))


if __name__ == "__main__":
    main()
