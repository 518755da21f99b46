package dev.elirmobile.demo

import android.content.Context
import android.os.SystemClock
import dev.elirmobile.core.ModelCard
import dev.elirmobile.core.Parity
import dev.elirmobile.core.RunResult
import dev.elirmobile.core.Stats
import dev.elirmobile.demo.runtime.Engine
import java.io.File
import java.security.MessageDigest

/**
 * The benchmark protocol, identical to elir_bench's: timed load, timed first run, warm-up, timed runs, parity.
 * Every buffer is allocated before the timed loop; each timed run is split into writing the inputs (quantizing
 * integer ones), inference alone (the samples) and reading the output, each timed on its own.
 */
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
    private fun sha256(file: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
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

    private fun ms(from: Long, to: Long) = (to - from) / 1e6

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
        val first = FloatArray(expected.size)
        val last = FloatArray(expected.size)
        val inferMs = ArrayList<Double>(cfg.runs)
        val writeMs = ArrayList<Double>(cfg.runs)
        val readMs = ArrayList<Double>(cfg.runs)

        val cooled = if (cfg.cooldownS > 0) coolDown(cfg.cooldownS) else null
        val before = Platform.thermal(context)
        var peak = Platform.pssMb()

        val t0 = System.nanoTime()
        val engine = Engine.open(context, card, cfg.runtime, cfg.accelerator, cfg.threads)
        val loadMs = ms(t0, System.nanoTime())
        engine.use {
            peak = maxOf(peak, Platform.pssMb())
            val t1 = System.nanoTime()
            engine.run(inputs, first)
            val firstMs = ms(t1, System.nanoTime())
            peak = maxOf(peak, Platform.pssMb())
            repeat(cfg.warmup) { engine.run(inputs, last) }
            repeat(cfg.runs) {
                val a = System.nanoTime()
                engine.write(inputs)
                val b = System.nanoTime()
                engine.invoke()
                val c = System.nanoTime()
                engine.read(last)
                val d = System.nanoTime()
                writeMs.add(ms(a, b))
                inferMs.add(ms(b, c))
                readMs.add(ms(c, d))
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
                samplesMs = inferMs,
                inputMs = Stats.summarize(writeMs).median,
                outputMs = Stats.summarize(readMs).median,
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
