package dev.elirmobile.demo.runtime

import android.content.Context
import dev.elirmobile.core.ModelCard

/**
 * One loaded artifact in one runtime.  A call is split so a benchmark times inference alone: [write] copies the
 * card's inputs (real float values, the card's layouts) into the runtime's input tensors, quantizing integer
 * ones; [invoke] runs the model on them; [read] returns the output as real float values.  Buffers are allocated
 * once, at load.
 */
interface Engine : AutoCloseable {
    val runtimeName: String
    val runtimeVersion: String
    val threads: Int?
    val acceleratorRequested: String
    /** What ran, as far as the runtime tells (see each engine). */
    val acceleratorUsed: String
    /** true: a whole accelerator was given up for another; false: none was; null: the runtime cannot tell. */
    val fallbackOccurred: Boolean?
    val fallbackDetail: String

    fun write(inputs: List<FloatArray>)
    fun invoke()
    fun read(out: FloatArray)

    /** One model call on `inputs`, for the demo's tiles. */
    fun run(inputs: List<FloatArray>, out: FloatArray): FloatArray {
        write(inputs)
        invoke()
        read(out)
        return out
    }

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
                    ExecuTorchEngine(context, card, accelerator, threads)
                }
                "litert" -> {
                    require(card.format == "tflite") { "${card.artifactFile} is a .${card.format}; LiteRT runs .tflite" }
                    LiteRtEngine(context, card, accelerator, threads)
                }
                else -> throw IllegalArgumentException("unknown runtime '$runtime' (executorch | litert)")
            }
    }
}
