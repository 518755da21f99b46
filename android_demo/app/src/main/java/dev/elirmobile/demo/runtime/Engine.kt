package dev.elirmobile.demo.runtime

import android.content.Context
import dev.elirmobile.demo.core.ModelCard

/** One loaded artifact in one runtime; `run` takes the card's inputs (flat float32) and returns its output. */
interface Engine : AutoCloseable {
    val runtimeName: String
    val runtimeVersion: String
    val threads: Int?
    val acceleratorRequested: String
    val acceleratorUsed: String
    val fallbackOccurred: Boolean?
    val fallbackDetail: String

    fun run(inputs: List<FloatArray>): FloatArray

    companion object {
        val RUNTIMES = listOf("executorch", "litert")

        /** The accelerators each runtime can be asked for (ExecuTorch: what this build's AAR carries). */
        fun accelerators(runtime: String): List<String> = when (runtime) {
            "executorch" -> ExecuTorchEngine.buildAccelerators()
            "litert" -> listOf("cpu", "gpu", "npu")
            else -> emptyList()
        }

        /**
         * Loads `card`'s artifact; the caller times this call as load (model + method / compiled-model init).
         * Throws IllegalArgumentException for a runtime/artifact mismatch, with a one-line reason.
         */
        fun open(context: Context, card: ModelCard, runtime: String, accelerator: String, threads: Int): Engine =
            when (runtime) {
                "executorch" -> {
                    require(card.format == "pte") { "${card.artifactFile} is a .${card.format}; ExecuTorch runs .pte" }
                    ExecuTorchEngine(card, accelerator, threads)
                }
                "litert" -> {
                    require(card.format == "tflite") { "${card.artifactFile} is a .${card.format}; LiteRT runs .tflite" }
                    LiteRtEngine(context, card, accelerator, threads)
                }
                else -> throw IllegalArgumentException("unknown runtime '$runtime' (executorch | litert)")
            }
    }
}
