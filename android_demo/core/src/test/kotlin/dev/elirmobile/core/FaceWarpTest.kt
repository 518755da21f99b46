package dev.elirmobile.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.sin

/**
 * Warp, paste and the whole-photo steps against elir_mobile/faces (FaceWarpVectors.kt, written by
 * android_demo/core/face_warp_vectors.py from the Python reference), plus the properties the Python tests hold.
 */
class FaceWarpTest {
    // The generator's inputs, computed here the same way (float64, stored as float32).
    private fun photo(h: Int = FaceWarpVectors.PHOTO_H, w: Int = FaceWarpVectors.PHOTO_W) =
        Planar(3, h, w, FloatArray(3 * h * w) { i ->
            val c = i / (h * w)
            val y = (i / w) % h
            val x = i % w
            (0.5 + 0.45 * sin(0.37 * x + 0.23 * (c + 1) * y + c)).toFloat()
        })

    private fun crop(n: Int) = Planar(3, n, n, FloatArray(3 * n * n) { i ->
        val c = i / (n * n)
        (0.5 + 0.4 * cos(0.9 * (i % n) - 0.5 * ((i / n) % n) + 2 * c)).toFloat()
    })

    // grid_sample computes its coordinates in float32, this port in float64: a few 1e-6 apart at most.
    private val tolerance = 2e-5f

    @Test
    fun alignedCropsMatchPython() {
        for ((size, expected) in listOf(FaceWarpVectors.Up.SIZE to FaceWarpVectors.Up.aligned,
                                        FaceWarpVectors.Down.SIZE to FaceWarpVectors.Down.aligned)) {
            val m = FaceAlign.alignment(FaceWarpVectors.points, size)
            assertArrayEquals("$size px crop", expected, FaceWarp.warp(photo(), m, size, size).data, tolerance)
        }
    }

    @Test
    fun pastedCropsMatchPython() {
        for ((size, expected) in listOf(FaceWarpVectors.Up.SIZE to FaceWarpVectors.UpPasted.canvas,
                                        FaceWarpVectors.Down.SIZE to FaceWarpVectors.DownPasted.canvas)) {
            val canvas = photo()
            val mask = Planar(1, size, size, FaceAlign.featherMask(size))
            FaceWarp.paste(canvas, crop(size), FaceAlign.alignment(FaceWarpVectors.points, size), mask)
            assertArrayEquals("$size px crop", expected, canvas.data, tolerance)
        }
    }

    @Test
    fun wholeSrPhotoMatchesPython() {
        val cropSize = FaceAlign.inputSize("upsample8", 256)
        val result = FacePhoto.restore(photo(), listOf(Face(FaceWarpVectors.points, 15.0)), cropSize) { crop ->
            val input = FacePhoto.prepare(crop, "upsample8", 256)
            Planar(3, 256, 256, FloatArray(input.data.size) { 1f - input.data[it] })
        }
        assertEquals(1, result.faces)
        assertEquals(setOf("align", "restore", "paste"), result.ms.keys)
        assertArrayEquals(FaceWarpVectors.Sr.photo, result.image.data, tolerance)
    }

    /** tests/test_faces.py's low-frequency colour waves: resampling them is nearly exact. */
    private fun smoothPhoto(h: Int, w: Int) = Planar(3, h, w, FloatArray(3 * h * w) { i ->
        val y = ((i / w) % h) / 97.0
        val x = (i % w) / 89.0
        when (i / (h * w)) {
            0 -> 0.5 + 0.3 * sin(x + 0.3)
            1 -> 0.5 + 0.3 * cos(y - 0.2 * x)
            else -> 0.4 + 0.2 * sin(x + y)
        }.toFloat()
    })

    @Test
    fun identityRestorerGivesBackThePhoto() {
        // An 80 px face rotated 25 degrees, its crop reaching past the top edge, aligned to 128 px and pasted back.
        val template = FaceAlign.template(512)
        val points = DoubleArray(10)
        val a = Math.toRadians(25.0)
        for (i in 0 until 5) {
            val x = (template[2 * i] - 256) * 0.16
            val y = (template[2 * i + 1] - 256) * 0.16
            points[2 * i] = 70 + cos(a) * x - sin(a) * y
            points[2 * i + 1] = 30 + sin(a) * x + cos(a) * y
        }
        val (h, w) = 96 to 150
        val original = smoothPhoto(h, w)
        val result = FacePhoto.restore(original, listOf(Face(points, 80.0)), 128) { it }.image
        // As in the Python test: one crop pixel from the photo's border the crop saw the mirror padding's kink.
        val box = FaceAlign.invert(FaceAlign.alignment(points, 128)).let { m ->
            listOf(0.0 to 0.0, 128.0 to 0.0, 0.0 to 128.0, 128.0 to 128.0).map { (x, y) -> FaceAlign.apply(m, x, y) }
        }
        val x0 = kotlin.math.floor(box.minOf { it.first }).toInt()
        val x1 = kotlin.math.ceil(box.maxOf { it.first }).toInt()
        val y1 = kotlin.math.ceil(box.maxOf { it.second }).toInt()
        assertTrue("the crop reaches past the top edge", box.minOf { it.second } < 0)
        for (i in original.data.indices) {
            val y = (i / w) % h
            val x = i % w
            val change = abs(result.data[i] - original.data[i])
            if (x < x0 || x >= x1 || y >= y1) assertEquals("untouched outside the crop", 0f, change, 0f)
            else assertTrue("change $change at ($x, $y)", change < (if (y < 1) 2f else 1f) / 255)
        }
        assertTrue("the face was pasted", original.data.indices.any { result.data[it] != original.data[it] })
    }

    @Test
    fun facesFromNormalizedLandmarksMatchPythonFivePoints() {
        val (width, height) = 1000 to 1200
        val normalized = FloatArray(FaceAlignVectors.mesh.size) {
            FaceAlignVectors.mesh[it] / if (it % 2 == 0) width else height
        }
        val face = FacePhoto.fromNormalizedMesh(normalized, width, height)
        assertArrayEquals(FaceAlignVectors.five, face.points, 1e-3)
        val xs = (0 until 468).map { FaceAlignVectors.mesh[2 * it].toDouble() }
        assertEquals(xs.max() - xs.min(), face.width, 1e-3)
    }

    @Test
    fun smallFacesAreDroppedAndTheLargestComesFirst() {
        val faces = listOf(Face(DoubleArray(10), 40.0), Face(DoubleArray(10), 20.0), Face(DoubleArray(10), 90.0))
        assertEquals(listOf(90.0, 40.0), FacePhoto.select(faces).map { it.width })
        val none = assertThrows(NoFaceFound::class.java) { FacePhoto.select(faces, minFace = 100) }
        assertTrue(none.message!!, "100 px" in none.message!! && "Aligned crop" in none.message!!)
    }

    @Test
    fun srCropIsRepeatedEightTimesAndOtherCropsPassAsThey() {
        val small = crop(32)
        val input = FacePhoto.prepare(small, "upsample8", 256)
        assertEquals(256, input.w)
        for ((c, y, x) in listOf(Triple(0, 0, 0), Triple(1, 17, 250), Triple(2, 255, 8))) {
            assertEquals(small.data[(c * 32 + y / 8) * 32 + x / 8], input.data[(c * 256 + y) * 256 + x], 0f)
        }
        val bfr = crop(512)
        assertTrue(FacePhoto.prepare(bfr, "resize", 512) === bfr)
        assertThrows(IllegalArgumentException::class.java) { FacePhoto.prepare(small, "tile", 256) }
    }
}
