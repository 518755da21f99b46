package dev.elirmobile.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File

/**
 * The Python reference's values for these tests: tests/test_kotlin_core.py computes them with elir_mobile and
 * benchmarks.device, writes them to a JSON file and passes its path as the system property `elir.vectors`
 * (array data as raw little-endian files beside it).  Without it the tests that compare against Python fail,
 * saying so: a test that cannot see the reference must not pass.
 */
object Vectors {
    val root: JSONObject by lazy {
        val path = checkNotNull(System.getProperty("elir.vectors")) {
            "system property elir.vectors is not set: run these tests with pytest tests/test_kotlin_core.py"
        }
        JSONObject(File(path).readText())
    }

    val dir: File get() = File(System.getProperty("elir.vectors")).parentFile

    fun section(name: String): JSONObject = root.getJSONObject(name)

    /** A file the vectors name: absolute (the exported card) or beside the vectors. */
    fun file(name: String): File = File(name).takeIf { it.isAbsolute } ?: File(dir, name)

    fun f32(name: String, count: Int): FloatArray = Parity.readF32Le(file(name), count)

    fun doubles(a: JSONArray): List<Double> = (0 until a.length()).map { a.getDouble(it) }

    fun ints(a: JSONArray): List<Int> = (0 until a.length()).map { a.getInt(it) }
}
