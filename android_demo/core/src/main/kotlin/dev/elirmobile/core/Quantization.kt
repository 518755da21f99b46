package dev.elirmobile.core

import kotlin.math.round

/**
 * An integer tensor's parameters from the card (`inputs[].quantization`): real = scale * (q - zeroPoint).  LiteRT
 * int8 artifacts take and return int8 tensors, so the app quantizes the float image / reference vectors and
 * dequantizes the output exactly as the host runner does (elir_mobile/runtimes.py to_model_dtype / to_float:
 * float32 arithmetic, round half to even, clamped to the type's range).
 */
data class Quantization(val scale: Double, val zeroPoint: Int) {
    init {
        require(scale > 0 && scale.isFinite()) { "quantization scale must be positive, not $scale" }
    }

    fun toInt8(x: FloatArray, out: ByteArray = ByteArray(x.size)): ByteArray {
        require(out.size == x.size) { "int8 buffer has ${out.size} values, the input ${x.size}" }
        val s = scale.toFloat()
        for (i in x.indices) out[i] = (round(x[i] / s) + zeroPoint).coerceIn(-128f, 127f).toInt().toByte()
        return out
    }

    fun fromInt8(q: ByteArray, out: FloatArray = FloatArray(q.size)): FloatArray {
        require(out.size == q.size) { "float buffer has ${out.size} values, the output ${q.size}" }
        val s = scale.toFloat()
        for (i in q.indices) out[i] = (q[i] - zeroPoint).toFloat() * s
        return out
    }
}
