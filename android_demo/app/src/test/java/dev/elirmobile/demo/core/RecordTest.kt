package dev.elirmobile.demo.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.nio.file.Files

/** Card parsing and the schema record; the record's shape is the one tests/test_device_collate.py validates. */
class RecordTest {
    private val cardJson = """
        {"schema_version": 1, "task": "sr", "K": 3, "sigma_s": 0.1, "noise_mode": "fixed", "image_size": 64,
         "artifact": {"file": "m.pte", "format": "pte", "backend": "xnnpack", "precision": "fp32",
                      "compression": null, "size_bytes": 1234, "sha256": "${"a".repeat(64)}"},
         "inputs": [{"name": "image", "shape": [1, 3, 64, 64], "layout": "NCHW", "dtype": "float32", "range": [0, 1]}],
         "outputs": [{"name": "restored", "shape": [1, 3, 64, 64], "layout": "NCHW", "dtype": "float32", "range": [0, 1]}],
         "parity": {"psnr_db": 120.0, "max_abs_err": 1e-6, "gate_db": 80.0, "runtime": "executorch", "passed": true},
         "op_placement": {"delegated_mac_share": 1.0},
         "reference_vectors": {"dtype": "float32", "byte_order": "little",
           "inputs": [{"file": "m.input0.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}],
           "output": {"file": "m.expected.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}}}
    """.trimIndent()

    @Test
    fun cardAndRecord() {
        val dir = Files.createTempDirectory("card").toFile()
        val cardFile = File(dir, "m.json").apply { writeText(cardJson) }
        val card = ModelCard.read(cardFile)
        assertEquals("sr", card.task)
        assertEquals(12288, card.referenceInputs[0].count)
        assertEquals(File(dir, "m.input0.f32").absolutePath, card.referenceInputs[0].file.absolutePath)
        val run = RunResult("executorch", "1.5.1", 4, "xnnpack", "xnnpack", false, "none", 10.0, 5.0, 1,
                            listOf(3.0, 1.0, 2.0), 120.0, ThermalState("NONE", 0.3), ThermalState("LIGHT", 0.6), null,
                            79.9, 0.01, 80.0)
        val rec = Record.toRecord(card, DeviceDescription("Google", "Pixel", "Tensor", "Android", "15 (API 35)", "arm64-v8a"),
                                  run, "2026-01-01T00:00:00Z")
        val back = JSONObject(rec.toString())
        assertEquals(2.0, back.getJSONObject("timing").getJSONObject("warm").getDouble("median"), 0.0)
        assertFalse(back.getJSONObject("parity").getBoolean("passed"))
        assertTrue(back.getJSONObject("artifact").isNull("compression"))
        assertEquals("pss", back.getJSONObject("memory").getString("metric"))
    }

    @Test(expected = IllegalArgumentException::class)
    fun cardMissingFieldFails() {
        val dir = Files.createTempDirectory("card").toFile()
        ModelCard.read(File(dir, "m.json").apply { writeText(cardJson.replace("\"precision\": \"fp32\",", "")) })
    }
}
