package dev.elirmobile.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.abs
import kotlin.math.log10
import kotlin.math.min
import kotlin.math.pow

/** Parity against the export pipeline's reference vectors: a mirror of benchmarks/device/parity.py. */
object Parity {
    const val PSNR_CAP_DB = 200.0

    /** PSNR (dB, data range 1) of both arrays clamped to [0, 1]; capped at [PSNR_CAP_DB] for identical ones. */
    fun psnrDb(output: FloatArray, expected: FloatArray): Double {
        require(output.size == expected.size) { "output has ${output.size} values, the reference has ${expected.size}" }
        var sum = 0.0
        for (i in output.indices) {
            val a = output[i].toDouble().coerceIn(0.0, 1.0)
            val b = expected[i].toDouble().coerceIn(0.0, 1.0)
            sum += (a - b) * (a - b)
        }
        val mse = sum / output.size
        if (mse <= 10.0.pow(-PSNR_CAP_DB / 10.0)) return PSNR_CAP_DB
        return min(PSNR_CAP_DB, -10.0 * log10(mse))
    }

    /** Largest |output - expected| on the raw, unclamped values. */
    fun maxAbsErr(output: FloatArray, expected: FloatArray): Double {
        require(output.size == expected.size) { "output has ${output.size} values, the reference has ${expected.size}" }
        var m = 0.0
        for (i in output.indices) m = maxOf(m, abs(output[i].toDouble() - expected[i].toDouble()))
        return m
    }

    /** Raw little-endian float32 holding exactly `count` values. */
    fun readF32Le(file: File, count: Int): FloatArray {
        require(file.isFile) { "reference vector not found: $file" }
        val bytes = file.readBytes()
        require(bytes.size == count * 4) {
            "${file.name}: ${bytes.size / 4} float32 values, the card's shape needs $count"
        }
        val out = FloatArray(count)
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out)
        return out
    }
}
