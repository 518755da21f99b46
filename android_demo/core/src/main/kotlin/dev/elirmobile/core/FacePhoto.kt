package dev.elirmobile.core

/** One face in a photo: its five alignment points and its width (the landmarks' horizontal extent), in pixels. */
class Face(val points: DoubleArray, val width: Double)

/** The photo has no face the detector sees at the asked size; the message says what to do instead. */
class NoFaceFound(val minFace: Int) : Exception(
    "No face found (looked for faces at least $minFace px wide). To restore an aligned face crop as it is, " +
        "turn on \"Aligned crop\".")

/**
 * Whole-photo face restoration after the detector, the steps of elir_mobile/faces/pipeline.py: keep the faces at
 * least [MIN_FACE] px wide, largest first; align each to the task's crop ([FaceAlign.inputSize]: sr sees its face
 * at 32 px, as in training); restore it; paste every restored crop back under the feathered mask, the largest last
 * so it is on top where faces overlap.  The landmarks come from the app (MediaPipe Tasks on Android).
 */
object FacePhoto {
    /** The released models trained on aligned faces; bsr restores general images and has no face step. */
    val FACE_TASKS = setOf("bfr", "sr", "denoising", "inpainting")
    const val MIN_FACE = 32  // `restore --min-face`'s default
    private const val MESH_POINTS = 468  // Face Mesh topology; the face landmarker adds 10 iris points after it

    /** A face from MediaPipe face-landmarker landmarks, normalized (x, y) pairs in [0, 1] of the image. */
    fun fromNormalizedMesh(xy: FloatArray, width: Int, height: Int): Face {
        val px = FloatArray(xy.size) { xy[it] * if (it % 2 == 0) width else height }
        val xs = (0 until MESH_POINTS).map { px[2 * it] }
        return Face(FaceAlign.fivePoints(px), (xs.max() - xs.min()).toDouble())
    }

    /** The faces to restore (pipeline.find_faces): at least `minFace` px wide, largest first; none throws. */
    fun select(faces: List<Face>, minFace: Int = MIN_FACE): List<Face> =
        faces.filter { it.width >= minFace }.sortedByDescending { it.width }.ifEmpty { throw NoFaceFound(minFace) }

    /** The `size` x `size` aligned crop of `face` and its photo -> crop matrix (alignment.align). */
    fun align(photo: Planar, face: Face, size: Int): Pair<Planar, DoubleArray> {
        val m = FaceAlign.alignment(face.points, size)
        return FaceWarp.warp(photo, m, size, size) to m
    }

    /**
     * The model's input from an aligned crop (restoration.prepare_input): sr's 32 px face repeated x8 (its
     * nearest-exact upsampling); the other face tasks' crops already are the model's size.
     */
    fun prepare(crop: Planar, prepare: String, imageSize: Int): Planar {
        val factor = if (prepare == "upsample8") 8 else 1
        require(crop.h * factor == imageSize && crop.w * factor == imageSize) {
            "a ${crop.w} px crop is not the $prepare input of a $imageSize px model"
        }
        if (factor == 1) return crop
        val n = imageSize
        return Planar(crop.c, n, n, FloatArray(crop.c * n * n) { i ->
            val ch = i / (n * n)
            crop.data[(ch * crop.h + (i / n) % n / factor) * crop.w + i % n / factor]
        })
    }

    /** The photo with its faces restored; `ms`: align, restore, paste, each over all faces. */
    class PhotoResult(val image: Planar, val faces: Int, val ms: Map<String, Double>)

    /**
     * `photo` with every face in `faces` aligned to a `cropSize` crop, restored by `restoreFace` (aligned crop in,
     * restored square crop of any size out) and pasted back at the restored crop's resolution.
     */
    fun restore(photo: Planar, faces: List<Face>, cropSize: Int, restoreFace: (Planar) -> Planar): PhotoResult {
        var start = System.nanoTime()
        fun lap(): Double = System.nanoTime().let { now -> ((now - start) / 1e6).also { start = now } }
        val aligned = faces.map { align(photo, it, cropSize) }
        val alignMs = lap()
        val restored = aligned.map { (crop, _) -> restoreFace(crop) }
        val restoreMs = lap()
        val canvas = Planar(photo.c, photo.h, photo.w, FloatArray(photo.data.size) { photo.data[it].coerceIn(0f, 1f) })
        for (i in faces.indices.reversed()) {
            val (crop, m) = aligned[i]
            val out = restored[i]
            val toCrop = FaceAlign.compose(FaceAlign.scaling(out.w.toDouble() / crop.w), m)
            FaceWarp.paste(canvas, out, toCrop, Planar(1, out.h, out.w, FaceAlign.featherMask(out.w)))
        }
        return PhotoResult(canvas, faces.size, mapOf("align" to alignMs, "restore" to restoreMs, "paste" to lap()))
    }
}
