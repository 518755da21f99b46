package dev.elirmobile.demo.runtime

import android.content.Context
import dev.elirmobile.demo.BuildConfig
import dev.elirmobile.demo.core.ModelCard
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer

/**
 * LiteRT CompiledModel (com.google.ai.edge.litert:litert + litert-gpu) on CPU, GPU or NPU.  NNAPI is deprecated
 * and not used.  Only the requested accelerator is passed, so creation fails rather than silently landing
 * elsewhere; LiteRT's Kotlin API does not report per-op placement, so partial fallback is "unknown" (null).
 */
class LiteRtEngine(context: Context, card: ModelCard, accelerator: String, threads: Int) : Engine {
    private val env: Environment
    private val model: CompiledModel
    private val inputBuffers: List<TensorBuffer>
    private val outputBuffers: List<TensorBuffer>
    override val runtimeName = "litert"
    override val runtimeVersion = BuildConfig.LITERT_VERSION
    override val threads: Int? = if (accelerator == "cpu" && threads > 0) threads else null
    override val acceleratorRequested = accelerator
    override val acceleratorUsed = accelerator
    override val fallbackOccurred: Boolean? = null
    override val fallbackDetail = "CompiledModel created with only Accelerator.${accelerator.uppercase()}; " +
        "the Kotlin API does not report per-op placement"

    init {
        val acc = when (accelerator) {
            "cpu" -> Accelerator.CPU
            "gpu" -> Accelerator.GPU
            "npu" -> Accelerator.NPU
            else -> throw IllegalArgumentException("LiteRT accelerator must be cpu, gpu or npu, not '$accelerator'")
        }
        env = if (acc == Accelerator.NPU) Environment.create(BuiltinNpuAcceleratorProvider(context)) else Environment.create()
        if (acc == Accelerator.NPU) {
            require(Accelerator.NPU in env.getAvailableAccelerators()) {
                "no LiteRT NPU accelerator on this device (is the NPU runtime library packaged? see README)"
            }
        }
        val options = CompiledModel.Options(acc)
        if (acc == Accelerator.CPU && threads > 0) options.cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        model = CompiledModel.create(card.artifact.absolutePath, options, env)
        inputBuffers = model.createInputBuffers()
        outputBuffers = model.createOutputBuffers()
    }

    override fun run(inputs: List<FloatArray>): FloatArray {
        inputs.forEachIndexed { i, data -> inputBuffers[i].writeFloat(data) }
        model.run(inputBuffers, outputBuffers)
        return outputBuffers[0].readFloat()
    }

    override fun close() {
        inputBuffers.forEach { it.close() }
        outputBuffers.forEach { it.close() }
        model.close()
        env.close()
    }
}
