#!/usr/bin/env python3
"""Compare an export, as timm builds it with no other code, with `ropim embed` on the same images.

    ropim export RUN_DIR --format timm --output exported/            # config.json + model.safetensors
    ropim embed --checkpoint exported/ --count 64 --save-inputs --output feats.safetensors
    python scripts/parity/compare_timm.py exported/ feats.safetensors [--tolerance 1e-5]

Builds the model with `timm.create_model("local-dir:DIR", pretrained=True)` (timm reads config.json, picks the
registered architecture, passes model_args and loads model.safetensors strictly), feeds it the exact normalized
images ropim used (`images` in the features file) and prints, as one JSON line, the largest absolute difference
of the final tokens (timm's forward_features vs ropim's `features`) and that difference relative to the largest
|token value|. Exits 1 when the relative difference exceeds --tolerance. Needs torch, timm and safetensors.
"""
import argparse
import json
import sys

import timm
import torch
from safetensors.torch import load_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("features")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()
    model = timm.create_model(f"local-dir:{a.model_dir}", pretrained=True).eval()
    feats = load_file(a.features)
    with torch.no_grad():
        ref = model.forward_features(feats["images"].float())
    ours = feats["features"]
    diff = (ref - ours).abs()
    rel = float(diff.max() / ref.abs().max())
    print(json.dumps({"architecture": model.pretrained_cfg.get("architecture"), "class": type(model).__name__,
                      "timm": timm.__version__, "torch": torch.__version__, "images": int(ours.shape[0]),
                      "tokens": list(ours.shape[1:]), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                      "max_rel_diff": rel, "max_abs_value": float(ref.abs().max())}))
    if not rel <= a.tolerance:
        sys.exit(f"relative difference {rel:.3g} exceeds {a.tolerance:g}")


if __name__ == "__main__":
    main()
