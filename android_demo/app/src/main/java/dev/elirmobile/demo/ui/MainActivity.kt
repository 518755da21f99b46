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
import android.widget.CheckBox
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.core.content.FileProvider
import androidx.lifecycle.lifecycleScope
import dev.elirmobile.core.FaceAlign
import dev.elirmobile.core.FacePhoto
import dev.elirmobile.core.ModelCard
import dev.elirmobile.core.NoFaceFound
import dev.elirmobile.core.Planar
import dev.elirmobile.core.Restorer
import dev.elirmobile.demo.faces.FaceFinder
import dev.elirmobile.demo.runtime.Engine
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
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
 * For the face tasks the photo is restored whole, as `python -m elir_mobile restore` does: MediaPipe's face
 * landmarker finds the faces ([FaceFinder]), the core aligns each to the FFHQ template, the artifact restores it
 * and the core pastes it back under the feathered mask ([FacePhoto]).  "Aligned crop" restores the photo as it is
 * (an already aligned face crop, `--aligned`); bsr always does.
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
    private lateinit var alignedCrop: CheckBox
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
    private var faceFinder: FaceFinder? = null  // made on the engine thread at the first whole-photo restore

    private class Loaded(val card: ModelCard, val runtime: String, val accelerator: String, val engine: Engine)

    /** What a restore shows: before, after, the timing overlay. */
    private data class Shown(val before: Bitmap, val after: Bitmap, val overlay: String)

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
        alignedCrop = CheckBox(this).apply { text = "Aligned crop (restore the photo as it is, no face search)" }
        runtime = spinner(Engine.RUNTIMES) { setItems(accelerator, Engine.accelerators(it)) }
        task = spinner(cards.map { it.task }.distinct()) { t ->
            setItems(artifact, cards.filter { it.task == t }.map { it.artifactFile })
            alignedCrop.isEnabled = t in FacePhoto.FACE_TASKS  // bsr has no face step
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
            listOf(pick, task, artifact, runtime, accelerator, alignedCrop, actions, progress, status)
                .forEach { addView(it) }
            addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        })
        updateButtons()
    }

    override fun onDestroy() {
        super.onDestroy()
        job?.cancel()
        val engine = loaded?.engine
        val finder = faceFinder
        loaded = null
        faceFinder = null
        engineThread.executor.execute { engine?.close(); finder?.close() }
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
        val wholePhoto = !alignedCrop.isChecked && card.task in FacePhoto.FACE_TASKS
        status.text = if (wholePhoto) "Finding faces…" else "Restoring with $rt / $acc…"
        progress.progress = 0
        job = lifecycleScope.launch {
            val result = runCatching {
                withContext(engineThread) {
                    if (wholePhoto) restoreFaces(bitmap, card, rt, acc) else restoreAsIs(bitmap, card, rt, acc)
                }
            }
            result.onSuccess { (before, after, overlay) ->
                restored = after
                view.before = before; view.after = after; view.overlay = overlay; status.text = ""
            }.onFailure {
                status.text = when (it) {
                    is CancellationException -> "Cancelled."
                    is NoFaceFound -> it.message
                    else -> "Failed: ${it.message}"
                }
            }
            job = null
            updateButtons()
        }
        updateButtons()
    }

    /** The first lines of the overlay: what ran where, and the load time when the model was loaded now. */
    private fun header(rt: String, acc: String, engine: Engine, loadMs: Double?) = buildString {
        append(String.format(Locale.US, "%s %s → %s, seed 0\n", rt, acc, engine.acceleratorUsed))
        loadMs?.let { append(String.format(Locale.US, "load %.0f ms, ", it)) }
    }

    /** The photo as it is (an aligned face crop, or any photo for bsr): prepared for the task, restored in tiles. */
    private fun CoroutineScope.restoreAsIs(bitmap: Bitmap, card: ModelCard, rt: String, acc: String): Shown {
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
        val overlay = header(rt, acc, engine, loadMs) +
            String.format(Locale.US, "restore %.0f ms (%d tiles, %.1f ms/tile)", runMs, tiles, runMs / tiles) +
            (if (restorer.repeatsBakedNoise(h, w)) "\nfixed-noise artifact: its noise repeats in every tile" else "")
        return Shown(prepared, fromChw(out, h, w), overlay)
    }

    /**
     * The whole photo, as `python -m elir_mobile restore` (elir_mobile/faces/pipeline.py): find the faces first
     * (a photo without one fails before any model loads), align each to the task's crop (sr: 32 px), restore it
     * (prepared as the task expects, seed 0), paste it back under the feathered mask.  The photo keeps its size.
     */
    private fun CoroutineScope.restoreFaces(bitmap: Bitmap, card: ModelCard, rt: String, acc: String): Shown {
        val t0 = SystemClock.elapsedRealtimeNanos()
        val finder = faceFinder ?: FaceFinder(this@MainActivity).also { faceFinder = it }
        val faces = FacePhoto.select(finder.find(bitmap))
        val findMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        ensureActive()
        runOnUiThread { status.text = "Restoring ${faces.size} face(s) with $rt / $acc…" }
        val (engine, loadMs) = engineFor(card, rt, acc)
        val prepare = Restorer.prepareMode(card.task)
        val output = FloatArray(card.outputs[0].count)
        val restorer = Restorer(card) { inputs -> engine.run(inputs, output) }
        val (chw, h, w) = toChw(bitmap)
        var done = 0
        val cropSize = FaceAlign.inputSize(prepare, card.imageSize)
        val result = FacePhoto.restore(Planar(3, h, w, chw), faces, cropSize) { crop ->
            val input = FacePhoto.prepare(crop, prepare, card.imageSize)
            val out = restorer.restore(input.data, input.h, input.w, seed = 0) { _, _ -> ensureActive() }
            val finished = ++done
            runOnUiThread { progress.max = faces.size; progress.progress = finished }
            Planar(3, input.h, input.w, out)
        }
        val ms = result.ms
        val overlay = header(rt, acc, engine, loadMs) +
            String.format(Locale.US, "%d face(s) (%s px wide), %d px crops\n", faces.size,
                          faces.joinToString(", ") { "%.0f".format(Locale.US, it.width) }, cropSize) +
            String.format(Locale.US, "find %.0f ms, align %.0f ms, restore %.0f ms, paste %.0f ms", findMs,
                          ms.getValue("align"), ms.getValue("restore"), ms.getValue("paste"))
        return Shown(bitmap, fromChw(result.image.data, h, w), overlay)
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
