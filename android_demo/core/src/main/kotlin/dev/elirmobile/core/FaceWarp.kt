package dev.elirmobile.core

import kotlin.math.abs
import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/** A planar (channel-major, CHW) float image: the layout the [Restorer] and the tiling work in. */
class Planar(val c: Int, val h: Int, val w: Int, val data: FloatArray = FloatArray(c * h * w)) {
    init {
        require(data.size == c * h * w) { "a $c x $h x $w image needs ${c * h * w} values, got ${data.size}" }
    }
}

/**
 * The warps of elir_mobile/faces/alignment.py, sample for sample, so a face aligned and pasted on the phone is the
 * one the desktop produces: torch's `grid_sample` (align_corners=False) with bicubic (A = -0.75) or bilinear taps
 * and reflection / border / zeros padding; where a warp shrinks, a warp at the source's resolution followed by
 * torch's antialiased resize, so a large face squeezed into sr's 32 px crop (or a 512 px restored crop pasted onto
 * a small face) does not alias.  Matrices map source to destination pixels (see [FaceAlign]).
 */
object FaceWarp {
    enum class Mode { BICUBIC, BILINEAR }
    enum class Padding { REFLECTION, BORDER, ZEROS }

    private const val CUBIC_A = -0.75  // grid_sample's bicubic
    private const val AA_CUBIC_A = -0.5  // the antialiased resize's bicubic (PIL's)
    private const val SIZE_TOLERANCE = 1e-9  // a whole size stays whole whatever the last bit (alignment.py)

    /** `image` warped by `m` into an (outH, outW) image, values clamped to [0, 1] (alignment.warp). */
    fun warp(image: Planar, m: DoubleArray, outH: Int, outW: Int, mode: Mode = Mode.BICUBIC,
             padding: Padding = Padding.REFLECTION): Planar {
        val scale = FaceAlign.scaleOf(m)
        if (scale < 1.0) {
            val fineH = ceil(outH / scale - SIZE_TOLERANCE).toInt()
            val fineW = ceil(outW / scale - SIZE_TOLERANCE).toInt()
            val toFine = FaceAlign.compose(FaceAlign.scaling(fineW.toDouble() / outW, fineH.toDouble() / outH), m)
            return resize(warp(image, toFine, fineH, fineW, mode, padding), outH, outW, mode)
        }
        val inverse = FaceAlign.invert(m)
        val out = Planar(image.c, outH, outW)
        val plane = image.h * image.w
        for (y in 0 until outH) for (x in 0 until outW) {
            // Where this pixel's centre comes from, in grid_sample's index units (pixel i's centre is at i).
            val sx = inverse[0] * (x + 0.5) + inverse[1] * (y + 0.5) + inverse[2] - 0.5
            val sy = inverse[3] * (x + 0.5) + inverse[4] * (y + 0.5) + inverse[5] - 0.5
            val taps = if (mode == Mode.BICUBIC) bicubicTaps(image, sx, sy, padding)
                       else bilinearTaps(image, sx, sy, padding)
            for (ch in 0 until image.c) {
                var v = 0.0
                for (k in taps.at.indices) {
                    if (taps.at[k] >= 0) v += taps.weights[k] * image.data[ch * plane + taps.at[k]]
                }
                out.data[(ch * outH + y) * outW + x] = v.coerceIn(0.0, 1.0).toFloat()
            }
        }
        return out
    }

    /**
     * Blends `crop` into `canvas` in place, where `m` maps canvas pixels to crop pixels (alignment.paste): only the
     * box the crop covers is warped (bicubic, border padding), weighed by `mask` (one channel, the crop's size,
     * warped bilinearly with zeros outside), so outside the mask the canvas is untouched.
     */
    fun paste(canvas: Planar, crop: Planar, m: DoubleArray, mask: Planar) {
        val toCanvas = FaceAlign.invert(m)
        val s = crop.w.toDouble()
        val corners = listOf(0.0 to 0.0, s to 0.0, 0.0 to s, s to s).map { (x, y) -> FaceAlign.apply(toCanvas, x, y) }
        val x0 = floor(corners.minOf { it.first }).toInt().coerceIn(0, canvas.w)
        val y0 = floor(corners.minOf { it.second }).toInt().coerceIn(0, canvas.h)
        val x1 = ceil(corners.maxOf { it.first }).toInt().coerceIn(0, canvas.w)
        val y1 = ceil(corners.maxOf { it.second }).toInt().coerceIn(0, canvas.h)
        if (x1 <= x0 || y1 <= y0) return
        val bw = x1 - x0
        val bh = y1 - y0
        val toBox = FaceAlign.compose(FaceAlign.translation(-x0.toDouble(), -y0.toDouble()), toCanvas)
        val face = warp(crop, toBox, bh, bw, Mode.BICUBIC, Padding.BORDER)
        val weight = warp(mask, toBox, bh, bw, Mode.BILINEAR, Padding.ZEROS)
        for (ch in 0 until canvas.c) for (y in 0 until bh) for (x in 0 until bw) {
            val k = weight.data[y * bw + x]
            val i = (ch * canvas.h + y0 + y) * canvas.w + x0 + x
            canvas.data[i] = canvas.data[i] * (1 - k) + face.data[(ch * bh + y) * bw + x] * k
        }
    }

