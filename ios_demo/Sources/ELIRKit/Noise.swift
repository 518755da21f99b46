import Foundation

/// The seeded latent noise of elir_mobile/noise.py ("elir-noise-1"), line for line (the generator is documented
/// there), so the phone draws the noise the desktop restore and the Android app draw for the same photo and seed.
/// Value `i` of a C-order field depends only on (seed, i): a tile's window is computed without the whole field.
/// log/cos come from Apple's libm: against numpy the values agree exactly or, rarely, by one float32 ulp.
public enum Noise {
    public static let generator = "elir-noise-1"
    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    static func mix(_ x: UInt64) -> UInt64 {
        var z = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard normal value `i` of the stream for `seed` (a negative seed is taken modulo 2^64).
    public static func gaussian(seed: Int64, index i: UInt64) -> Double {
        let s = UInt64(bitPattern: seed)
        let a = mix(s &+ (2 &* i &+ 1) &* gamma)
        let b = mix(s &+ (2 &* i &+ 2) &* gamma)
        let u1 = Double((a >> 11) + 1) * 0x1p-53
        let u2 = Double(b >> 11) * 0x1p-53
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// sigma * N(0, 1) value `i`, rounded to float32 once, as noise.latent_noise computes it.
    public static func value(seed: Int64, sigma: Double, index: UInt64) -> Float {
        Float(sigma * gaussian(seed: seed, index: index))
    }

    /// The (channels, t, t) window at latent (ly, lx) of the (channels, lh, lw) field for the padded image: what
    /// tiling.run_tiled passes the tile at pixel (8 ly, 8 lx).  Planar CHW.
    public static func window(seed: Int64, sigma: Double, channels: Int, lh: Int, lw: Int, ly: Int, lx: Int,
                              t: Int) -> [Float] {
        precondition(ly >= 0 && lx >= 0 && ly + t <= lh && lx + t <= lw, "window outside the latent field")
        var out = [Float](repeating: 0, count: channels * t * t)
        for c in 0..<channels { for y in 0..<t { for x in 0..<t {
            out[(c * t + y) * t + x] = value(seed: seed, sigma: sigma, index: UInt64((c * lh + ly + y) * lw + lx + x))
        } } }
        return out
    }
}
