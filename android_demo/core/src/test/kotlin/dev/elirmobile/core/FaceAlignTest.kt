package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** Face alignment against elir_mobile/faces' values (FaceAlignVectors.kt, generated from the Python reference). */
class FaceAlignTest {
    @Test
    fun similarityMatrixAndInverseMatchPython() {
        for (case in FaceAlignVectors.alignments) {
            val m = FaceAlign.alignment(case.points, case.size)
            assertArrayEquals("size ${case.size}", case.matrix, m, 1e-9)
            assertArrayEquals("size ${case.size}", case.inverse, FaceAlign.invert(m), 1e-7)
        }
    }

    @Test
    fun alignedPointsLandOnTheTemplateWhenTheFaceIsAnExactSimilarity() {
        val m = doubleArrayOf(0.3, -0.1, 50.0, 0.1, 0.3, 20.0)
        val template = FaceAlign.template(256)
        val photo = DoubleArray(10)
        for (i in 0 until 5) {
            val (x, y) = FaceAlign.apply(m, template[2 * i], template[2 * i + 1])
            photo[2 * i] = x
            photo[2 * i + 1] = y
        }
        val aligned = FaceAlign.alignment(photo, 256)
        for (i in 0 until 5) {
            val (x, y) = FaceAlign.apply(aligned, photo[2 * i], photo[2 * i + 1])
            assertEquals(template[2 * i], x, 1e-9)
            assertEquals(template[2 * i + 1], y, 1e-9)
        }
    }

    @Test
    fun fivePointsFromTheMeshMatchPython() {
        assertArrayEquals(FaceAlignVectors.five, FaceAlign.fivePoints(FaceAlignVectors.mesh), 1e-3)
    }

    @Test
    fun featheredMaskMatchesPython() {
        for (case in FaceAlignVectors.masks) {
            val mask = FaceAlign.featherMask(case.size)
            val n = case.size
            val row = FloatArray(n) { mask[(n / 3) * n + it] }
            val diagonal = FloatArray(n) { mask[it * n + it] }
            // Python evaluates the ramp in float32, Kotlin in float64 rounded once.
            assertArrayEquals("size $n", case.row, row, 1e-6f)
            assertArrayEquals("size $n", case.diagonal, diagonal, 1e-6f)
        }
    }

    @Test
    fun cropSizeFollowsTheTask() {
        for ((task, expected) in FaceAlignVectors.inputSizes) {
            assertEquals(task, expected.third, FaceAlign.inputSize(expected.first, expected.second))
        }
    }
}