    /**
     * torch's `F.interpolate(size, mode, antialias=True, align_corners=False)`: separable, each output sample the
     * normalised filter-weighted sum of the inputs under its support, the filter stretched by the shrink factor.
     */
    fun resize(image: Planar, outH: Int, outW: Int, mode: Mode): Planar {
        val columns = antialiasTaps(image.w, outW, mode)
        val rows = antialiasTaps(image.h, outH, mode)
        val wide = Planar(image.c, image.h, outW)
        for (ch in 0 until image.c) for (y in 0 until image.h) for (x in 0 until outW) {
            val taps = columns[x]
            val row = (ch * image.h + y) * image.w + taps.start
            val v = taps.weights.indices.sumOf { taps.weights[it] * image.data[row + it] }
            wide.data[(ch * image.h + y) * outW + x] = v.toFloat()
        }
        val out = Planar(image.c, outH, outW)
        for (ch in 0 until image.c) for (y in 0 until outH) for (x in 0 until outW) {
            val taps = rows[y]
            val column = (ch * image.h + taps.start) * outW + x
            val v = taps.weights.indices.sumOf { taps.weights[it] * wide.data[column + it * outW] }
            out.data[(ch * outH + y) * outW + x] = v.coerceIn(0.0, 1.0).toFloat()
        }
        return out
    }

    private class Taps(val start: Int, val weights: DoubleArray)

    private fun antialiasTaps(inSize: Int, outSize: Int, mode: Mode): List<Taps> {
        val scale = inSize.toDouble() / outSize
        val support = (if (mode == Mode.BICUBIC) 2.0 else 1.0) * max(scale, 1.0)
        val stretch = if (scale >= 1.0) 1.0 / scale else 1.0
        return List(outSize) { i ->
            val centre = scale * (i + 0.5)
            val start = max((centre - support + 0.5).toInt(), 0)
            val end = min((centre + support + 0.5).toInt(), inSize)
            val weights = DoubleArray(end - start) { antialiasFilter((start + it - centre + 0.5) * stretch, mode) }
            val total = weights.sum()
            if (total != 0.0) for (k in weights.indices) weights[k] /= total
            Taps(start, weights)
        }
    }

    private fun antialiasFilter(x: Double, mode: Mode): Double {
        val t = abs(x)
        if (mode == Mode.BILINEAR) return max(0.0, 1.0 - t)
        val a = AA_CUBIC_A
        return when {
            t < 1.0 -> ((a + 2) * t - (a + 3)) * t * t + 1
            t < 2.0 -> (((t - 5) * t + 8) * t - 4) * a
            else -> 0.0
        }
    }

    private fun cubicNear(x: Double) = ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1
    private fun cubicFar(x: Double) = ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A
    private fun cubicWeights(t: Double) =
        doubleArrayOf(cubicFar(t + 1), cubicNear(t), cubicNear(1 - t), cubicFar(2 - t))

    /** One sample's taps: offsets in a channel plane (y * w + x; -1 reads a zero) and their weights. */
    private class Sample(val at: IntArray, val weights: DoubleArray)

    /** grid_sample's bicubic: 4 x 4 taps around (sx, sy), each tap padded on its own. */
    private fun bicubicTaps(image: Planar, sx: Double, sy: Double, padding: Padding): Sample {
        val fx = floor(sx)
        val fy = floor(sy)
        val wx = cubicWeights(sx - fx)
        val wy = cubicWeights(sy - fy)
        val at = IntArray(16)
        val weights = DoubleArray(16)
        for (j in 0 until 4) for (i in 0 until 4) {
            val y = tap(fy.toInt() - 1 + j, image.h, padding)
            val x = tap(fx.toInt() - 1 + i, image.w, padding)
            at[4 * j + i] = if (x < 0 || y < 0) -1 else y * image.w + x
            weights[4 * j + i] = wy[j] * wx[i]
        }
        return Sample(at, weights)
    }

    /** grid_sample's bilinear: the coordinate padded first, then its 4 neighbours, those outside reading zero. */
    private fun bilinearTaps(image: Planar, sx: Double, sy: Double, padding: Padding): Sample {
        val x = coordinate(sx, image.w, padding)
        val y = coordinate(sy, image.h, padding)
        val x0 = floor(x)
        val y0 = floor(y)
        val fx = x - x0
        val fy = y - y0
        fun at(i: Int, j: Int) = if (i in 0 until image.w && j in 0 until image.h) j * image.w + i else -1
        val i = x0.toInt()
        val j = y0.toInt()
        return Sample(intArrayOf(at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1)),
                      doubleArrayOf((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy))
    }

    /** Where an integer bicubic tap reads (grid_sample pads each tap), or -1 for a zero outside the image. */
    private fun tap(i: Int, size: Int, padding: Padding): Int = when (padding) {
        Padding.ZEROS -> if (i in 0 until size) i else -1
        Padding.BORDER -> i.coerceIn(0, size - 1)
        Padding.REFLECTION -> reflect(i.toDouble(), size).toInt()
    }

    /** A bilinear sample's coordinate after padding (zeros: as is, the taps outside read 0). */
    private fun coordinate(x: Double, size: Int, padding: Padding): Double = when (padding) {
        Padding.ZEROS -> x
        Padding.BORDER -> x.coerceIn(0.0, size - 1.0)
        Padding.REFLECTION -> reflect(x, size)
    }

    /** grid_sample's reflection for align_corners=False: mirrored at the outer pixel edges -0.5 and size - 0.5. */
    private fun reflect(x: Double, size: Int): Double {
        val d = abs(x + 0.5)
        val extra = d % size
        val flips = floor(d / size).toLong()
        val r = if (flips % 2 == 0L) extra - 0.5 else size - extra - 0.5
        return r.coerceIn(0.0, size - 1.0)
    }
}
