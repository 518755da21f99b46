package dev.elirmobile.demo.runtime

import android.content.Context
import android.system.Os
import dev.elirmobile.core.ModelCard
import dev.elirmobile.demo.BuildConfig
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.nio.FloatBuffer

/**
 * ExecuTorch through org.pytorch:executorch-android.  The delegate is chosen at export time (card backend) and
 * must be in this build's AAR (flavour xnnpack / vulkan / qnn).  `loadMethod("forward")` runs here, so method
 * init is part of load, not of the first run; it returns nothing and throws on failure.  Inputs live in direct
 * buffers wrapped once as tensors: [write] refills them, [invoke] is `forward` alone.
 */
class ExecuTorchEngine(context: Context, card: ModelCard, accelerator: String, threads: Int) : Engine {
    override val runtimeName = "executorch"
    override val runtimeVersion = BuildConfig.EXECUTORCH_VERSION
    override val threads: Int? = if (threads > 0) threads else null
    override val acceleratorRequested = accelerator
    override val acceleratorUsed: String
    override val fallbackOccurred: Boolean?
    override val fallbackDetail: String
    private val module: Module
    private val buffers: List<FloatBuffer>
    private val values: Array<EValue>
    private var output: Tensor? = null

    init {
        require(accelerator == card.backend) {
            "${card.artifactFile} was exported for ${card.backend}; ExecuTorch cannot run it on $accelerator"
        }
        require(accelerator in buildAccelerators()) {
            "this APK's ExecuTorch AAR has no $accelerator delegate; install the '$accelerator' flavour"
        }
        val tensors = card.inputs + card.outputs
        require(tensors.all { it.dtype == "float32" }) {
            "${card.artifactFile}: the app feeds ExecuTorch float32 tensors; the card lists " +
                tensors.joinToString { "${it.name}: ${it.dtype}" }
        }
        if (accelerator == "qnn") useAppLibrariesForQnn(context)
        module = Module.load(card.artifact.absolutePath, Module.LOAD_MODE_FILE, threads)
        try {
            module.loadMethod("forward")
        } catch (e: RuntimeException) {
            module.destroy()
            throw IllegalStateException("cannot load method forward of ${card.artifactFile}: ${e.message}", e)
        }
        // The delegates the loaded method uses.  ExecuTorch has no silent fallback (a delegate that cannot
        // initialize fails loadMethod); ops outside it run on the CPU kernels, which the card's share measures.
        val used = module.getMethodMetadata("forward").backends.toList()
        acceleratorUsed = if (used.isEmpty()) "cpu" else used.joinToString("+") { it.removeSuffix("Backend").lowercase() }
        fallbackOccurred = card.placementShareFor(runtimeName, accelerator)?.let { it < 1.0 }
        fallbackDetail = "delegates in method: ${used.ifEmpty { listOf("none") }.joinToString()}; " +
            "non-delegated ops run on ExecuTorch's CPU kernels"
        buffers = card.inputs.map { Tensor.allocateFloatBuffer(it.count) }
        values = card.inputs.mapIndexed { i, spec -> EValue.from(Tensor.fromBlob(buffers[i], spec.shape)) }.toTypedArray()
    }

    override fun write(inputs: List<FloatArray>) {
        require(inputs.size == buffers.size) { "the artifact takes ${buffers.size} inputs, got ${inputs.size}" }
        inputs.forEachIndexed { i, data ->
            require(data.size == buffers[i].capacity()) { "input $i has ${data.size} values, needs ${buffers[i].capacity()}" }
            buffers[i].rewind()
            buffers[i].put(data)
        }
    }

    override fun invoke() {
        val outputs = module.forward(*values)
        check(outputs.isNotEmpty()) { "forward returned nothing" }
        output = outputs[0].toTensor()
    }

    override fun read(out: FloatArray) {
        val tensor = checkNotNull(output) { "read before invoke" }
        require(tensor.numel() == out.size.toLong()) { "output has ${tensor.numel()} values, the card's shape ${out.size}" }
        tensor.copyDataInto(FloatBuffer.wrap(out))
    }

    override fun close() = module.destroy()

    companion object {
        /** Delegates the ExecuTorch AAR of this build flavour carries (XNNPACK is in all of them). */
        fun buildAccelerators(): List<String> = when (BuildConfig.FLAVOR) {
            "vulkan" -> listOf("vulkan", "xnnpack")
            "qnn" -> listOf("qnn", "xnnpack")
            else -> listOf("xnnpack")
        }

        /**
         * The QNN HTP skel libraries come with the qnn flavour's AAR (com.qualcomm.qti:qnn-runtime) into the
         * app's native library dir; the DSP loader (FastRPC, libcdsprpc.so, declared in the manifest) finds them
         * through ADSP_LIBRARY_PATH, which must be set before the delegate loads, as ExecuTorch's minibench does.
         */
        private fun useAppLibrariesForQnn(context: Context) {
            Os.setenv("ADSP_LIBRARY_PATH", context.applicationInfo.nativeLibraryDir, true)
        }
    }
}
