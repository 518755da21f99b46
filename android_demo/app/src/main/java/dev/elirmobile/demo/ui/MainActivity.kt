package dev.elirmobile.demo.ui

import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.LinearLayout
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.lifecycle.lifecycleScope
import dev.elirmobile.demo.core.ModelCard
import dev.elirmobile.demo.core.Restorer
import dev.elirmobile.demo.runtime.Engine
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.util.Locale

/**
 * Demo: pick a photo (system photo picker), choose task / artifact / runtime / accelerator, restore (tiled as the
 * Python reference), compare before/after with a timing overlay.  Artifacts are the cards in files/models/
 * (pushed by benchmarks/device/android.sh or adb push).
 */
class MainActivity : ComponentActivity() {
    private lateinit var task: Spinner
    private lateinit var artifact: Spinner
    private lateinit var runtime: Spinner
    private lateinit var accelerator: Spinner
    private lateinit var status: TextView
    private lateinit var view: BeforeAfterView
    private var photo: Bitmap? = null
    private var cards: List<ModelCard> = emptyList()

    private val picker = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        if (uri != null) {
            val src = ImageDecoder.createSource(contentResolver, uri)
            photo = ImageDecoder.decodeBitmap(src) { d, _, _ -> d.allocator = ImageDecoder.ALLOCATOR_SOFTWARE }
                .copy(Bitmap.Config.ARGB_8888, false)
            view.before = photo
            view.after = null
            view.overlay = ""
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

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val models = File(getExternalFilesDir(null) ?: filesDir, "models").apply { mkdirs() }
        cards = models.listFiles { f -> f.extension == "json" }.orEmpty().sortedBy { it.name }
            .mapNotNull { runCatching { ModelCard.read(it) }.getOrNull() }
        status = TextView(this).apply {
            text = if (cards.isEmpty()) "No model cards in $models — push artifacts first (see README)." else ""
        }
        artifact = spinner(emptyList())
        accelerator = spinner(emptyList())
        runtime = spinner(Engine.RUNTIMES) { setItems(accelerator, Engine.accelerators(it)) }
        task = spinner(cards.map { it.task }.distinct()) { t ->
            setItems(artifact, cards.filter { it.task == t }.map { it.artifactFile })
        }
        view = BeforeAfterView(this)
        val pick = Button(this).apply {
            text = "Pick photo"
            setOnClickListener { picker.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) }
        }
        val restore = Button(this).apply { text = "Restore"; setOnClickListener { restore() } }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(24, 48, 24, 24)
            listOf(pick, task, artifact, runtime, accelerator, restore, status).forEach { addView(it) }
            addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        })
    }

    private fun restore() {
        val bitmap = photo ?: run { status.text = "Pick a photo first."; return }
        val card = cards.firstOrNull { it.artifactFile == artifact.selectedItem as String? }
            ?: run { status.text = "Choose an artifact."; return }
        val rt = runtime.selectedItem as String
        val acc = accelerator.selectedItem as String? ?: return
        status.text = "Restoring with $rt / $acc…"
        lifecycleScope.launch {
            val result = withContext(Dispatchers.Default) {
                runCatching {
                    val prepared = prepare(bitmap, card)
                    val t0 = SystemClock.elapsedRealtimeNanos()
                    Engine.open(this@MainActivity, card, rt, acc, 0).use { engine ->
                        val loadMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
                        val (chw, h, w) = toChw(prepared)
                        var calls = 0
                        val t1 = SystemClock.elapsedRealtimeNanos()
                        val out = Restorer(card) { calls++; engine.run(it) }.restore(chw, h, w)
                        val runMs = (SystemClock.elapsedRealtimeNanos() - t1) / 1e6
                        val overlay = String.format(Locale.US, "%s %s → %s\nload %.0f ms, restore %.0f ms (%d tiles, %.1f ms/tile)",
                            rt, acc, engine.acceleratorUsed, loadMs, runMs, calls, runMs / calls)
                        Triple(prepared, fromChw(out, h, w), overlay)
                    }
                }
            }
            result.onSuccess { (before, after, overlay) ->
                view.before = before; view.after = after; view.overlay = overlay; status.text = ""
            }.onFailure { status.text = "Failed: ${it.message}" }
        }
    }

    /** The task's input preparation (elir_mobile.restoration.prepare_input). Android scales bilinearly where
     *  Python uses bicubic, so tiles differ slightly from the desktop result; nearest-exact is exact. */
    private fun prepare(b: Bitmap, card: ModelCard): Bitmap = when (Restorer.prepareMode(card.task)) {
        "resize" -> Bitmap.createScaledBitmap(b, card.imageSize, card.imageSize, true)
        "upsample8" -> Bitmap.createScaledBitmap(b, card.imageSize, card.imageSize, false)
        "upsample4" -> Bitmap.createScaledBitmap(b, b.width * 4, b.height * 4, true)
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
