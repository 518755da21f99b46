package dev.elirmobile.demo

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import dev.elirmobile.core.ModelCard
import dev.elirmobile.core.Record
import java.io.File
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread

/**
 * Headless benchmark mode:
 *
 *   adb shell am start -W -S -n dev.elirmobile.demo/.BenchmarkActivity --es model elir_bfr_tflite_int8.tflite \
 *       --es runtime litert --es accelerator npu --ei warmup 10 --ei runs 50 [--ei threads 4] [--ei cooldown 60] \
 *       [--es card elir_bfr_tflite_int8.json] [--es out result.json]
 *
 * `model` / `card` are paths or names inside files/models/ (the card defaults to the model's stem + .json).
 * Writes the schema record to files/results/<out> (temp file, then rename), one ELIR_BENCH line to logcat
 * (tag ELIR), and finishes.  Errors: one "ELIR_BENCH_ERROR <reason>" line and files/results/<out>.error.
 *
 * One benchmark per launch: the screen stays on, a rotation does not restart the activity (manifest
 * configChanges), and an intent arriving while one runs is refused rather than started beside it; `am start -S`
 * gives every benchmark a fresh process.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val status = TextView(this).apply { text = "ELIR benchmark running…"; textSize = 18f; setPadding(48, 96, 48, 48) }
        setContentView(status)
        if (!running.compareAndSet(false, true)) {
            Log.e(TAG, "ELIR_BENCH_ERROR a benchmark is already running in this process")
            finish()
            return
        }
        val extras = intent.extras ?: Bundle()
        val base = getExternalFilesDir(null) ?: filesDir
        val models = File(base, "models")
        val results = File(base, "results").apply { mkdirs() }
        fun resolve(name: String) = File(name).let { if (it.isAbsolute) it else File(models, name) }

        val modelName = extras.getString("model")
        val out = File(results, extras.getString("out") ?: "${File(modelName ?: "result").nameWithoutExtension}." +
            "${extras.getString("runtime")}.${extras.getString("accelerator")}.json")
        thread(name = "elir-bench") {
            val message = try {
                requireNotNull(modelName) { "missing --es model" }
                val runtime = requireNotNull(extras.getString("runtime")) { "missing --es runtime (executorch|litert)" }
                val accelerator = requireNotNull(extras.getString("accelerator")) { "missing --es accelerator" }
                val model = resolve(modelName)
                val card = ModelCard.read(resolve(extras.getString("card") ?: "${model.nameWithoutExtension}.json"))
                require(card.artifact.canonicalPath == model.canonicalPath) {
                    "card ${card.cardFile.name} describes ${card.artifactFile}, not ${model.name}"
                }
                val cfg = BenchmarkRunner.Config(
                    card = card, runtime = runtime, accelerator = accelerator,
                    warmup = extras.getInt("warmup", 10), runs = extras.getInt("runs", 50),
                    threads = extras.getInt("threads", 0), cooldownS = extras.getInt("cooldown", 0),
                )
                val run = BenchmarkRunner(this).run(cfg)
                Record.writeAtomically(out, Record.toRecord(card, Platform.device(), run, Record.utcTimestamp()))
                Record.summaryLine(card, run).also { Log.i(TAG, "$it -> ${out.absolutePath}") }
            } catch (e: Throwable) {
                val line = "ELIR_BENCH_ERROR ${e.javaClass.simpleName}: ${e.message?.lineSequence()?.firstOrNull()}"
                Log.e(TAG, line, e)
                File(out.path + ".error").writeText(line + "\n")
                line
            }
            runOnUiThread {
                status.text = message
                window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
                finish()
            }
        }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        Log.e(TAG, "ELIR_BENCH_ERROR a benchmark is already running; start the next one with am start -S")
    }

    companion object {
        const val TAG = "ELIR"
        private val running = AtomicBoolean(false)
    }
}
