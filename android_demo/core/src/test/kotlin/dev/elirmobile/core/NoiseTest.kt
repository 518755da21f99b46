package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.math.abs
import kotlin.math.ulp

/** The generator of elir_mobile/noise.py: the same values, and per-tile windows of the same field. */
class NoiseTest {
    private val noise get() = Vectors.section("noise")

    @Test
    fun valuesMatchNoisePy() {
        val streams = noise.getJSONArray("streams")
        var exact = 0
        var total = 0
        for (s in 0 until streams.length()) {
            val c = streams.getJSONObject(s)
            val seed = c.getLong("seed")
            val sigma = c.getDouble("sigma")
            val want = Vectors.f32(c.getString("file"), c.getInt("count"))
            for (i in want.indices) {
                val got = Noise.value(seed, sigma, i.toLong())
                // The stated tolerance: one float32 ulp where two libms round log/cos differently.
                assertTrue("seed $seed value $i: $got vs ${want[i]}", abs(got - want[i]) <= want[i].ulp)
                if (got == want[i]) exact++
                total++
            }
        }
        assertTrue("only $exact of $total values bit-identical", exact >= total - total / 10000)
    }

    @Test
    fun windowIsTheSliceRunTiledPasses() {
        val w = noise.getJSONObject("window")
        val t = w.getInt("t")
        val channels = w.getInt("channels")
        val want = Vectors.f32(w.getString("file"), channels * t * t)
        val got = Noise.window(w.getLong("seed"), w.getDouble("sigma"), channels, w.getInt("lh"), w.getInt("lw"),
                               w.getInt("ly"), w.getInt("lx"), t)
        assertArrayEquals(want, got, 0f)
    }

    @Test
    fun generatorIsNamedAsInPython() {
        assertEquals(noise.getString("generator"), Noise.GENERATOR)
    }
}
