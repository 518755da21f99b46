package dev.elirmobile.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.math.log10

/** Parity definitions of benchmarks/device/parity.py: known values, then the PSNR it computes on reference vectors. */
class ParityTest {
    @Test
    fun knownValues() {
        val half = FloatArray(12) { 0.5f }
        val threeQuarters = FloatArray(12) { 0.75f }
        assertEquals(-10 * log10(0.0625), Parity.psnrDb(half, threeQuarters), 1e-9)
        assertEquals(0.25, Parity.maxAbsErr(half, threeQuarters), 0.0)
        val over = floatArrayOf(1.5f, -0.25f)
        val clamped = floatArrayOf(1.0f, 0.0f)
        assertEquals(Parity.PSNR_CAP_DB, Parity.psnrDb(over, clamped), 0.0)
        assertEquals(0.5, Parity.maxAbsErr(over, clamped), 0.0)
    }

    @Test
    fun referenceVectorsMatchParityPy() {
        val p = Vectors.section("parity")
        val card = ModelCard.read(Vectors.file(p.getString("card")))
        val expected = Parity.readF32Le(card.referenceOutput.file, card.referenceOutput.count)
        assertEquals(Parity.PSNR_CAP_DB, Parity.psnrDb(expected, expected), 0.0)
        val output = Vectors.f32(p.getString("output"), expected.size)
        assertEquals(p.getDouble("psnr_db"), Parity.psnrDb(output, expected), 1e-9)
        assertEquals(p.getDouble("max_abs_err"), Parity.maxAbsErr(output, expected), 0.0)
    }

    @Test
    fun vectorOfTheWrongSizeIsRefused() {
        val card = ModelCard.read(Vectors.file(Vectors.section("parity").getString("card")))
        val e = assertThrows(IllegalArgumentException::class.java) {
            Parity.readF32Le(card.referenceOutput.file, card.referenceOutput.count + 1)
        }
        assertTrue(e.message, "the card's shape needs" in e.message!!)
    }
}
