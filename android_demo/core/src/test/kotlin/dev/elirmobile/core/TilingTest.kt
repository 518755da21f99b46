package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** Tile positions, padding and blend weights against elir_mobile/tiling.py's values for the same arguments. */
class TilingTest {
    private val tiling get() = Vectors.section("tiling")

    @Test
    fun tileStartsMatchPython() {
        val cases = tiling.getJSONArray("starts")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            assertEquals(c.toString(), Vectors.ints(c.getJSONArray("starts")),
                         Tiling.tileStarts(c.getInt("length"), c.getInt("tile"), c.getInt("overlap")))
        }
    }

    @Test
    fun paddedSizeMatchesPython() {
        val cases = tiling.getJSONArray("padded")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            assertEquals(c.toString(), c.getInt("padded_h") to c.getInt("padded_w"),
                         Tiling.paddedSize(c.getInt("h"), c.getInt("w"), c.getInt("tile")))
        }
    }

    @Test
    fun edgeWeightsMatchPython() {
        val cases = tiling.getJSONArray("weights")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val want = Vectors.doubles(c.getJSONArray("weights")).map { it.toFloat() }.toFloatArray()
            // Python evaluates the raised cosine in float32, Kotlin in float64 rounded once.
            assertArrayEquals(c.toString(), want,
                              Tiling.edgeWeights(c.getInt("tile"), c.getInt("overlap"), c.getBoolean("fade_start"),
                                                 c.getBoolean("fade_end")), 1e-6f)
        }
    }

    @Test
    fun identityModelReproducesTheImage() {
        // With an identity "model" the blend must return the input exactly (weights normalise).
        val h = 70
        val w = 45
        val img = FloatArray(3 * h * w) { (it % 97) / 96f }
        val out = Tiling.runTiled(img, h, w, tile = 32) { crop, _, _ -> crop.copyOf() }
        assertArrayEquals(img, out, 1e-6f)
    }
}
