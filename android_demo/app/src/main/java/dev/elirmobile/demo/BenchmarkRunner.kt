package dev.elirmobile.demo

import android.content.Context
import android.os.SystemClock
import dev.elirmobile.demo.core.ModelCard
import dev.elirmobile.demo.core.Parity
import dev.elirmobile.demo.core.Platform
import dev.elirmobile.demo.core.RunResult
import dev.elirmobile.demo.core.ThermalState
import dev.elirmobile.demo.runtime.Engine

/** The benchmark protocol, identical to elir_bench's: timed load, timed first run, warm-up, timed runs, parity. */
class BenchmarkRunner(private val context: Context) {

    data class Config(
        val card: ModelCard,
        val runtime: String,
        val accelerator: String,
        val warmup: Int = 10,
        val runs: Int = 50,
        val threads: Int = 0,
        val cooldownS: Int = 0,
    )

    /** The card, not the file name, says what the model is: check they are the same file (as elir_bench does). */
    private fun sha256(file: java.io.File): String {
        val digest = java.security.MessageDigest.getInstance("SHA-256")
        file.inputStream().use { input ->
            val buf = ByteArray(1 shl 20)
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                digest.update(buf, 0, n)
            }
        }
        return digest.digest().joinToString("") { "%02x".format(it) }
    }

    /** Waits (up to `limitS`) until PowerManager reports no throttling and, where known, headroom < 0.5. */
    private fun coolDown(limitS: Int): Double {
        val start = SystemClock.elapsedRealtime()
        while ((SystemClock.elapsedRealtime() - start) < limitS * 1000L) {
            val t = Platform.thermal(context)
            if ((t.state == "NONE" || t.state == "unknown") && (t.headroom ?: 0.0) < 0.5) break
            SystemClock.sleep(2000)
        }
        return (SystemClock.elapsedRealtime() - start) / 1000.0
    }

    fun run(cfg: Config): RunResult {
        require(cfg.runs >= 1) { "runs must be >= 1" }
        require(cfg.warmup >= 0) { "warmup must be >= 0" }
        val card = cfg.card
        require(card.artifact.isFile) { "artifact not found: ${card.artifact}" }
        require(card.artifact.length() == card.sizeBytes && sha256(card.artifact) == card.sha256) {
            "${card.artifact.name} is not the file ${card.cardFile.name} describes (size or sha256 differ)"
        }
        val inputs = card.referenceInputs.map { Parity.readF32Le(it.file, it.count) }
        val expected = Parity.readF32Le(card.referenceOutput.file, card.referenceOutput.count)

        val cooled = if (cfg.cooldownS > 0) coolDown(cfg.cooldownS) else null
        val before: ThermalState = Platform.thermal(context)
        var peak = Platform.pssMb()

        var t0 = System.nanoTime()
        val engine = Engine.open(context, card, cfg.runtime, cfg.accelerator, cfg.threads)
        val loadMs = (System.nanoTime() - t0) / 1e6
        engine.use {
            peak = maxOf(peak, Platform.pssMb())
            t0 = System.nanoTime()
            val first = engine.run(inputs)
            val firstMs = (System.nanoTime() - t0) / 1e6
            require(first.size == expected.size) {
                "output has ${first.size} values, the card's output shape needs ${expected.size}"
            }
            peak = maxOf(peak, Platform.pssMb())
            repeat(cfg.warmup) { engine.run(inputs) }
            val samples = ArrayList<Double>(cfg.runs)
            var last = first
            repeat(cfg.runs) {
                t0 = System.nanoTime()
                last = engine.run(inputs)
                samples.add((System.nanoTime() - t0) / 1e6)
            }
            peak = maxOf(peak, Platform.pssMb())
            val after = Platform.thermal(context)
            return RunResult(
                runtimeName = engine.runtimeName,
                runtimeVersion = engine.runtimeVersion,
                threads = engine.threads,
                acceleratorRequested = engine.acceleratorRequested,
                acceleratorUsed = engine.acceleratorUsed,
                fallbackOccurred = engine.fallbackOccurred,
                fallbackDetail = engine.fallbackDetail,
                loadMs = loadMs,
                firstRunMs = firstMs,
                warmup = cfg.warmup,
                samplesMs = samples,
                peakPssMb = peak,
                thermalBefore = before,
                thermalAfter = after,
                cooldownS = cooled,
                psnrDb = minOf(Parity.psnrDb(first, expected), Parity.psnrDb(last, expected)),
                maxAbsErr = maxOf(Parity.maxAbsErr(first, expected), Parity.maxAbsErr(last, expected)),
                gateDb = card.gateDb,
            )
        }
    }
}
