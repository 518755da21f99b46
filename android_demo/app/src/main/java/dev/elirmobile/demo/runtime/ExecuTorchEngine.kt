package dev.elirmobile.demo.runtime

import dev.elirmobile.demo.BuildConfig
import dev.elirmobile.demo.core.ModelCard
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * ExecuTorch through org.pytorch:executorch-android.  The delegate is chosen at export time (card backend) and
 * must be in this build's AAR (flavour xnnpack / vulkan / qnn); `loadMethod("forward")` runs here so method
 * init is part of load, not of the first run.
 */
class ExecuTorchEngine(private val card: ModelCard, accelerator: String, threads: Int) : Engine {
    private val module: Module
    override val runtimeName = "executorch"
    override val runtimeVersion = BuildConfig.EXECUTORCH_VERSION
    override val threads: Int? = if (threads > 0) threads else null
    override val acceleratorRequested = accelerator
    override val acceleratorUsed: String
    override val fallbackOccurred: Boolean?
    override val fallbackDetail: String

    init {
        require(accelerator == card.backend) {
            "${card.artifactFile} was exported for ${card.backend}; ExecuTorch cannot run it on $accelerator"
        }
        require(accelerator in buildAccelerators()) {
            "this APK's ExecuTorch AAR has no $accelerator delegate; install the '${accelerator}' flavour"
        }
        module = Module.load(card.artifact.absolutePath, Module.LOAD_MODE_FILE, threads)
        val err = module.loadMethod("forward")
        check(err == 0) { "loadMethod(forward) failed with ExecuTorch error 0x${err.toString(16)}" }
        // The delegates the loaded method actually uses; ExecuTorch has no silent fallback (a delegate that
        // cannot initialize fails loadMethod), ops outside it run on the CPU kernels.
        val used = module.getMethodMetadata("forward").backends.toList()
        acceleratorUsed = if (used.isEmpty()) "cpu" else used.joinToString("+") { it.removeSuffix("Backend").lowercase() }
        fallbackOccurred = card.delegatedMacShare?.let { it < 1.0 }
        fallbackDetail = "delegates in method: ${used.ifEmpty { listOf("none") }.joinToString()}; " +
            "non-delegated ops run on ExecuTorch's CPU kernels"
    }

    override fun run(inputs: List<FloatArray>): FloatArray {
        val values = inputs.mapIndexed { i, data -> EValue.from(Tensor.fromBlob(data, card.inputs[i].shape)) }
        val outputs = module.forward(*values.toTypedArray())
        check(outputs.isNotEmpty()) { "forward returned nothing" }
        return outputs[0].toTensor().dataAsFloatArray
    }

    override fun close() = module.destroy()

    companion object {
        /** Delegates the ExecuTorch AAR of this build flavour carries (XNNPACK is in all of them). */
        fun buildAccelerators(): List<String> = when (BuildConfig.FLAVOR) {
            "vulkan" -> listOf("vulkan", "xnnpack")
            "qnn" -> listOf("qnn", "xnnpack")
            else -> listOf("xnnpack")
        }
    }
}
