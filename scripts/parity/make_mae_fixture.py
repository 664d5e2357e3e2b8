#!/usr/bin/env python3
"""Golden fixture for ropim's MAE objective, from a PyTorch re-implementation of MAE's code path.

Follows facebookresearch/mae models_mae.py step by step (patchify, random_masking with the noise passed in,
forward_encoder, forward_decoder, forward_loss), with the encoder written as ropim's ViT: BEiT attention
(q and v biases, k bias zero), no LayerScale, no relative position bias, MAE's fixed 2-D sin-cos `pos_embed`,
LayerNorm eps 1e-6, exact GELU. In double precision, for a tiny config (img 8, patch 2, 3 channels, D 16 × 2
blocks, decoder 8 × 2, 2 heads each, mask ratio 0.75), with seeded random weights, images and noise.

Writes one safetensors file (F64):
  param.<name>          every weight, in ropim's names and layouts (`encoder.*`, `decoder_embed.*`, `mask_token`,
                        `decoder_blocks.N.*`, `decoder_norm.*`, `decoder_pred.*`)
  images [B, C, H, W], noise [B, K]
  loss.plain, grad.plain.<name>        norm_pix_loss False
  loss.normpix, grad.normpix.<name>    norm_pix_loss True

MAE patchifies as (p, q, c) per patch; ropim as (c, p, q) (a conv kernel's order). The loss does not see
the order, but decoder_pred's output rows do: the fixture stores decoder_pred in ropim's order and this
script permutes its rows into MAE's.

    python scripts/parity/make_mae_fixture.py Tests/ROPIMCoreTests/Fixtures

Needs torch, numpy and safetensors. The Swift test reads the file; it does not need Python.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

IMG, P, C, D, DEPTH, HEADS, MLP = 8, 2, 3, 16, 2, 2, 2.0
DD, DDEPTH, DHEADS = 8, 2, 2
RATIO, B = 0.75, 2
G = IMG // P
K = G * G
PD = P * P * C
EPS = 1e-6


def sincos_2d(dim, grid):
    """MAE's get_2d_sincos_pos_embed(dim, grid, cls_token=True): [1 + grid², dim], cls row zero."""
    gh = np.arange(grid, dtype=np.float64)
    gw = np.arange(grid, dtype=np.float64)
    mesh = np.stack(np.meshgrid(gw, gh))  # w goes first

    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=np.float64) / (d / 2.0)
        omega = 1.0 / 10000 ** omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    emb = np.concatenate([one_d(dim // 2, mesh[0]), one_d(dim // 2, mesh[1])], axis=1)
    return torch.from_numpy(np.concatenate([np.zeros([1, dim]), emb], axis=0)).unsqueeze(0)


def block_names(prefix, dim):
    hidden = int(dim * MLP)
    return [
        (f"{prefix}.norm1.weight", [dim]), (f"{prefix}.norm1.bias", [dim]),
        (f"{prefix}.attn.q_bias", [dim]), (f"{prefix}.attn.v_bias", [dim]),
        (f"{prefix}.attn.qkv.weight", [3 * dim, dim]),
        (f"{prefix}.attn.proj.weight", [dim, dim]), (f"{prefix}.attn.proj.bias", [dim]),
        (f"{prefix}.norm2.weight", [dim]), (f"{prefix}.norm2.bias", [dim]),
        (f"{prefix}.mlp.fc1.weight", [hidden, dim]), (f"{prefix}.mlp.fc1.bias", [hidden]),
        (f"{prefix}.mlp.fc2.weight", [dim, hidden]), (f"{prefix}.mlp.fc2.bias", [dim]),
    ]


def shapes():
    out = [("encoder.cls_token", [1, 1, D]), ("encoder.patch_embed.proj.weight", [D, C, P, P]),
           ("encoder.patch_embed.proj.bias", [D])]
    for i in range(DEPTH):
        out += block_names(f"encoder.blocks.{i}", D)
    out += [("encoder.norm.weight", [D]), ("encoder.norm.bias", [D]),
            ("decoder_embed.weight", [DD, D]), ("decoder_embed.bias", [DD]), ("mask_token", [1, 1, DD])]
    for i in range(DDEPTH):
        out += block_names(f"decoder_blocks.{i}", DD)
    out += [("decoder_norm.weight", [DD]), ("decoder_norm.bias", [DD]),
            ("decoder_pred.weight", [PD, DD]), ("decoder_pred.bias", [PD])]
    return out


def block(w, prefix, x, heads):
    """timm Block (pre-norm, no LayerScale, no drop path) with BEiT's q/v-bias attention."""
    n, t, dim = x.shape
    h = F.layer_norm(x, (dim,), w[f"{prefix}.norm1.weight"], w[f"{prefix}.norm1.bias"], EPS)
    qkv_bias = torch.cat([w[f"{prefix}.attn.q_bias"], torch.zeros_like(w[f"{prefix}.attn.q_bias"]), w[f"{prefix}.attn.v_bias"]])
    qkv = F.linear(h, w[f"{prefix}.attn.qkv.weight"], qkv_bias).reshape(n, t, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = ((q * (dim // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    a = (attn @ v).transpose(1, 2).reshape(n, t, dim)
    x = x + F.linear(a, w[f"{prefix}.attn.proj.weight"], w[f"{prefix}.attn.proj.bias"])
    h = F.layer_norm(x, (dim,), w[f"{prefix}.norm2.weight"], w[f"{prefix}.norm2.bias"], EPS)
    h = F.gelu(F.linear(h, w[f"{prefix}.mlp.fc1.weight"], w[f"{prefix}.mlp.fc1.bias"]))
    return x + F.linear(h, w[f"{prefix}.mlp.fc2.weight"], w[f"{prefix}.mlp.fc2.bias"])


def patchify(imgs):
    """MAE: imgs (N, C, H, W) -> (N, L, p*p*C), per patch in (p, q, c) order."""
    n = imgs.shape[0]
    x = imgs.reshape(n, C, G, P, G, P)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, G * G, P * P * C)


def random_masking(x, noise):
    """MAE's random_masking with the noise passed in: x (N, L, D) -> visible, mask (1 = hidden), ids_restore."""
    n, l, d = x.shape
    len_keep = int(l * (1 - RATIO))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    x_masked = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, d))
    mask = torch.ones([n, l], dtype=x.dtype)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return x_masked, mask, ids_restore


def forward_encoder(w, imgs, noise, pos_embed):
    x = F.conv2d(imgs, w["encoder.patch_embed.proj.weight"], w["encoder.patch_embed.proj.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2)                      # (N, L, D)
    x = x + pos_embed[:, 1:, :]
    x, mask, ids_restore = random_masking(x, noise)
    cls = w["encoder.cls_token"] + pos_embed[:, :1, :]
    x = torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)
    for i in range(DEPTH):
        x = block(w, f"encoder.blocks.{i}", x, HEADS)
    x = F.layer_norm(x, (D,), w["encoder.norm.weight"], w["encoder.norm.bias"], EPS)
    return x, mask, ids_restore


def forward_decoder(w, x, ids_restore, decoder_pos_embed, pred_weight, pred_bias):
    x = F.linear(x, w["decoder_embed.weight"], w["decoder_embed.bias"])
    mask_tokens = w["mask_token"].repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
    x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
    x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
    x = torch.cat([x[:, :1, :], x_], dim=1)
    x = x + decoder_pos_embed
    for i in range(DDEPTH):
        x = block(w, f"decoder_blocks.{i}", x, DHEADS)
    x = F.layer_norm(x, (DD,), w["decoder_norm.weight"], w["decoder_norm.bias"], EPS)
    x = F.linear(x, pred_weight, pred_bias)
    return x[:, 1:, :]


def forward_loss(imgs, pred, mask, norm_pix_loss):
    target = patchify(imgs)
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.e-6) ** .5
    loss = (pred - target) ** 2
    loss = loss.mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


def main(out_dir):
    torch.manual_seed(0)
    # Every value float32-representable, so ropim's Float copy is exact.
    weights = {n: (torch.randn(s, dtype=torch.float32) * 0.3).double() for n, s in shapes()}
    for n in weights:
        if n.endswith("norm1.weight") or n.endswith("norm2.weight") or n.endswith("norm.weight"):
            weights[n] = (1 + torch.randn(weights[n].shape, dtype=torch.float32) * 0.1).double()
    imgs = torch.randn(B, C, IMG, IMG, dtype=torch.float32).double()
    noise = torch.rand(B, K, dtype=torch.float32).double()
    # decoder_pred rows: ropim's (c, p, q) order -> MAE's (p, q, c).
    perm = torch.arange(PD).reshape(C, P, P).permute(1, 2, 0).reshape(-1)
    tensors = {f"param.{n}": t.clone() for n, t in weights.items()}
    tensors["images"], tensors["noise"] = imgs, noise
    pos, dpos = sincos_2d(D, G), sincos_2d(DD, G)
    for tag, norm_pix in [("plain", False), ("normpix", True)]:
        w = {n: t.clone().requires_grad_(True) for n, t in weights.items()}
        latent, mask, ids_restore = forward_encoder(w, imgs, noise, pos)
        pred = forward_decoder(w, latent, ids_restore, dpos, w["decoder_pred.weight"][perm], w["decoder_pred.bias"][perm])
        loss = forward_loss(imgs, pred, mask, norm_pix)
        loss.backward()
        tensors[f"loss.{tag}"] = loss.detach().reshape(1)
        for n, t in w.items():
            tensors[f"grad.{tag}.{n}"] = t.grad.detach().clone()
        print(f"{tag}: loss {loss.item():.10f}, {int(mask.sum())} of {mask.numel()} patches masked")
    save_file({n: t.contiguous() for n, t in tensors.items()}, f"{out_dir}/mae_tiny.safetensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ROPIMCoreTests/Fixtures")
