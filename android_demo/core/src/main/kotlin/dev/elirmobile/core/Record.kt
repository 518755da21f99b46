package dev.elirmobile.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone

const val HARNESS_NAME = "android_demo"
const val HARNESS_VERSION = "0.1.0"

data class DeviceDescription(
    val maker: String, val model: String, val soc: String, val os: String, val osVersion: String, val abi: String?,
)

data class ThermalState(val state: String, val headroom: Double?, val tempC: Double? = null)

/** Everything a benchmark run measured; [toRecord] turns it into a benchmarks/device/result.schema.json record. */
data class RunResult(
    val runtimeName: String, // executorch | litert
    val runtimeVersion: String,
    val threads: Int?,
    val acceleratorRequested: String,
    val acceleratorUsed: String,
    val fallbackOccurred: Boolean?,
    val fallbackDetail: String,
    val loadMs: Double,
    val firstRunMs: Double,
    val warmup: Int,
    /** Inference only: writing the inputs and reading the output are [inputMs] / [outputMs]. */
    val samplesMs: List<Double>,
    /** Median per run of copying (and for integer tensors quantizing) the inputs into the runtime's buffers. */
    val inputMs: Double?,
    /** Median per run of reading (and dequantizing) the output. */
    val outputMs: Double?,
    val peakPssMb: Double?,
    val thermalBefore: ThermalState?,
    val thermalAfter: ThermalState?,
    val cooldownS: Double?,
    val psnrDb: Double,
    val maxAbsErr: Double,
    val gateDb: Double,
    val notes: String = "",
)

object Record {
    fun utcTimestamp(now: Date = Date()): String =
        SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.US).apply { timeZone = TimeZone.getTimeZone("UTC") }
            .format(now)

    private fun nullable(v: Any?): Any = v ?: JSONObject.NULL

    private fun thermal(t: ThermalState?): Any = if (t == null) JSONObject.NULL else JSONObject()
        .put("state", t.state).put("headroom", nullable(t.headroom)).put("temp_c", nullable(t.tempC))

    fun toRecord(card: ModelCard, device: DeviceDescription, run: RunResult, timestamp: String): JSONObject {
        val s = Stats.summarize(run.samplesMs)
        return JSONObject()
            .put("schema_version", 1)
            .put("harness", JSONObject().put("name", HARNESS_NAME).put("version", HARNESS_VERSION))
            .put("timestamp", timestamp)
            .put("artifact", JSONObject()
                .put("file", card.artifactFile).put("sha256", card.sha256).put("task", card.task)
                .put("precision", card.precision).put("backend", card.backend).put("format", card.format)
                .put("compression", nullable(card.compression)).put("size_bytes", card.sizeBytes)
                .put("image_size", card.imageSize).put("K", card.k).put("noise_mode", card.noiseMode)
                .put("card", card.cardFile.name))
            .put("device", JSONObject()
                .put("maker", device.maker).put("model", device.model).put("soc", device.soc)
                .put("os", device.os).put("os_version", device.osVersion).put("abi", nullable(device.abi)))
            .put("runtime", JSONObject()
                .put("name", run.runtimeName).put("version", run.runtimeVersion).put("threads", nullable(run.threads)))
            .put("accelerator", JSONObject()
                .put("requested", run.acceleratorRequested).put("used", run.acceleratorUsed)
                .put("fallback", JSONObject().put("occurred", nullable(run.fallbackOccurred))
                    .put("detail", run.fallbackDetail)
                    .put("delegated_mac_share", nullable(card.placementShareFor(run.runtimeName, run.acceleratorUsed))))
                .put("op_placement", JSONObject.NULL))
            .put("timing", JSONObject()
                .put("load_ms", run.loadMs).put("first_run_ms", run.firstRunMs).put("warmup", run.warmup)
                .put("warm", JSONObject().put("n", s.n).put("median", s.median).put("p90", s.p90).put("min", s.min)
                    .put("max", s.max).put("mean", s.mean).put("trimmed_mean_10_90", s.trimmedMean1090))
                .put("samples_ms", JSONArray(run.samplesMs))
                .put("input_ms", nullable(run.inputMs)).put("output_ms", nullable(run.outputMs)))
            .put("memory", JSONObject().put("peak_mb", nullable(run.peakPssMb)).put("metric", "pss"))
            .put("thermal", JSONObject().put("before", thermal(run.thermalBefore)).put("after", thermal(run.thermalAfter))
                .put("cooldown_s", nullable(run.cooldownS)))
            .put("parity", JSONObject().put("psnr_db", run.psnrDb).put("max_abs_err", run.maxAbsErr)
                .put("gate_db", run.gateDb).put("passed", run.psnrDb >= run.gateDb))
            .apply { if (run.notes.isNotEmpty()) put("notes", run.notes) }
    }

    /** Writes `record` to `out` through a temporary file and a rename, so a reader never sees half a record. */
    fun writeAtomically(out: File, record: JSONObject) {
        val tmp = File(out.path + ".tmp")
        tmp.writeText(record.toString(2) + "\n")
        check(tmp.renameTo(out)) { "cannot move $tmp to $out" }
    }

    /** The one logcat line per run that android.sh and humans read. */
    fun summaryLine(card: ModelCard, run: RunResult): String {
        val s = Stats.summarize(run.samplesMs)
        return String.format(
            Locale.US,
            "ELIR_BENCH %s %s %s->%s threads=%s load=%.1fms first=%.2fms median=%.2fms p90=%.2fms min=%.2fms " +
                "trimmed=%.2fms pss=%s psnr=%.1fdB gate=%.1f %s",
            card.artifactFile, run.runtimeName, run.acceleratorRequested, run.acceleratorUsed, run.threads ?: "-",
            run.loadMs, run.firstRunMs, s.median, s.p90, s.min, s.trimmedMean1090,
            run.peakPssMb?.let { String.format(Locale.US, "%.0fMB", it) } ?: "-",
            run.psnrDb, run.gateDb, if (run.psnrDb >= run.gateDb) "PASS" else "FAIL",
        )
    }
}
