package dev.elirmobile.core

import kotlin.math.PI

/**
 * The seeded latent noise of elir_mobile/noise.py ("elir-noise-1"), line for line, so the phone draws the noise
 * the desktop restore draws for the same photo and seed (the generator is documented there).  Value `i` of a
 * C-order field depends only on (seed, i): a tile's slice is computed without the whole field.  StrictMath (fdlibm)
 * makes log/cos identical on every JVM and ART; against numpy they agree exactly or, rarely, by one float32 ulp.
 */
object Noise {
    const val GENERATOR = "elir-noise-1"
    private const val GAMMA = -0x61c8864680b583ebL // 0x9E3779B97F4A7C15
    private const val MIX1 = -0x40a7b892e31b1a47L // 0xBF58476D1CE4E5B9
    private const val MIX2 = -0x6b2fb644ecceee15L // 0x94D049BB133111EB
    private const val TWO_POW_MINUS_53 = 1.0 / (1L shl 53)

    private fun mix(x: Long): Long {
        var z = (x xor (x ushr 30)) * MIX1
        z = (z xor (z ushr 27)) * MIX2
        return z xor (z ushr 31)
    }

    /** Standard normal value `i` of the stream for `seed` (Long arithmetic wraps, as uint64 does). */
    fun gaussian(seed: Long, i: Long): Double {
        val a = mix(seed + (2 * i + 1) * GAMMA)
        val b = mix(seed + (2 * i + 2) * GAMMA)
        val u1 = ((a ushr 11) + 1).toDouble() * TWO_POW_MINUS_53
        val u2 = (b ushr 11).toDouble() * TWO_POW_MINUS_53
        return StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * StrictMath.cos(2.0 * PI * u2)
    }

    /** sigma * N(0, 1) value `i` rounded to float32, as noise.latent_noise computes it. */
    fun value(seed: Long, sigma: Double, i: Long): Float = (sigma * gaussian(seed, i)).toFloat()

    /**
     * The (channels, t, t) window at latent (ly, lx) of the (channels, lh, lw) field for the padded image: what
     * tiling.run_tiled passes the tile at pixel (8 ly, 8 lx).  Planar CHW.
     */
    fun window(seed: Long, sigma: Double, channels: Int, lh: Int, lw: Int, ly: Int, lx: Int, t: Int): FloatArray {
        require(ly >= 0 && lx >= 0 && ly + t <= lh && lx + t <= lw) {
            "window ($ly, $lx) + $t is outside the $lh x $lw latent field"
        }
        val out = FloatArray(channels * t * t)
        for (c in 0 until channels) for (y in 0 until t) for (x in 0 until t)
            out[(c * t + y) * t + x] = value(seed, sigma, (c.toLong() * lh + ly + y) * lw + lx + x)
        return out
    }
}
