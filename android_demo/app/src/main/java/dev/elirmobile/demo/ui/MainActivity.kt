package dev.elirmobile.demo.ui

import android.content.ContentValues
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.os.Environment
import android.os.SystemClock
import android.provider.MediaStore
import android.view.View
import android.view.WindowManager
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.core.content.FileProvider
import androidx.lifecycle.lifecycleScope
import dev.elirmobile.core.ModelCard
import dev.elirmobile.core.Restorer
import dev.elirmobile.demo.runtime.Engine
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.util.Locale
import java.util.concurrent.Executors

/**
 * Demo: pick a photo (system photo picker), choose task / artifact / runtime / accelerator, restore (tiled as the
 * Python reference, with its noise), compare before/after, save or share the result.  Artifacts are the cards in
 * files/models/ (pushed by benchmarks/device/android.sh or adb push).
 *
 * The photo is decoded at no more than [Restorer.MAX_PREPARED_PIXELS] and shrunk further where the task's
 * preparation grows it (bsr x4, [Restorer.decodeSize]); restoring runs on one background thread that owns the engine, with progress per tile and a Cancel button; the loaded engine is
 * kept for the next restore until the artifact, runtime or accelerator changes.
 */
class MainActivity : ComponentActivity() {
    private lateinit var task: Spinner
    private lateinit var artifact: Spinner
    private lateinit var runtime: Spinner
    private lateinit var accelerator: Spinner
    private lateinit var status: TextView
    private lateinit var progress: ProgressBar
    private lateinit var restoreButton: Button
    private lateinit var cancelButton: Button
    private lateinit var saveButton: Button
    private lateinit var shareButton: Button
    private lateinit var view: BeforeAfterView
    private var photo: Bitmap? = null
    private var restored: Bitmap? = null
    private var cards: List<ModelCard> = emptyList()
    private var job: Job? = null

    /** The engine thread: native runtimes see one thread for load, runs and close. */
    private val engineThread = Executors.newSingleThreadExecutor { Thread(it, "elir-engine") }.asCoroutineDispatcher()
    private var loaded: Loaded? = null

    private class Loaded(val card: ModelCard, val runtime: String, val accelerator: String, val engine: Engine)

