package dev.elirmobile.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** The record for the exported card; tests/test_kotlin_core.py validates the file against result.schema.json. */
class RecordTest {
    @Test
    fun writesTheSchemaRecord() {
        val r = Vectors.section("record")
        val card = ModelCard.read(Vectors.file(Vectors.section("cards").getString("real")))
        val run = RunResult(
            runtimeName = "litert", runtimeVersion = "2.3.0", threads = 4, acceleratorRequested = "npu",
            acceleratorUsed = "gpu", fallbackOccurred = true, fallbackDetail = "NPU: not available; ran on GPU",
            loadMs = 10.0, firstRunMs = 5.0, warmup = 1, samplesMs = listOf(3.0, 1.0, 2.0), inputMs = 0.4,
            outputMs = 0.2, peakPssMb = 120.0, thermalBefore = ThermalState("NONE", 0.3),
            thermalAfter = ThermalState("LIGHT", 0.6), cooldownS = null, psnrDb = 79.9, maxAbsErr = 0.01, gateDb = 80.0,
        )
        val record = Record.toRecord(card, DeviceDescription("Google", "Pixel", "Tensor", "Android", "15 (API 35)",
                                                             "arm64-v8a"), run, "2026-01-01T00:00:00Z")
        val out = Vectors.file(r.getString("out"))
        Record.writeAtomically(out, record)
        val back = JSONObject(out.readText())
        assertEquals(2.0, back.getJSONObject("timing").getJSONObject("warm").getDouble("median"), 0.0)
        assertEquals(0.4, back.getJSONObject("timing").getDouble("input_ms"), 0.0)
        assertFalse(back.getJSONObject("parity").getBoolean("passed"))
        assertTrue(back.getJSONObject("artifact").isNull("compression"))
        assertEquals(card.placementShare!!, back.getJSONObject("accelerator").getJSONObject("fallback")
            .getDouble("delegated_mac_share"), 0.0)
        assertFalse(java.io.File(out.path + ".tmp").exists())
        assertTrue(Record.summaryLine(card, run).startsWith("ELIR_BENCH ${card.artifactFile} litert npu->gpu"))
    }
}
