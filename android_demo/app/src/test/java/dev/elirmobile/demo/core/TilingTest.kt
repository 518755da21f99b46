package dev.elirmobile.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** Values computed with elir_mobile/tiling.py (see android_demo/README.md, "Unit tests"). */
class TilingTest {
    @Test
    fun tileStartsMatchPython() {
        assertEquals(listOf(0), Tiling.tileStarts(200, 256, 64))
        assertEquals(listOf(0, 192, 344), Tiling.tileStarts(600, 256, 64))
        assertEquals(listOf(0, 192, 384, 488), Tiling.tileStarts(744, 256, 64))
    }

    @Test
    fun paddedSizeMatchesPython() {
        assertEquals(256 to 256, Tiling.paddedSize(100, 37, 256))
        assertEquals(600 to 304, Tiling.paddedSize(597, 300, 256))
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

    @Test
    fun edgeWeightsFadeOnlyInnerSides() {
        val w = Tiling.edgeWeights(32, 8, fadeStart = true, fadeEnd = false)
        assertEquals(1e-3f, w[0], 1e-7f)
        assertEquals(1f, w[31], 0f)
    }
}
