#!/usr/bin/env python3
"""Reference values for RelativePositionBias.resizeTable: torch's bicubic interpolate
(align_corners=False) of a relative position bias table, as timm resizes BEiT tables.

    python scripts/parity/resize_reference.py     # prints the Swift literals used in ROPIMNNTests
"""
import torch
import torch.nn.functional as F

def main():
    heads, (gh, gw), (nh, nw) = 2, (2, 3), (3, 4)
    src = 2 * gh - 1, 2 * gw - 1
    dst = 2 * nh - 1, 2 * nw - 1
    g = torch.Generator().manual_seed(0)
    table = torch.randn(src[0] * src[1] + 3, heads, generator=g, dtype=torch.float64)
    grid = table[:-3].T.reshape(1, heads, *src)
    out = F.interpolate(grid, size=dst, mode="bicubic", align_corners=False)
    resized = torch.cat([out.reshape(heads, -1).T, table[-3:]])
    fmt = lambda t: ", ".join(f"{v:.9g}" for v in t.flatten().tolist())
    print(f"let input: [Float] = [{fmt(table)}]")
    print(f"let expected: [Float] = [{fmt(resized)}]")

if __name__ == "__main__":
    main()
