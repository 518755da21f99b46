package dev.elirmobile.demo.core

import java.util.Random

/**
 * Whole-photo restoration with a fixed-size artifact, as elir_mobile/restoration.py does it: the task's input
 * preparation (done on the Bitmap by the caller, see [prepareMode]), then blended overlapping tiles of the
 * artifact's size.  For noise-input artifacts one latent noise field is drawn for the padded image and sliced per
 * tile, so overlapping tiles share it.  `run` is one artifact call on the card's inputs.
 */
class Restorer(private val card: ModelCard, private val run: (List<FloatArray>) -> FloatArray) {

    private val nhwc = card.inputs.first().layout == "NHWC"

    /** `image`: planar CHW float in [0, 1] of (h, w). Returns the restored CHW image. */
    fun restore(image: FloatArray, h: Int, w: Int, seed: Long = 0): FloatArray {
        val tile = card.imageSize
        val noise = if (card.inputs.size > 1) LatentNoise(card, h, w, seed) else null
        return Tiling.runTiled(image, h, w, tile) { crop, y0, x0 ->
            val inputs = mutableListOf(if (nhwc) chwToHwc(crop, 3, tile, tile) else crop)
            if (noise != null) inputs.add(noise.slice(y0, x0, nhwc))
            val out = run(inputs)
            val chw = if (nhwc) hwcToChw(out, 3, tile, tile) else out
            FloatArray(chw.size) { chw[it].coerceIn(0f, 1f) }
        }
    }

    private class LatentNoise(card: ModelCard, h: Int, w: Int, seed: Long) {
        private val tileLatent = card.imageSize / Tiling.LATENT_STRIDE
        private val spec = card.inputs[1]
        private val channels = (if (spec.layout == "NHWC") spec.shape[3] else spec.shape[1]).toInt()
        private val lh: Int
        private val lw: Int
        private val field: FloatArray

        init {
            val (ph, pw) = Tiling.paddedSize(h, w, card.imageSize)
            lh = ph / Tiling.LATENT_STRIDE
            lw = pw / Tiling.LATENT_STRIDE
            val rng = Random(seed)
            field = FloatArray(channels * lh * lw) { (card.sigmaS * rng.nextGaussian()).toFloat() }
        }

        fun slice(y0: Int, x0: Int, nhwc: Boolean): FloatArray {
            val t = tileLatent
            val ly = y0 / Tiling.LATENT_STRIDE
            val lx = x0 / Tiling.LATENT_STRIDE
            val chw = FloatArray(channels * t * t)
            for (c in 0 until channels) for (y in 0 until t)
                System.arraycopy(field, (c * lh + ly + y) * lw + lx, chw, (c * t + y) * t, t)
            return if (nhwc) chwToHwc(chw, channels, t, t) else chw
        }
    }

    companion object {
        /** elir_mobile.tasks Task.prepare per task name: what the photo goes through before tiling. */
        val PREPARE = mapOf("bfr" to "resize", "sr" to "upsample8", "bsr" to "upsample4",
                            "denoising" to "tile", "inpainting" to "tile")

        fun prepareMode(task: String): String = PREPARE[task] ?: "tile"

        fun chwToHwc(x: FloatArray, c: Int, h: Int, w: Int): FloatArray {
            val out = FloatArray(x.size)
            for (ci in 0 until c) for (y in 0 until h) for (xi in 0 until w) out[(y * w + xi) * c + ci] = x[(ci * h + y) * w + xi]
            return out
        }

        fun hwcToChw(x: FloatArray, c: Int, h: Int, w: Int): FloatArray {
            val out = FloatArray(x.size)
            for (ci in 0 until c) for (y in 0 until h) for (xi in 0 until w) out[(ci * h + y) * w + xi] = x[(y * w + xi) * c + ci]
            return out
        }
    }
}
