package dev.elirmobile.core

/** Planar CHW <-> interleaved HWC: the tiling works on CHW, LiteRT artifacts take and return NHWC. */
object Layout {
    fun chwToHwc(x: FloatArray, c: Int, h: Int, w: Int): FloatArray {
        val out = FloatArray(x.size)
        for (ci in 0 until c) for (y in 0 until h) for (xi in 0 until w) out[(y * w + xi) * c + ci] = x[(ci * h + y) * w + xi]
        return out
    }

    fun hwcToChw(x: FloatArray, c: Int, h: Int, w: Int): FloatArray {
        val out = FloatArray(x.size)
        for (ci in 0 until c) for (y in 0 until h) for (xi in 0 until w) out[(ci * h + y) * w + xi] = x[(y * w + xi) * c + ci]
        return out
    }
}
