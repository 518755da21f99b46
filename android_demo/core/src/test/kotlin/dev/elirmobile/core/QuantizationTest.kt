package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertThrows
import org.junit.Test

/** int8 I/O as elir_mobile.runtimes quantizes the inputs and dequantizes the output of a LiteRT int8 model. */
class QuantizationTest {
    @Test
    fun matchesTheHostRunner() {
        val cases = Vectors.root.getJSONArray("quantization")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val q = Quantization(c.getDouble("scale"), c.getInt("zero_point"))
            val n = c.getInt("count")
            val x = Vectors.f32(c.getString("float"), n)
            val want = Vectors.file(c.getString("int8")).readBytes()
            assertArrayEquals("quantize, case $i", want, q.toInt8(x))
            assertArrayEquals("dequantize, case $i", Vectors.f32(c.getString("dequantized"), n), q.fromInt8(want), 0f)
        }
    }

    @Test
    fun rejectsANonPositiveScale() {
        assertThrows(IllegalArgumentException::class.java) { Quantization(0.0, 0) }
    }
}
