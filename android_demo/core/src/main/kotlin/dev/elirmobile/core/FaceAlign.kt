package dev.elirmobile.core

import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.min
import kotlin.math.sin
import kotlin.math.sqrt

/**
 * Whole-photo face restoration's plain geometry: a mirror of elir_mobile/faces (landmarks.five_points,
 * alignment.template / similarity / invert / compose / feather_mask, pipeline.input_size), so the app aligns a
 * face and pastes it back exactly as the Python reference does ([FaceWarp], [FacePhoto]).  The landmarks come
 * from MediaPipe Tasks' face landmarker (478 points; its first 468 are the Face Mesh topology the indices below
 * name), in pixels.
 * Points are flat (x0, y0, x1, y1, ...); a matrix is a row-major 2 x 3 affine mapping source to destination
 * pixels, on continuous pixel coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)).
 */
object FaceAlign {
    /** The FFHQ template at 512 px: eye left in the picture, the other eye, nose tip, mouth corners left, right. */
    val FFHQ_TEMPLATE_512 = doubleArrayOf(192.98, 239.95, 318.90, 240.19, 256.63, 314.02, 201.26, 371.41,
                                          313.09, 371.15)
    const val FEATHER_FRACTION = 0.1

    // Subject's right eye (left in the picture) and left eye: MediaPipe's FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE.
    val RIGHT_EYE = intArrayOf(33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
    val LEFT_EYE = intArrayOf(263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
    const val NOSE_TIP = 1
    const val MOUTH_RIGHT = 61
    const val MOUTH_LEFT = 291

    /** The five alignment points (10 values) from mesh landmarks (x, y pairs, at least 468 of them). */
    fun fivePoints(mesh: FloatArray): DoubleArray {
        require(mesh.size >= 2 * 468) { "need 468 landmarks, got ${mesh.size / 2}" }
        fun mean(indices: IntArray, axis: Int) = indices.sumOf { mesh[2 * it + axis].toDouble() } / indices.size
        fun at(i: Int, axis: Int) = mesh[2 * i + axis].toDouble()
        return doubleArrayOf(mean(RIGHT_EYE, 0), mean(RIGHT_EYE, 1), mean(LEFT_EYE, 0), mean(LEFT_EYE, 1),
                             at(NOSE_TIP, 0), at(NOSE_TIP, 1), at(MOUTH_RIGHT, 0), at(MOUTH_RIGHT, 1),
                             at(MOUTH_LEFT, 0), at(MOUTH_LEFT, 1))
    }

    fun template(size: Int): DoubleArray = DoubleArray(10) { FFHQ_TEMPLATE_512[it] * size / 512.0 }

    /** Side of the aligned crop a task's restore path takes: `sr` (prepare "upsample8") sees its face at 32 px. */
    fun inputSize(prepare: String, imageSize: Int): Int = if (prepare == "upsample8") imageSize / 8 else imageSize

    /**
     * The least-squares similarity (rotation, uniform scale, translation) taking `src` onto `dst`: in complex
     * numbers z -> a z + b with a the normalised cross-covariance of the centred points (Umeyama in 2-D).
     */
    fun similarity(src: DoubleArray, dst: DoubleArray): DoubleArray {
        require(src.size == dst.size && src.size >= 4 && src.size % 2 == 0) { "need matching point lists" }
        val n = src.size / 2
        val sx = (0 until n).sumOf { src[2 * it] } / n
        val sy = (0 until n).sumOf { src[2 * it + 1] } / n
        val dx = (0 until n).sumOf { dst[2 * it] } / n
        val dy = (0 until n).sumOf { dst[2 * it + 1] } / n
        var re = 0.0
        var im = 0.0
        var norm = 0.0
        for (i in 0 until n) {
            val zx = src[2 * i] - sx
            val zy = src[2 * i + 1] - sy
            val wx = dst[2 * i] - dx
            val wy = dst[2 * i + 1] - dy
            re += zx * wx + zy * wy  // conj(z) * w
            im += zx * wy - zy * wx
            norm += zx * zx + zy * zy
        }
        val a = re / norm
        val b = im / norm
        return doubleArrayOf(a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy))
    }

    /** The photo -> crop matrix that puts `points` on the template of a `size` x `size` crop. */
    fun alignment(points: DoubleArray, size: Int): DoubleArray = similarity(points, template(size))

    fun invert(m: DoubleArray): DoubleArray {
        val det = m[0] * m[4] - m[1] * m[3]
        val a = m[4] / det
        val b = -m[1] / det
        val c = -m[3] / det
        val d = m[0] / det
        return doubleArrayOf(a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5]))
    }

    /** Where `m` takes the point (x, y). */
    fun apply(m: DoubleArray, x: Double, y: Double): Pair<Double, Double> =
        (m[0] * x + m[1] * y + m[2]) to (m[3] * x + m[4] * y + m[5])

    /** The affine `outer` after `inner` (alignment.compose). */
    fun compose(outer: DoubleArray, inner: DoubleArray): DoubleArray = doubleArrayOf(
        outer[0] * inner[0] + outer[1] * inner[3], outer[0] * inner[1] + outer[1] * inner[4],
        outer[0] * inner[2] + outer[1] * inner[5] + outer[2],
        outer[3] * inner[0] + outer[4] * inner[3], outer[3] * inner[1] + outer[4] * inner[4],
        outer[3] * inner[2] + outer[4] * inner[5] + outer[5])

    fun scaling(fx: Double, fy: Double = fx): DoubleArray = doubleArrayOf(fx, 0.0, 0.0, 0.0, fy, 0.0)

    fun translation(dx: Double, dy: Double): DoubleArray = doubleArrayOf(1.0, 0.0, dx, 0.0, 1.0, dy)

    /** The linear scale of `m` (sqrt |det|): below 1 a warp shrinks, and must antialias. */
    fun scaleOf(m: DoubleArray): Double = sqrt(abs(m[0] * m[4] - m[1] * m[3]))

    /** 1-D paste weights: sin^2(pi/2 * d / feather), d a pixel centre's distance from the nearer edge, capped at 1. */
    fun featherRamp(size: Int, feather: Double = FEATHER_FRACTION * size): FloatArray = FloatArray(size) { i ->
        val distance = min(i + 0.5, size - i - 0.5)
        val s = sin(0.5 * PI * (distance / feather).coerceIn(0.0, 1.0))
        (s * s).toFloat()
    }

    /** The (size x size, row-major) feathered mask: the product of the row and column ramps. */
    fun featherMask(size: Int): FloatArray {
        val ramp = featherRamp(size)
        return FloatArray(size * size) { ramp[it / size] * ramp[it % size] }
    }
}
