package dev.elirmobile.core

import kotlin.math.PI
import kotlin.math.max
import kotlin.math.sin

/**
 * Overlapping tiles blended with fading weights: a mirror of elir_mobile/tiling.py (tile_starts, edge_weights,
 * pad_to, run_tiled, padded_size), so the app restores large photos exactly as the Python reference does.
 * Images are planar float CHW (3 x h x w) in [0, 1].
 */
object Tiling {
    const val LATENT_STRIDE = 8

    fun tileStarts(length: Int, tile: Int, overlap: Int): List<Int> {
        if (length <= tile) return listOf(0)
        val stride = max(LATENT_STRIDE, (tile - overlap) / LATENT_STRIDE * LATENT_STRIDE)
        val starts = (0 until length - tile step stride).toMutableList()
        starts.add(length - tile)
        return starts
    }

    fun edgeWeights(tile: Int, overlap: Int, fadeStart: Boolean, fadeEnd: Boolean): FloatArray {
        val margin = overlap / 4.0
        fun fade(distance: Double): Double {
            val ramp = ((distance - margin) / max(overlap - margin, 1.0)).coerceIn(0.0, 1.0)
            val s = sin(0.5 * PI * ramp)
            return s * s
        }
        return FloatArray(tile) { i ->
            val pos = i + 0.5
            var w = 1.0
            if (fadeStart) w *= fade(pos)
            if (fadeEnd) w *= fade(tile - pos)
            max(w, 1e-3).toFloat()
        }
    }

    fun paddedSize(height: Int, width: Int, tile: Int): Pair<Int, Int> {
        fun grow(n: Int) = max(tile, (n + LATENT_STRIDE - 1) / LATENT_STRIDE * LATENT_STRIDE)
        return grow(height) to grow(width)
    }

    /** How many model calls [runTiled] makes for an (h, w) image: the demo's progress denominator. */
    fun tileCount(h: Int, w: Int, tile: Int, overlap: Int = tile / 4): Int {
        val (ph, pw) = paddedSize(h, w, tile)
        return tileStarts(ph, tile, overlap).size * tileStarts(pw, tile, overlap).size
    }

    /** Extend at the bottom/right: mirrored (reflect, edge not repeated) where it can, replicated otherwise. */
    fun padTo(image: FloatArray, h: Int, w: Int, ph: Int, pw: Int): FloatArray {
        if (ph <= h && pw <= w) return image
        val reflect = ph - h < h && pw - w < w
        fun src(i: Int, n: Int): Int = when {
            i < n -> i
            reflect -> 2 * (n - 1) - i
            else -> n - 1
        }
        val out = FloatArray(3 * ph * pw)
        for (c in 0 until 3) for (y in 0 until ph) for (x in 0 until pw)
            out[(c * ph + y) * pw + x] = image[(c * h + src(y, h)) * w + src(x, w)]
        return out
    }

    /**
     * `fn(tileChw)` over the image in (tile x tile) crops with `overlap`, blended; the result is cropped back to
     * (h, w).  `fn` returns a restored 3 x tile x tile tile.
     */
    fun runTiled(image: FloatArray, h: Int, w: Int, tile: Int, overlap: Int = tile / 4,
                 fn: (FloatArray, Int, Int) -> FloatArray): FloatArray {
        val (ph, pw) = paddedSize(h, w, tile)
        val padded = padTo(image, h, w, ph, pw)
        val out = FloatArray(3 * ph * pw)
        val weight = FloatArray(ph * pw)
        val crop = FloatArray(3 * tile * tile)
        for (y0 in tileStarts(ph, tile, overlap)) for (x0 in tileStarts(pw, tile, overlap)) {
            for (c in 0 until 3) for (y in 0 until tile)
                System.arraycopy(padded, (c * ph + y0 + y) * pw + x0, crop, (c * tile + y) * tile, tile)
            val restored = fn(crop, y0, x0)
            val wy = edgeWeights(tile, overlap, y0 > 0, y0 + tile < ph)
            val wx = edgeWeights(tile, overlap, x0 > 0, x0 + tile < pw)
            for (y in 0 until tile) for (x in 0 until tile) {
                val wgt = wy[y] * wx[x]
                weight[(y0 + y) * pw + x0 + x] += wgt
                for (c in 0 until 3) out[(c * ph + y0 + y) * pw + x0 + x] += restored[(c * tile + y) * tile + x] * wgt
            }
        }
        val result = FloatArray(3 * h * w)
        for (c in 0 until 3) for (y in 0 until h) for (x in 0 until w)
            result[(c * h + y) * w + x] = out[(c * ph + y) * pw + x] / weight[y * pw + x]
        return result
    }
}
