package dev.elirmobile.core

/**
 * Whole-photo restoration with a fixed-size artifact, as elir_mobile/restoration.py restore_image does it: the
 * task's input preparation (done on the bitmap by the app, see [prepareMode]), then blended overlapping tiles of
 * the artifact's size.  A noise-input artifact gets, per tile, its window of the one latent field [Noise] draws for
 * the padded image from `seed`: the field the desktop restore draws, so overlapping tiles share it.  A fixed-noise
 * artifact has one baked tile of noise and repeats it in every tile ([repeatsBakedNoise]).  `run` is one artifact
 * call on the card's inputs (float values in the card's layouts).
 */
class Restorer(private val card: ModelCard, private val run: (List<FloatArray>) -> FloatArray) {
    private val tile = card.imageSize
    private val noise: TensorSpec? = card.inputs.getOrNull(1)

    init {
        val expected = if (card.noiseMode == "input") 2 else 1
        require(card.inputs.size == expected) {
            "${card.cardFile.name}: noise_mode ${card.noiseMode} needs $expected inputs, the card lists ${card.inputs.size}"
        }
    }

    /** Model calls for an (h, w) image. */
    fun tiles(h: Int, w: Int): Int = Tiling.tileCount(h, w, tile)

    /** True when a fixed-noise artifact will repeat its one baked noise tile across several tiles. */
    fun repeatsBakedNoise(h: Int, w: Int): Boolean = card.noiseMode == "fixed" && tiles(h, w) > 1

    /**
     * `image`: planar CHW float in [0, 1] of (h, w); returns the restored CHW image.  `onTile(done, total)` runs
     * after each tile (progress; throw from it to cancel).
     */
    fun restore(image: FloatArray, h: Int, w: Int, seed: Long = 0,
                onTile: (Int, Int) -> Unit = { _, _ -> }): FloatArray {
        val total = tiles(h, w)
        val (ph, pw) = Tiling.paddedSize(h, w, tile)
        val s = Tiling.LATENT_STRIDE
        val imageNhwc = card.inputs[0].layout == "NHWC"
        val outputNhwc = card.outputs[0].layout == "NHWC"
        var done = 0
        return Tiling.runTiled(image, h, w, tile) { crop, y0, x0 ->
            val inputs = mutableListOf(if (imageNhwc) Layout.chwToHwc(crop, 3, tile, tile) else crop.copyOf())
            noise?.let {
                val t = tile / s
                val window = Noise.window(seed, card.sigmaS, it.channels, ph / s, pw / s, y0 / s, x0 / s, t)
                inputs.add(if (it.layout == "NHWC") Layout.chwToHwc(window, it.channels, t, t) else window)
            }
            val out = run(inputs)
            val chw = if (outputNhwc) Layout.hwcToChw(out, 3, tile, tile) else out
            onTile(++done, total)
            FloatArray(chw.size) { chw[it].coerceIn(0f, 1f) }
        }
    }

    companion object {
        /** elir_mobile.tasks Task.prepare per task name: what the photo goes through before tiling. */
        val PREPARE = mapOf("bfr" to "resize", "sr" to "upsample8", "bsr" to "upsample4",
                            "denoising" to "tile", "inpainting" to "tile")

        fun prepareMode(task: String): String = PREPARE[task] ?: "tile"

        /** The demo's cap on the prepared image (the model's input after [prepareMode]): 4 MP, about 100 tiles. */
        const val MAX_PREPARED_PIXELS = 4_000_000L

        /** (width, height) scaled down, keeping the aspect, to at most `maxPixels` pixels; never up. */
        fun capped(width: Int, height: Int, maxPixels: Long = MAX_PREPARED_PIXELS): Pair<Int, Int> {
            require(width > 0 && height > 0) { "empty image ($width x $height)" }
            if (width.toLong() * height <= maxPixels) return width to height
            val scale = kotlin.math.sqrt(maxPixels.toDouble() / (width.toLong() * height))
            return maxOf(1, (width * scale).toInt()) to maxOf(1, (height * scale).toInt())
        }

        /**
         * The size a (width, height) photo may have before `task`'s preparation so that the prepared image has at
         * most `maxPixels` pixels: bsr grows each side x4 (a 12 MP photo would become 192 MP), the others keep it.
         */
        fun decodeSize(task: String, width: Int, height: Int, maxPixels: Long = MAX_PREPARED_PIXELS): Pair<Int, Int> {
            val growth = if (prepareMode(task) == "upsample4") 4 else 1
            return capped(width, height, maxPixels / (growth * growth))
        }
    }
}
