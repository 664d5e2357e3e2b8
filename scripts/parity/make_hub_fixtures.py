#!/usr/bin/env python3
"""Model directories and weight files written by timm itself, for `ropim import` / `ropim embed` tests.

    python scripts/parity/make_hub_fixtures.py Tests/ROPIMTrainingTests/Fixtures/hub

Each fixture is a tiny model built by `timm.create_model` with every weight randomized (seeded), saved the
way its users meet it:
  beit_f16/            timm's save_for_hf (config.json + model.safetensors), Beit with per-block relative
                       position bias and learned absolute position embedding, weights stored as F16
  vit_classifier/      save_for_hf of a VisionTransformer classifier (3 classes, global_pool avg: fc_norm after
                       mean pooling, no final norm), with label names, F32
  mae_bf16.safetensors a bare file as MAE-style training code leaves it: the ViT's weights under DDP's
                       `module.` prefix next to decoder_* weights and mask_token, BF16, no config
and NAME.expected.safetensors beside it: `input` [2, C, 8, 8], `output` = forward_features(input) and, for the
classifier, `logits` = forward(input), computed in double precision from the weights exactly as stored.
Needs torch, timm and safetensors; the Swift tests read the files and need no Python.
"""
import json
import os
import sys

import timm
import torch
from safetensors.torch import save_file
from timm.models._hub import save_for_hf


def randomize(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return model.eval()


def expected(model, dtype, in_chans, path, classifier=False):
    """Rounds the weights to `dtype` (as the file stores them), then runs the reference in float64."""
    ref = model.to(dtype).double()
    torch.manual_seed(7)
    x = torch.randn(2, in_chans, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        out = {"input": x.float(), "output": ref.forward_features(x).float()}
        if classifier:
            out["logits"] = ref(x).float()
    save_file({k: v.contiguous() for k, v in out.items()}, path, metadata={"timm": timm.__version__, "torch": torch.__version__})
    model.float()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/ROPIMTrainingTests/Fixtures/hub"
    os.makedirs(out, exist_ok=True)

    beit_args = dict(img_size=8, patch_size=4, in_chans=2, embed_dim=16, depth=2, num_heads=2, mlp_ratio=4.0,
                     use_abs_pos_emb=True, use_rel_pos_bias=True, use_shared_rel_pos_bias=False, init_values=0.1,
                     global_pool="")
    beit = randomize(timm.create_model("beit_base_patch16_224", num_classes=0, **beit_args,
                                       pretrained_cfg_overlay=dict(input_size=(2, 8, 8), mean=(0.5, 0.4), std=(0.2, 0.3))), 1)
    expected(beit, torch.float16, 2, f"{out}/beit_f16.expected.safetensors")
    save_for_hf(beit.half(), f"{out}/beit_f16", model_args=beit_args, safe_serialization=True)

    vit_args = dict(img_size=8, patch_size=4, in_chans=1, embed_dim=16, depth=2, num_heads=2, mlp_ratio=4.0,
                    qkv_bias=True, init_values=0.1, global_pool="avg")
    vit = randomize(timm.create_model("vit_tiny_patch16_224", num_classes=3, **vit_args,
                                      pretrained_cfg_overlay=dict(input_size=(1, 8, 8), mean=(0.3,), std=(0.35,))), 2)
    expected(vit, torch.float32, 1, f"{out}/vit_classifier.expected.safetensors", classifier=True)
    save_for_hf(vit, f"{out}/vit_classifier", model_args=vit_args, model_config={"label_names": ["ant", "bee", "cat"]},
                safe_serialization=True)

    mae = randomize(timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=8, patch_size=4, in_chans=1,
                                      embed_dim=16, depth=2, num_heads=2, global_pool="token"), 3)
    expected(mae, torch.bfloat16, 1, f"{out}/mae_bf16.expected.safetensors")
    state = {"module." + k: v.to(torch.bfloat16).contiguous() for k, v in mae.state_dict().items()}
    torch.manual_seed(4)
    state["module.mask_token"] = torch.randn(1, 1, 16).to(torch.bfloat16)
    state["module.decoder_embed.weight"] = torch.randn(8, 16).to(torch.bfloat16)
    state["module.decoder_pred.weight"] = torch.randn(16, 8).to(torch.bfloat16)
    save_file(state, f"{out}/mae_bf16.safetensors")

    for name in ("beit_f16", "vit_classifier"):
        print(name, json.load(open(f"{out}/{name}/config.json"))["architecture"], sorted(os.listdir(f"{out}/{name}")))


if __name__ == "__main__":
    main()
