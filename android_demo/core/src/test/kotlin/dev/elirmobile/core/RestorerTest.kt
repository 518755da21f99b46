package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The whole-photo path against elir_mobile: Python runs tiling.run_tiled with a model whose output shows the
 * noise it was given (0.5 x image + the tile's noise window, upsampled), on a field from noise.latent_noise; the
 * Restorer must blend the same tiles with the same noise windows.
 */
class RestorerTest {
    private val r get() = Vectors.section("restore")

    private fun card(noiseMode: String, tile: Int, channels: Int, layout: String): ModelCard {
        fun spec(name: String, c: Int, size: Int) = TensorSpec(
            name, if (layout == "NHWC") longArrayOf(1, size.toLong(), size.toLong(), c.toLong())
            else longArrayOf(1, c.toLong(), size.toLong(), size.toLong()), layout, "float32", "tensor", null)
        val inputs = listOf(spec("image", 3, tile)) +
            if (noiseMode == "input") listOf(spec("noise", channels, tile / 8)) else emptyList()
        val dir = File(System.getProperty("java.io.tmpdir"))
        return ModelCard(File(dir, "fake.json"), "denoising", 1, r.getDouble("sigma"), noiseMode, tile,
                         "elir_denoising_tflite_fp32.tflite", "tflite", "litert", "fp32", null, 1, "0".repeat(64),
                         listOf("forward"), 80.0, "real", "gpu_delegate_mac_share", 1.0, inputs,
                         listOf(spec("restored", 3, tile)), inputs.map { VectorSpec(File(dir, "v.f32"), it.shape) },
                         VectorSpec(File(dir, "e.f32"), inputs[0].shape))
    }

    /** The fake model of the Python side, on NHWC tensors: 0.5 x image + noise channel (c mod C) of its 8x8 cell. */
    private fun fakeModel(tile: Int, channels: Int): (List<FloatArray>) -> FloatArray = { inputs ->
        val t = tile / 8
        val img = Layout.hwcToChw(inputs[0], 3, tile, tile)
        val eps = Layout.hwcToChw(inputs[1], channels, t, t)
        val out = FloatArray(img.size)
        for (c in 0 until 3) for (y in 0 until tile) for (x in 0 until tile)
            out[(c * tile + y) * tile + x] = 0.5f * img[(c * tile + y) * tile + x] + eps[((c % channels) * t + y / 8) * t + x / 8]
        Layout.chwToHwc(out, 3, tile, tile)
    }

    @Test
    fun restoreMatchesRunTiledWithTheSameNoise() {
        val h = r.getInt("h")
        val w = r.getInt("w")
        val tile = r.getInt("tile")
        val channels = r.getInt("channels")
        val image = Vectors.f32(r.getString("image"), 3 * h * w)
        val want = Vectors.f32(r.getString("expected"), 3 * h * w)
        val restorer = Restorer(card("input", tile, channels, "NHWC"), fakeModel(tile, channels))
        val progress = mutableListOf<Int>()
        val got = restorer.restore(image, h, w, r.getLong("seed")) { done, total ->
            assertEquals(r.getInt("tiles"), total)
            progress.add(done)
        }
        assertEquals((1..r.getInt("tiles")).toList(), progress)
        assertArrayEquals(want, got, 1e-5f)
    }

    @Test
    fun fixedNoiseArtifactsSayTheyRepeatTheirNoise() {
        val restorer = Restorer(card("fixed", 32, 4, "NCHW")) { it[0] }
        assertFalse(restorer.repeatsBakedNoise(32, 20))
        assertTrue(restorer.repeatsBakedNoise(70, 45))
    }

    @Test
    fun prepareModesAreThoseOfTasksPy() {
        val tasks = r.getJSONObject("prepare")
        for (task in tasks.keys()) assertEquals(task, tasks.getString(task), Restorer.prepareMode(task))
        assertEquals(tasks.length(), Restorer.PREPARE.size)
    }

    @Test
    fun decodeSizeCapsWhatThePreparationGrows() {
        assertEquals(4000 to 3000, Restorer.decodeSize("denoising", 4000, 3000, 12_000_000))
        val (w, h) = Restorer.decodeSize("bsr", 4000, 3000, 12_000_000)
        assertTrue("$w x $h", w * 4L * h * 4 <= 12_000_000 && w >= 999 && h >= 749)
        assertEquals(400 to 300, Restorer.decodeSize("bsr", 400, 300))  // 1.9 MP after x4: under the default cap
        val (cw, ch) = Restorer.capped(4032, 3024)  // a 12 MP photo decodes at the 4 MP cap, aspect kept
        assertTrue("$cw x $ch", cw.toLong() * ch <= Restorer.MAX_PREPARED_PIXELS && cw >= 2300 && ch >= 1730)
    }
}
