// Vectorized exp and erf for SIMD16<Float>, accurate to a few ulp (exp) and 1.5e-7 absolute (erf):
// libm's scalar expf/erff cost a call per element and dominated GELU and softmax.

public typealias Float16x = SIMD16<Float>

public enum FastMath {
    /// e^x: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 Taylor polynomial, 2^n through the
    /// exponent bits. Inputs are clamped to [−87, 88] (the result then under/overflows to ~0 / ~Float.max).
    // @_transparent, not @inline(__always): the latter was not honoured across modules inside
    // softmax and GELU backward, and a SIMD16 call boundary splits the vector into xmm halves.
    @_transparent
    public static func exp(_ x: Float16x) -> Float16x {
        // Clamp with masked selects (pointwiseMin/Max and clamped() are scalarized).
        let lo = Float16x(repeating: -87), hi = Float16x(repeating: 88)
        let x = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        // n = round(x / ln2) with the 1.5·2²³ trick: the low mantissa bits of t hold n exactly
        // (float→int rounding conversions are not vectorized).
        let magic = Float16x(repeating: 12_582_912)
        let t = x.addingProduct(x, Float16x(repeating: 0.442_695_04)) + magic   // x·log2(e) + magic
        let nf = t - magic
        var r = x.addingProduct(nf, Float16x(repeating: -0.693_145_75))          // ln2, high part
        r = r.addingProduct(nf, Float16x(repeating: -1.428_606_8e-6))            // ln2, low part
        var p = Float16x(repeating: 1.0 / 720)
        p = Float16x(repeating: 1.0 / 120).addingProduct(p, r)
        p = Float16x(repeating: 1.0 / 24).addingProduct(p, r)
        p = Float16x(repeating: 1.0 / 6).addingProduct(p, r)
        p = Float16x(repeating: 0.5).addingProduct(p, r)
        p = Float16x(repeating: 1).addingProduct(p, r)
        p = Float16x(repeating: 1).addingProduct(p, r)
        let n = unsafeBitCast(t, to: SIMD16<UInt32>.self) &- unsafeBitCast(magic, to: SIMD16<UInt32>.self)
        let scale = unsafeBitCast((n &+ 127) &<< 23, to: Float16x.self)
        return p * scale
    }

    /// erf(x), Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd extension for x < 0.
    @_transparent
    public static func erf(_ x: Float16x) -> Float16x {
        erf(x, expOfMinusSquare: exp(-x * x))
    }

    /// erf(x) given e^(−x²) computed by the caller (GELU's backward shares it with the normal density).
    @_transparent
    public static func erf(_ x: Float16x, expOfMinusSquare e: Float16x) -> Float16x {
        let negative = x .< 0
        let ax = x.replacing(with: -x, where: negative)
        let t = 1 / Float16x(repeating: 1).addingProduct(ax, Float16x(repeating: 0.327_591_1))
        var p = Float16x(repeating: 1.061_405_429)
        p = Float16x(repeating: -1.453_152_027).addingProduct(p, t)
        p = Float16x(repeating: 1.421_413_741).addingProduct(p, t)
        p = Float16x(repeating: -0.284_496_736).addingProduct(p, t)
        p = Float16x(repeating: 0.254_829_592).addingProduct(p, t)
        let y = 1 - p * t * e
        return y.replacing(with: -y, where: negative)
    }
}
