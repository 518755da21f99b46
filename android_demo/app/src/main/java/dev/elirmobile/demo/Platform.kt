package dev.elirmobile.demo

import android.content.Context
import android.os.Build
import android.os.Debug
import android.os.PowerManager
import dev.elirmobile.core.DeviceDescription
import dev.elirmobile.core.ThermalState

/** Device identity, PowerManager thermal state and PSS: the Android side of a record. */
object Platform {
    fun device(): DeviceDescription {
        val soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}".trim()
        } else {
            Build.HARDWARE
        }
        return DeviceDescription(
            maker = Build.MANUFACTURER.ifBlank { "unknown" },
            model = Build.MODEL.ifBlank { "unknown" },
            soc = soc.ifBlank { "unknown" },
            os = "Android",
            osVersion = "${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
            abi = Build.SUPPORTED_ABIS.firstOrNull(),
        )
    }

    private val STATUS_NAMES = mapOf(
        0 to "NONE", 1 to "LIGHT", 2 to "MODERATE", 3 to "SEVERE", 4 to "CRITICAL", 5 to "EMERGENCY", 6 to "SHUTDOWN",
    )

    /** THERMAL_STATUS_* (API 29+) and the headroom forecast (API 30+; 1.0 = throttling threshold). */
    fun thermal(context: Context): ThermalState {
        val pm = context.getSystemService(PowerManager::class.java)
        val state = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            STATUS_NAMES[pm.currentThermalStatus] ?: "UNKNOWN_${pm.currentThermalStatus}"
        } else {
            "unknown"
        }
        val headroom = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
            pm.getThermalHeadroom(0).toDouble().takeIf { it.isFinite() }
        } else {
            null
        }
        return ThermalState(state, headroom)
    }

    /** Current PSS of this process in MB (Debug.getPss reports KB); the runner keeps the max it samples. */
    fun pssMb(): Double = Debug.getPss() / 1024.0
}
