package dev.elirmobile.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import java.io.File

/** A tensor as the card describes it: what the artifact's own tensor holds, and how integer values map to real. */
data class TensorSpec(
    val name: String,
    val shape: LongArray,
    val layout: String,
    val dtype: String,
    val kind: String,
    val quantization: Quantization?,
) {
    val count: Int get() = shape.fold(1L) { a, d -> a * d }.toInt()

    /** Channels of a rank-4 tensor in its layout. */
    val channels: Int get() = (if (layout == "NHWC") shape[3] else shape[1]).toInt()
}

/** A reference vector file (resolved beside the card) and its shape. */
data class VectorSpec(val file: File, val shape: LongArray) {
    val count: Int get() = shape.fold(1L) { a, d -> a * d }.toInt()
}

/**
 * The model-card fields the apps need (export/card.schema.json, schema_version 2), read strictly: a missing or
 * mistyped field, or another schema version, is an [IllegalArgumentException] naming it, never a default.  Same
 * fields as the native runner's card.cpp and ELIRKit's ModelCard.swift.
 */
data class ModelCard(
    val cardFile: File,
    val task: String,
    val k: Int,
    val sigmaS: Double,
    val noiseMode: String,
    val imageSize: Int,
    val artifactFile: String,
    val format: String,
    val backend: String,
    val precision: String,
    val compression: String?,
    val sizeBytes: Long,
    val sha256: String,
    /** Entry points: forward, and for a .pte also encode, step_0 .. step_<K-1>, decode. */
    val methods: List<String>,
    val gateDb: Double,
    val parityRuntimeKind: String,
    /** placement.measure: which share [placementShare] is (delegated / Neural Engine / GPU-delegate MACs). */
    val placementMeasure: String,
    val placementShare: Double?,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val referenceInputs: List<VectorSpec>,
    val referenceOutput: VectorSpec,
) {
    val artifact: File get() = File(cardFile.parentFile, artifactFile)

    /** The card's placement share when it measures what `accelerator` runs (for the record's fallback). */
    fun placementShareFor(runtime: String, accelerator: String): Double? = when {
        runtime == "executorch" && placementMeasure == "delegated_mac_share" -> placementShare
        runtime == "litert" && accelerator == "gpu" && placementMeasure == "gpu_delegate_mac_share" -> placementShare
        else -> null
    }

    companion object {
        const val SCHEMA_VERSION = 2
        private val INTEGER_DTYPES = setOf("int8", "uint8", "int16")

        fun read(file: File): ModelCard {
            require(file.isFile) { "cannot read model card $file" }
            try {
                return parse(JSONObject(file.readText()), file)
            } catch (e: JSONException) {
                throw IllegalArgumentException("${file.name}: ${e.message}")
            }
        }

        fun parse(root: JSONObject, file: File): ModelCard {
            val version = root.getInt("schema_version")
            require(version == SCHEMA_VERSION) {
                "${file.name}: card schema_version $version, this app reads $SCHEMA_VERSION (re-export the artifact " +
                    "with this repository's exporter)"
            }
            val dir = file.absoluteFile.parentFile
            val art = root.getJSONObject("artifact")
            val rv = root.getJSONObject("reference_vectors")
            require(rv.getString("dtype") == "float32" && rv.getString("byte_order") == "little") {
                "${file.name}: reference vectors must be little-endian float32"
            }
            fun vector(o: JSONObject): VectorSpec {
                val name = o.getString("file")
                require(name.isNotEmpty() && !name.contains('/')) { "${file.name}: vector file must be a plain name" }
                return VectorSpec(File(dir, name), shape(o.getJSONArray("shape")))
            }
            val placement = root.getJSONObject("placement")
            val parity = root.getJSONObject("parity")
            val rvInputs = rv.getJSONArray("inputs")
            val inputs = tensors(root.getJSONArray("inputs"))
            require(rvInputs.length() == inputs.size) {
                "${file.name}: ${inputs.size} inputs but ${rvInputs.length()} reference input vectors"
            }
            return ModelCard(
                cardFile = file.absoluteFile,
                task = root.getString("task"),
                k = root.getInt("K"),
                sigmaS = root.getDouble("sigma_s"),
                noiseMode = root.getString("noise_mode"),
                imageSize = root.getInt("image_size"),
                artifactFile = art.getString("file"),
                format = art.getString("format"),
                backend = art.getString("backend"),
                precision = art.getString("precision"),
                compression = art.nullable("compression")?.let { art.getString("compression") },
                sizeBytes = art.getLong("size_bytes"),
                sha256 = art.getString("sha256"),
                methods = art.getJSONObject("methods").keys().asSequence().sorted().toList(),
                gateDb = parity.getDouble("gate_db"),
                parityRuntimeKind = parity.getString("runtime_kind"),
                placementMeasure = placement.getString("measure"),
                placementShare = placement.nullable("share")?.let { placement.getDouble("share") },
                inputs = inputs,
                outputs = tensors(root.getJSONArray("outputs")),
                referenceInputs = (0 until rvInputs.length()).map { vector(rvInputs.getJSONObject(it)) },
                referenceOutput = vector(rv.getJSONObject("output")),
            )
        }

        private fun tensors(a: JSONArray) = (0 until a.length()).map {
            val t = a.getJSONObject(it)
            val q = t.nullable("quantization")?.let {
                val o = t.getJSONObject("quantization")
                Quantization(o.getDouble("scale"), o.getInt("zero_point"))
            }
            val dtype = t.getString("dtype")
            if ((dtype in INTEGER_DTYPES) != (q != null)) {
                throw JSONException("${t.getString("name")}: a $dtype tensor ${if (q == null) "needs" else "has no"} quantization")
            }
            TensorSpec(t.getString("name"), shape(t.getJSONArray("shape")), t.getString("layout"), dtype,
                       t.getString("kind"), q)
        }

        /** A key the schema requires but allows to be null: absent is an error, null is null. */
        private fun JSONObject.nullable(key: String): Any? {
            if (!has(key)) throw JSONException("$key is missing")
            return if (isNull(key)) null else get(key)
        }

        private fun shape(a: JSONArray): LongArray {
            require(a.length() > 0) { "empty shape" }
            return LongArray(a.length()) { i -> a.getLong(i).also { require(it > 0) { "non-positive dimension" } } }
        }
    }
}
