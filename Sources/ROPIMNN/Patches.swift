// Images ↔ patch rows. An image [C, H, W] becomes K = (H/p)(W/p) rows in raster order, each row the
// patch's pixels in (c, i, j) order: the flattening of a torch Conv2d kernel [D, C, p, p], and the
// channel order of SimMIM's 1×1-conv + PixelShuffle decoder.

import ROPIMKernels

public enum Patches {
    /// patches [B, K, C·p·p] from images [B, C, H, W].
    public static func patchify(_ images: UnsafePointer<Float>, batch: Int, channels c: Int, height h: Int, width w: Int,
                                patch p: Int, into out: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let gh = h / p, gw = w / p, row = c * p * p
        compute.forEach(batch) { b in
            let img = images + b * c * h * w
            for gy in 0..<gh {
                for gx in 0..<gw {
                    let o = out + ((b * gh + gy) * gw + gx) * row
                    for ch in 0..<c {
                        for i in 0..<p {
                            let src = img + (ch * h + gy * p + i) * w + gx * p
                            let dst = o + (ch * p + i) * p
                            for j in 0..<p { dst[j] = src[j] }
                        }
                    }
                }
            }
        }
    }

    /// images [B, C, H, W] from patches [B, K, C·p·p] (inverse of patchify).
    public static func unpatchify(_ patches: UnsafePointer<Float>, batch: Int, channels c: Int, height h: Int, width w: Int,
                                  patch p: Int, into out: UnsafeMutablePointer<Float>) {
        let gh = h / p, gw = w / p, row = c * p * p
        for b in 0..<batch {
            let img = out + b * c * h * w
            for gy in 0..<gh {
                for gx in 0..<gw {
                    let o = patches + ((b * gh + gy) * gw + gx) * row
                    for ch in 0..<c {
                        for i in 0..<p {
                            let dst = img + (ch * h + gy * p + i) * w + gx * p
                            let src = o + (ch * p + i) * p
                            for j in 0..<p { dst[j] = src[j] }
                        }
                    }
                }
            }
        }
    }
}
