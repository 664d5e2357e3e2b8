// Synthetic labelled images for smoke runs and tests without a dataset on disk: each class is a
// distinct pattern (stripes, rings or a checkerboard at a class-specific orientation, frequency and
// tint) under a Gaussian envelope, randomly shifted, rotated a little and noised, so there is
// something to learn but no class is a single fixed image.

import Foundation
import ROPIMKernels

public enum SyntheticImages {
    /// `count` images of `channels`×`size`×`size`, labels `i % classes` (balanced). Deterministic for
    /// a seed: image i draws only from its own stream, so the result does not depend on thread count.
    public static func make(count: Int, channels: Int, size: Int, classes: Int, seed: UInt64, compute: ComputeContext) -> ImageDataset {
        precondition(count >= 0 && channels > 0 && size > 0 && classes > 0,
                     "synthetic images need count ≥ 0 and positive channels, size, classes")
        let n = channels * size * size
        var pixels = [UInt8](repeating: 0, count: count * n)
        let base = RNG(seed: seed)
        pixels.withUnsafeMutableBufferPointer { buf in
            let out = buf.baseAddress!
            compute.forEach(count) { i in
                var rng = base.derived(stream: UInt64(i))
                draw(classIndex: i % classes, classes: classes, channels: channels, size: size,
                     rng: &rng, into: out + i * n)
            }
        }
        let labels = (0..<count).map { Int32($0 % classes) }
        return ImageDataset(count: count, channels: channels, height: size, width: size, pixels: pixels,
                            labels: labels, classes: classes, source: "synthetic")
    }

    /// One image of class k into out [channels, size, size].
    static func draw(classIndex k: Int, classes: Int, channels: Int, size: Int, rng: inout RNG,
                     into out: UnsafeMutablePointer<UInt8>) {
        let s = Double(size)
        let kind = k % 3                                     // 0 stripes, 1 rings, 2 checkerboard
        let frequency = 1.5 + 0.75 * Double((k / 3) % 4)     // cycles across the image
        let angle = Double.pi * Double(k) / Double(classes) + rng.uniform(-0.1, 0.1)
        let (ux, uy) = (cos(angle), sin(angle))
        let phase = rng.uniform(-0.4, 0.4)
        let cx = s / 2 + rng.uniform(-s / 12, s / 12), cy = s / 2 + rng.uniform(-s / 12, s / 12)
        let sigma = s * (k % 2 == 0 ? 0.30 : 0.22)
        let amplitude = 200.0 * rng.uniform(0.8, 1.0)
        let background = 20.0 + rng.uniform(-10, 10)
        let omega = 2 * Double.pi * frequency / s
        for c in 0..<channels {
            // Class-dependent tint: every channel sees the pattern, with a class-specific weight.
            let tint = channels == 1 ? 1.0 : 0.55 + 0.45 * cos(2 * Double.pi * (Double(k) / Double(classes) + Double(c) / Double(channels)))
            for y in 0..<size {
                for x in 0..<size {
                    let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                    let along = dx * ux + dy * uy, across = -dx * uy + dy * ux
                    let pattern: Double
                    switch kind {
                    case 0: pattern = cos(omega * along + phase)
                    case 1: pattern = cos(omega * (dx * dx + dy * dy).squareRoot() + phase)
                    default: pattern = cos(omega * along + phase) * cos(omega * across)
                    }
                    let envelope = exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
                    let v = background + amplitude * tint * envelope * (0.5 + 0.5 * pattern) + 12 * rng.normal()
                    out[(c * size + y) * size + x] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
    }
}
