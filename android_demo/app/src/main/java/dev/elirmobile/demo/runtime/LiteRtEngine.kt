package dev.elirmobile.demo.runtime

import android.content.Context
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.LiteRtException
import com.google.ai.edge.litert.TensorBuffer
import com.google.ai.edge.litert.TensorType
import dev.elirmobile.core.ModelCard
import dev.elirmobile.core.TensorSpec
import dev.elirmobile.demo.BuildConfig

/**
 * LiteRT CompiledModel (com.google.ai.edge.litert:litert) on NPU, GPU or CPU.  NNAPI is deprecated and not used.
 *
 * Fallback is visible: a request for `npu` tries NPU, then GPU, then CPU (`gpu`: GPU then CPU), and the record
 * says which one the model was compiled for and why the others were skipped.  Within one accelerator LiteRT
 * does not say which ops ran where: `CompiledModel.create` adds CPU to an NPU-only request so partially compiled
 * models run, and the GPU accelerator leaves ops it lacks to the CPU, so `used` is "npu+cpu" / "gpu+cpu" and
 * per-op fallback is unknown (null) unless a whole accelerator was given up.
 *
 * Integer I/O (the default LiteRT int8 artifact has int8 inputs and output) is quantized with the card's
 * scale / zero point; LiteRT's Kotlin TensorBuffer writes float32, int32 and int8 only, so int16 I/O (int16x8
 * artifacts) is refused with that reason.
 */
class LiteRtEngine(context: Context, private val card: ModelCard, accelerator: String, threads: Int) : Engine {
    override val runtimeName = "litert"
    override val runtimeVersion = BuildConfig.LITERT_VERSION
    override val threads: Int?
    override val acceleratorRequested = accelerator
    override val acceleratorUsed: String
    override val fallbackOccurred: Boolean?
    override val fallbackDetail: String
    private val env: Environment
    private val model: CompiledModel
    private val inputBuffers: List<TensorBuffer>
    private val outputBuffers: List<TensorBuffer>
    private val int8Inputs: List<ByteArray?>

    init {
        val order = when (accelerator) {
            "npu" -> listOf(Accelerator.NPU, Accelerator.GPU, Accelerator.CPU)
            "gpu" -> listOf(Accelerator.GPU, Accelerator.CPU)
            "cpu" -> listOf(Accelerator.CPU)
            else -> throw IllegalArgumentException("LiteRT accelerator must be cpu, gpu or npu, not '$accelerator'")
        }
        (card.inputs + card.outputs).forEach(::requireWritable)
        // Environment.create(context, ...) turns on the compiler cache in the app's cache dir, so an NPU model is
        // compiled for the device once, not at every load; the NPU provider points LiteRT at the vendor dispatch
        // library packaged in nativeLibraryDir (README: "LiteRT NPU").
        env = if (Accelerator.NPU in order) Environment.create(context, BuiltinNpuAcceleratorProvider(context))
              else Environment.create(context)
        val available = env.getAvailableAccelerators()
        val skipped = mutableListOf<String>()
        var chosen: Pair<Accelerator, CompiledModel>? = null
        for (acc in order) {
            if (acc != Accelerator.CPU && acc !in available) {
                skipped += "${acc.name}: not available on this device/APK"
                continue
            }
            try {
                chosen = acc to CompiledModel.create(card.artifact.absolutePath, options(acc, threads), env)
                break
            } catch (e: LiteRtException) {
                skipped += "${acc.name}: ${e.message}"
            }
        }
        val (acc, compiled) = chosen ?: run {
            env.close()
            throw IllegalStateException("LiteRT could not compile ${card.artifactFile}: ${skipped.joinToString("; ")}")
        }
        model = compiled
        this.threads = if (acc == Accelerator.CPU && threads > 0) threads else null
        acceleratorUsed = if (acc == Accelerator.CPU) "cpu" else "${acc.name.lowercase()}+cpu"
        fallbackOccurred = if (skipped.isNotEmpty()) true else if (acc == Accelerator.CPU) false else null
        fallbackDetail = (skipped + "compiled for ${acc.name}" +
            if (acc == Accelerator.CPU) "all ops on the CPU" else "LiteRT does not report which ops the CPU took").joinToString("; ")
        card.inputs.forEach { checkType(it, model.getInputTensorType(it.name)) }
        checkType(card.outputs[0], model.getOutputTensorType(card.outputs[0].name))
        inputBuffers = model.createInputBuffers()
        outputBuffers = model.createOutputBuffers()
        int8Inputs = card.inputs.map { if (it.dtype == "int8") ByteArray(it.count) else null }
    }

    private fun options(acc: Accelerator, threads: Int) = CompiledModel.Options(acc).apply {
        if (acc == Accelerator.CPU && threads > 0) cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        // Qualcomm HTP: hold the DSP at its high-performance clock for the benchmark (litert-samples' NPU sample
        // sets the same); other vendors ignore Qualcomm options.
        if (acc == Accelerator.NPU) qualcommOptions = CompiledModel.QualcommOptions(
            htpPerformanceMode = CompiledModel.QualcommOptions.HtpPerformanceMode.HIGH_PERFORMANCE)
    }

    private fun requireWritable(spec: TensorSpec) = require(spec.dtype == "float32" || spec.dtype == "int8") {
        "${card.artifactFile}: ${spec.name} is ${spec.dtype}; LiteRT's Kotlin TensorBuffer reads and writes float32, " +
            "int32 and int8 only (int16x8 artifacts need the C++ API)"
    }

    private fun checkType(spec: TensorSpec, type: TensorType) {
        val want = if (spec.dtype == "int8") TensorType.ElementType.INT8 else TensorType.ElementType.FLOAT
        check(type.elementType == want) {
            "${card.artifactFile}: the model's ${spec.name} is ${type.elementType}, the card says ${spec.dtype}"
        }
    }

    override fun write(inputs: List<FloatArray>) {
        require(inputs.size == inputBuffers.size) { "the artifact takes ${inputBuffers.size} inputs, got ${inputs.size}" }
        inputs.forEachIndexed { i, data ->
            val bytes = int8Inputs[i]
            if (bytes == null) inputBuffers[i].writeFloat(data)
            else inputBuffers[i].writeInt8(card.inputs[i].quantization!!.toInt8(data, bytes))
        }
    }

    override fun invoke() = model.run(inputBuffers, outputBuffers)

    override fun read(out: FloatArray) {
        val spec = card.outputs[0]
        val values = if (spec.dtype == "int8") spec.quantization!!.fromInt8(outputBuffers[0].readInt8())
                     else outputBuffers[0].readFloat()
        require(values.size == out.size) { "output has ${values.size} values, the card's shape ${out.size}" }
        values.copyInto(out)
    }

    override fun close() {
        inputBuffers.forEach { it.close() }
        outputBuffers.forEach { it.close() }
        model.close()
        env.close()
    }
}
