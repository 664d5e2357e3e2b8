#!/usr/bin/env python3
"""PyTorch reference of ropim's pre-training step, for side-by-side speed and memory.

Own code, written from the method description (not the reference repository): a BEiT-style ViT
(pre-LayerNorm, q/v bias, shared relative position bias, LayerScale, drop path, exact GELU), ROPIM
corruption X -> Pi X with a balanced count sketch per image, linear decoder, L1 loss on the
complement, backward, grad clipping at 5, AdamW. Pi is applied as a batched dense K x K product,
as the reference implementation does.

Prints one JSON object: images_per_second, step_seconds, peak_rss_bytes, ...
"""
import argparse, json, math, resource, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rel_index(g):
    coords = torch.stack(torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel[:, :, 0] += g - 1
    rel[:, :, 1] += g - 1
    rel[:, :, 0] *= 2 * g - 1
    n = g * g + 1
    rows = (2 * g - 1) ** 2 + 3
    idx = torch.zeros(n, n, dtype=torch.long)
    idx[1:, 1:] = rel.sum(-1)
    idx[0, 1:] = rows - 3
    idx[1:, 0] = rows - 2
    idx[0, 0] = rows - 1
    return idx, rows


class Attention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(d))
        self.v_bias = nn.Parameter(torch.zeros(d))
        self.proj = nn.Linear(d, d)

    def forward(self, x, bias):
        b, n, d = x.shape
        qkv_bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, qkv_bias).reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q * (d // self.h) ** -0.5) @ k.transpose(-2, -1) + bias
        x = (a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(x)


def drop_path(x, p, training):
    if p == 0 or not training:
        return x
    keep = x.new_empty(x.shape[0], 1, 1).bernoulli_(1 - p) / (1 - p)
    return x * keep


class Block(nn.Module):
    def __init__(self, d, h, dp):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, h)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.gamma_1 = nn.Parameter(0.1 * torch.ones(d))
        self.gamma_2 = nn.Parameter(0.1 * torch.ones(d))
        self.dp = dp

    def forward(self, x, bias):
        x = x + drop_path(self.gamma_1 * self.attn(self.norm1(x), bias), self.dp, self.training)
        return x + drop_path(self.gamma_2 * self.fc2(F.gelu(self.fc1(self.norm2(x)))), self.dp, self.training)


class ROPIMViT(nn.Module):
    def __init__(self, img, patch, chans, d, depth, heads, ksketch):
        super().__init__()
        self.p, self.c, self.g = patch, chans, img // patch
        self.k, self.ks = self.g * self.g, ksketch
        self.patch_embed = nn.Conv2d(chans, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        idx, rows = rel_index(self.g)
        self.register_buffer("rel_index", idx, persistent=False)
        self.rel_table = nn.Parameter(torch.zeros(rows, heads))
        self.blocks = nn.ModuleList([Block(d, heads, 0.1 * i / max(depth - 1, 1)) for i in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder = nn.Linear(d, patch * patch * chans)
        self.heads = heads

    def sketch(self, b):
        """Dense projector Pi = P^T P / c for a balanced count sketch per image: [b, K, K]."""
        k, ks = self.k, self.ks
        h = torch.cat([torch.stack([torch.randperm(ks) for _ in range(k // ks)]).flatten()[None] for _ in range(b)])
        s = torch.ones(b, k)
        s[:, k // 2:] = -1
        s = s[torch.arange(b)[:, None], torch.argsort(torch.rand(b, k), dim=1)]
        P = torch.zeros(b, ks, k)
        P.scatter_(1, h[:, None, :], s[:, None, :])
        return P.transpose(1, 2) @ P / (k // ks)

    def forward(self, imgs):
        b = imgs.shape[0]
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2)              # [B, K, D]
        pi = self.sketch(b)
        x = pi @ x                                                         # corrupt
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], 1)
        n = x.shape[1]
        bias = self.rel_table[self.rel_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        for blk in self.blocks:
            x = blk(x, bias)
        pred = self.decoder(self.norm(x)[:, 1:])                           # [B, K, p*p*C]
        target = F.unfold(imgs, self.p, stride=self.p).transpose(1, 2)     # (c, i, j) order
        resid = target - pred
        comp = resid - pi @ resid
        return comp.abs().mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--img-size", type=int, default=28)
    ap.add_argument("--patch-size", type=int, default=4)
    ap.add_argument("--chans", type=int, default=1)
    ap.add_argument("--embed-dim", type=int, default=192)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--sketch-size", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = ROPIMViT(a.img_size, a.patch_size, a.chans, a.embed_dim, a.depth, a.heads, a.sketch_size)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    imgs = torch.randn(a.batch_size, a.chans, a.img_size, a.img_size)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = m(imgs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"tool": "pytorch", "torch": torch.__version__, "threads": a.threads, "batch_size": a.batch_size,
                      "img_size": a.img_size, "step_seconds": med, "images_per_second": a.batch_size / med,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, sort_keys=True))


if __name__ == "__main__":
    main()
