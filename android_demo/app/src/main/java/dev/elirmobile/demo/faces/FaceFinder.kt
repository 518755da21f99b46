package dev.elirmobile.demo.faces

import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.facelandmarker.FaceLandmarker
import dev.elirmobile.core.Face
import dev.elirmobile.core.FacePhoto

/**
 * MediaPipe Tasks' face landmarker on a whole photo (IMAGE mode, up to [MAX_FACES] faces): each face's 478
 * normalized landmarks become its five alignment points in the core ([FacePhoto.fromNormalizedMesh]), the same
 * Face Mesh points the Python reference takes.  The model is the asset [MODEL] (a download, see README).  Created
 * and used on the engine thread; the activity closes it.
 */
class FaceFinder(context: Context) : AutoCloseable {
    private val landmarker = FaceLandmarker.createFromOptions(
        context,
        FaceLandmarker.FaceLandmarkerOptions.builder()
            .setBaseOptions(BaseOptions.builder().setModelAssetPath(MODEL).build())
            .setRunningMode(RunningMode.IMAGE)
            .setNumFaces(MAX_FACES)
            .build(),
    )

    /** Every face the landmarker finds in `photo` (ARGB_8888), in the photo's pixels. */
    fun find(photo: Bitmap): List<Face> {
        // Not closed: closing an MPImage recycles the Bitmap it wraps, and the photo stays on screen.
        val image = BitmapImageBuilder(photo).build()
        return landmarker.detect(image).faceLandmarks().map { landmarks ->
            val xy = FloatArray(2 * landmarks.size)
            landmarks.forEachIndexed { i, p ->
                xy[2 * i] = p.x()
                xy[2 * i + 1] = p.y()
            }
            FacePhoto.fromNormalizedMesh(xy, photo.width, photo.height)
        }
    }

    override fun close() = landmarker.close()

    companion object {
        const val MODEL = "face_landmarker.task"
        const val MAX_FACES = 10
    }
}
