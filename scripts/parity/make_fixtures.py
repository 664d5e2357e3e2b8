#!/usr/bin/env python3
"""Golden fixtures for ropim's parity tests, produced by the PyTorch reference (torch + timm).

For a tiny BEiT (shared relative position bias, learned absolute position embedding, LayerScale) and a
tiny timm VisionTransformer, with every weight randomized (seeded), this writes one safetensors file
each holding: the weights under timm's names, an input batch `input` [B, C, H, W], the final normalized
tokens `output` = model.forward_features(input) [B, N, D], a probe `probe` [B, N, D], and
`grad.<name>` = d(sum(output * probe)) / d(weight) for every weight.

    python scripts/parity/make_fixtures.py Tests/ROPIMTrainingTests/Fixtures

Needs torch and timm (pip install torch timm safetensors). The Swift tests read the files; they do not
need Python.
"""
import sys
import torch
from safetensors.torch import save_file
from timm.models.beit import Beit
from timm.models.vision_transformer import VisionTransformer


def fixture(model, name, out_dir, in_chans, img):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    model.eval()
    x = torch.randn(2, in_chans, img, img)
    y = model.forward_features(x)
    probe = torch.randn_like(y)
    (y * probe).sum().backward()
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith("relative_position_index")}
    tensors["input"] = x
    tensors["output"] = y.detach()
    tensors["probe"] = probe
    for k, p in model.named_parameters():
        tensors["grad." + k] = p.grad.detach().contiguous()
    save_file(tensors, f"{out_dir}/{name}.safetensors", metadata={"torch": torch.__version__, "producer": "scripts/parity/make_fixtures.py"})
    print(name, "max |output|", float(y.abs().max()))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/ROPIMTrainingTests/Fixtures"
    torch.set_default_dtype(torch.float64)   # the reference in double precision
    beit = Beit(img_size=8, patch_size=4, in_chans=2, num_classes=0, embed_dim=16, depth=2, num_heads=2,
                mlp_ratio=4.0, use_abs_pos_emb=True, use_shared_rel_pos_bias=True, init_values=0.1, global_pool="")
    fixture(beit, "beit_tiny", out, 2, 8)
    vit = VisionTransformer(img_size=8, patch_size=4, in_chans=2, num_classes=0, embed_dim=16, depth=2, num_heads=2,
                            mlp_ratio=4.0, qkv_bias=True, init_values=0.1, global_pool="token")
    fixture(vit, "vit_tiny", out, 2, 8)


if __name__ == "__main__":
    main()
