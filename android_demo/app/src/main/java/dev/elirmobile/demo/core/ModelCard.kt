package dev.elirmobile.demo.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File

/** A tensor as the card describes it. */
data class TensorSpec(val name: String, val shape: LongArray, val layout: String) {
    val count: Int get() = shape.fold(1L) { a, d -> a * d }.toInt()
}

/** A reference vector file (resolved beside the card) and its shape. */
data class VectorSpec(val file: File, val shape: LongArray) {
    val count: Int get() = shape.fold(1L) { a, d -> a * d }.toInt()
}

/**
 * The model-card fields the app needs (format: the export pipeline's card), read strictly: a missing or
 * mistyped field is an [IllegalArgumentException] naming it, never a default.  Same fields as the native
 * runner's card.cpp.
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
    val gateDb: Double,
    val delegatedMacShare: Double?,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val referenceInputs: List<VectorSpec>,
    val referenceOutput: VectorSpec,
) {
    val artifact: File get() = File(cardFile.parentFile, artifactFile)

    companion object {
        fun read(file: File): ModelCard {
            require(file.isFile) { "cannot read model card $file" }
            try {
                return parse(JSONObject(file.readText()), file)
            } catch (e: org.json.JSONException) {
                throw IllegalArgumentException("${file.name}: ${e.message}")
            }
        }

        fun parse(root: JSONObject, file: File): ModelCard {
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
            fun tensors(a: JSONArray) = (0 until a.length()).map {
                val t = a.getJSONObject(it)
                TensorSpec(t.getString("name"), shape(t.getJSONArray("shape")), t.getString("layout"))
            }
            val placement = root.optJSONObject("op_placement")
            val rvInputs = rv.getJSONArray("inputs")
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
                compression = if (art.isNull("compression")) null else art.getString("compression"),
                sizeBytes = art.getLong("size_bytes"),
                sha256 = art.getString("sha256"),
                gateDb = root.getJSONObject("parity").getDouble("gate_db"),
                delegatedMacShare = placement?.let { if (it.has("delegated_mac_share") && !it.isNull("delegated_mac_share")) it.getDouble("delegated_mac_share") else null },
                inputs = tensors(root.getJSONArray("inputs")),
                outputs = tensors(root.getJSONArray("outputs")),
                referenceInputs = (0 until rvInputs.length()).map { vector(rvInputs.getJSONObject(it)) },
                referenceOutput = vector(rv.getJSONObject("output")),
            )
        }

        private fun shape(a: JSONArray): LongArray {
            require(a.length() > 0) { "empty shape" }
            return LongArray(a.length()) { i -> a.getLong(i).also { require(it > 0) { "non-positive dimension" } } }
        }
    }
}
