package dev.elirmobile.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Cards written by a real --tiny export (and variants of it Python checked against export/card.schema.json). */
class ModelCardTest {
    private val cards get() = Vectors.section("cards")

    @Test
    fun readsTheExportedCard() {
        val want = cards.getJSONObject("expected")
        val card = ModelCard.read(Vectors.file(cards.getString("real")))
        assertEquals(want.getString("task"), card.task)
        assertEquals(want.getInt("K"), card.k)
        assertEquals(want.getDouble("sigma_s"), card.sigmaS, 0.0)
        assertEquals(want.getString("noise_mode"), card.noiseMode)
        assertEquals(want.getInt("image_size"), card.imageSize)
        assertEquals(want.getString("file"), card.artifactFile)
        assertEquals(want.getString("precision"), card.precision)
        assertNull(card.compression)
        assertEquals(want.getLong("size_bytes"), card.sizeBytes)
        assertEquals(want.getString("sha256"), card.sha256)
        assertEquals(Vectors.ints(want.getJSONArray("shape")).map { it.toLong() }, card.inputs[0].shape.toList())
        assertEquals(want.getString("layout"), card.inputs[0].layout)
        assertEquals("float32", card.inputs[0].dtype)
        assertNull(card.inputs[0].quantization)
        assertEquals(want.getDouble("gate_db"), card.gateDb, 0.0)
        assertEquals(want.getString("runtime_kind"), card.parityRuntimeKind)
        assertEquals(want.getString("measure"), card.placementMeasure)
        assertEquals(want.getDouble("share"), card.placementShare!!, 0.0)
        assertEquals(listOf("forward"), card.methods)
        assertEquals(card.inputs[0].count, card.referenceInputs[0].count)
        assertTrue(card.referenceOutput.file.isFile && card.artifact.isFile)
    }

    @Test
    fun readsIntegerTensorQuantization() {
        val want = cards.getJSONObject("int8_quantization")
        val card = ModelCard.read(Vectors.file(cards.getString("int8")))
        assertEquals("int8", card.inputs[0].dtype)
        assertEquals(Quantization(want.getDouble("scale"), want.getInt("zero_point")), card.inputs[0].quantization)
        assertEquals("int8", card.outputs[0].dtype)
    }

    @Test
    fun refusesAnotherSchemaVersion() {
        val e = assertThrows(IllegalArgumentException::class.java) { ModelCard.read(Vectors.file(cards.getString("v1"))) }
        assertTrue(e.message, "schema_version 1, this app reads 2" in e.message!!)
    }

    @Test
    fun namesAMissingField() {
        for ((name, field) in listOf("no_precision" to "precision", "no_quantization" to "quantization")) {
            val e = assertThrows(IllegalArgumentException::class.java) { ModelCard.read(Vectors.file(cards.getString(name))) }
            assertTrue(e.message, field in e.message!! && cards.getString(name) in e.message!!)
        }
    }
}