    private val picker = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        if (uri != null) lifecycleScope.launch {
            val decoded = runCatching { withContext(Dispatchers.IO) { decode(uri) } }
            decoded.onSuccess { photo = it; restored = null; view.before = it; view.after = null; view.overlay = "" }
                .onFailure { status.text = "Cannot read that photo: ${it.message}" }
            updateButtons()
        }
    }

    private fun spinner(items: List<String>, onSelect: (String) -> Unit = {}): Spinner = Spinner(this).apply {
        adapter = ArrayAdapter(this@MainActivity, android.R.layout.simple_spinner_dropdown_item, items)
        onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(p: AdapterView<*>?, v: View?, pos: Int, id: Long) = onSelect(items[pos])
            override fun onNothingSelected(p: AdapterView<*>?) {}
        }
    }

    private fun setItems(s: Spinner, items: List<String>) {
        s.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, items)
    }

    private fun button(label: String, onClick: () -> Unit) = Button(this).apply { text = label; setOnClickListener { onClick() } }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val models = File(getExternalFilesDir(null) ?: filesDir, "models").apply { mkdirs() }
        cards = models.listFiles { f -> f.extension == "json" }.orEmpty().sortedBy { it.name }
            .mapNotNull { runCatching { ModelCard.read(it) }.getOrNull() }
        status = TextView(this).apply {
            text = if (cards.isEmpty()) "No model cards in $models — push artifacts first (see README)." else ""
        }
        progress = ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply { visibility = View.GONE }
        artifact = spinner(emptyList())
        accelerator = spinner(emptyList())
        runtime = spinner(Engine.RUNTIMES) { setItems(accelerator, Engine.accelerators(it)) }
        task = spinner(cards.map { it.task }.distinct()) { t ->
            setItems(artifact, cards.filter { it.task == t }.map { it.artifactFile })
        }
        view = BeforeAfterView(this)
        val pick = button("Pick photo") { picker.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) }
        restoreButton = button("Restore") { restore() }
        cancelButton = button("Cancel") { job?.cancel() }
        saveButton = button("Save") { save() }
        shareButton = button("Share") { share() }
        val actions = LinearLayout(this).apply {
            orientation = LinearLayout.HORIZONTAL
            listOf(restoreButton, cancelButton, saveButton, shareButton).forEach { addView(it) }
        }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(24, 48, 24, 24)
            listOf(pick, task, artifact, runtime, accelerator, actions, progress, status).forEach { addView(it) }
            addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        })
        updateButtons()
    }

    override fun onDestroy() {
        super.onDestroy()
        job?.cancel()
        val engine = loaded?.engine
        loaded = null
        engineThread.executor.execute { engine?.close() }
        engineThread.close()
    }

    private fun updateButtons() {
        val busy = job?.isActive == true
        restoreButton.isEnabled = !busy && photo != null
        cancelButton.isEnabled = busy
        saveButton.isEnabled = !busy && restored != null
        shareButton.isEnabled = !busy && restored != null
        progress.visibility = if (busy) View.VISIBLE else View.GONE
        if (busy) window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        else window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
    }

    /** Software bitmap no larger than [Restorer.MAX_PREPARED_PIXELS] (a 12 MP photo decodes at 4 MP). */
    private fun decode(uri: Uri): Bitmap {
        val source = ImageDecoder.createSource(contentResolver, uri)
        return ImageDecoder.decodeBitmap(source) { d, info, _ ->
            d.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            val (w, h) = Restorer.capped(info.size.width, info.size.height)
            d.setTargetSize(w, h)
        }.copy(Bitmap.Config.ARGB_8888, false)
    }

    /** The loaded engine for this choice, loading (and closing the previous one) when the choice changed. */
    private fun engineFor(card: ModelCard, rt: String, acc: String): Pair<Engine, Double?> {
        loaded?.let { if (it.card === card && it.runtime == rt && it.accelerator == acc) return it.engine to null }
        loaded?.engine?.close()
        loaded = null
        val t0 = SystemClock.elapsedRealtimeNanos()
        val engine = Engine.open(this, card, rt, acc, 0)
        loaded = Loaded(card, rt, acc, engine)
        return engine to (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
    }

    private fun restore() {
        val bitmap = photo ?: run { status.text = "Pick a photo first."; return }
        val card = cards.firstOrNull { it.artifactFile == artifact.selectedItem as String? }
            ?: run { status.text = "Choose an artifact."; return }
        val rt = runtime.selectedItem as String
        val acc = accelerator.selectedItem as String? ?: return
        status.text = "Restoring with $rt / $acc…"
        progress.progress = 0
        job = lifecycleScope.launch {
            val result = runCatching {
                withContext(engineThread) {
                    val prepared = prepare(bitmap, card)
                    val (engine, loadMs) = engineFor(card, rt, acc)
                    val (chw, h, w) = toChw(prepared)
                    val output = FloatArray(card.outputs[0].count)  // the Restorer copies each tile out of it
                    val restorer = Restorer(card) { inputs -> engine.run(inputs, output) }
                    val tiles = restorer.tiles(h, w)
                    val t1 = SystemClock.elapsedRealtimeNanos()
                    val out = restorer.restore(chw, h, w, seed = 0) { done, total ->
                        ensureActive()
                        runOnUiThread { progress.max = total; progress.progress = done }
                    }
                    val runMs = (SystemClock.elapsedRealtimeNanos() - t1) / 1e6
                    val overlay = buildString {
                        append(String.format(Locale.US, "%s %s → %s, seed 0\n", rt, acc, engine.acceleratorUsed))
                        loadMs?.let { append(String.format(Locale.US, "load %.0f ms, ", it)) }
                        append(String.format(Locale.US, "restore %.0f ms (%d tiles, %.1f ms/tile)", runMs, tiles, runMs / tiles))
                        if (restorer.repeatsBakedNoise(h, w)) append("\nfixed-noise artifact: its noise repeats in every tile")
                    }
                    Triple(prepared, fromChw(out, h, w), overlay)
                }
            }
            result.onSuccess { (before, after, overlay) ->
                restored = after
                view.before = before; view.after = after; view.overlay = overlay; status.text = ""
            }.onFailure {
                status.text = if (it is CancellationException) "Cancelled." else "Failed: ${it.message}"
            }
            job = null
            updateButtons()
        }
        updateButtons()
    }

    /** Writes the result off the main thread, then tells where (or why not). */
    private fun export(what: String, write: (Bitmap) -> String) {
        val bitmap = restored ?: return
        lifecycleScope.launch {
            val result = runCatching { withContext(Dispatchers.IO) { write(bitmap) } }
            status.text = result.fold({ it }, { "$what failed: ${it.message}" })
        }
    }

    /** Saves the result to the gallery (Pictures/ELIR; before Android 10, the app's own Pictures folder). */
    private fun save() = export("Saving") { bitmap ->
        val name = "elir_${System.currentTimeMillis()}.png"
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            val values = ContentValues().apply {
                put(MediaStore.Images.Media.DISPLAY_NAME, name)
                put(MediaStore.Images.Media.MIME_TYPE, "image/png")
                put(MediaStore.Images.Media.RELATIVE_PATH, "${Environment.DIRECTORY_PICTURES}/ELIR")
            }
            val uri = checkNotNull(contentResolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)) {
                "the gallery refused a new image"
            }
            checkNotNull(contentResolver.openOutputStream(uri)) { "cannot write $uri" }
                .use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            "Saved Pictures/ELIR/$name"
        } else {
            val file = File(getExternalFilesDir(Environment.DIRECTORY_PICTURES), name)
            file.outputStream().use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            "Saved ${file.path}"
        }
    }

    /** Shares the result as a PNG through FileProvider (files/restored/, see res/xml/file_paths.xml). */
    private fun share() = export("Sharing") { bitmap ->
        val file = File(File(filesDir, "restored").apply { mkdirs() }, "restored.png")
        file.outputStream().use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
        val uri = FileProvider.getUriForFile(this, "$packageName.files", file)
        val send = Intent(Intent.ACTION_SEND).setType("image/png").putExtra(Intent.EXTRA_STREAM, uri)
            .addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        runOnUiThread { startActivity(Intent.createChooser(send, "Share restored photo")) }
        ""
    }

    /** The task's input preparation (elir_mobile.restoration.prepare_input), with bsr's x4 capped first. Android
     *  scales bilinearly where Python uses bicubic, so tiles differ slightly from the desktop; nearest is exact. */
    private fun prepare(b: Bitmap, card: ModelCard): Bitmap = when (Restorer.prepareMode(card.task)) {
        "resize" -> Bitmap.createScaledBitmap(b, card.imageSize, card.imageSize, true)
        "upsample8" -> Bitmap.createScaledBitmap(b, card.imageSize, card.imageSize, false)
        "upsample4" -> Restorer.decodeSize(card.task, b.width, b.height)
            .let { (w, h) -> Bitmap.createScaledBitmap(b, w * 4, h * 4, true) }
        else -> b
    }

    private fun toChw(b: Bitmap): Triple<FloatArray, Int, Int> {
        val w = b.width
        val h = b.height
        val px = IntArray(w * h).also { b.getPixels(it, 0, w, 0, 0, w, h) }
        val out = FloatArray(3 * h * w)
        for (i in px.indices) {
            out[i] = ((px[i] shr 16) and 0xFF) / 255f
            out[h * w + i] = ((px[i] shr 8) and 0xFF) / 255f
            out[2 * h * w + i] = (px[i] and 0xFF) / 255f
        }
        return Triple(out, h, w)
    }

    private fun fromChw(x: FloatArray, h: Int, w: Int): Bitmap {
        fun q(v: Float) = (v.coerceIn(0f, 1f) * 255f + 0.5f).toInt()
        val px = IntArray(h * w) { i ->
            (0xFF shl 24) or (q(x[i]) shl 16) or (q(x[h * w + i]) shl 8) or q(x[2 * h * w + i])
        }
        return Bitmap.createBitmap(px, w, h, Bitmap.Config.ARGB_8888)
    }
}
