import Foundation
#if canImport(UIKit)
import UIKit
#endif

/// Device identity, thermal state and peak physical footprint: the iOS side of a record.
public enum Platform {
    /// Hardware identifier (e.g. "iPhone16,1"); Apple publishes no SoC name API, so the SoC is looked up from a
    /// small table and otherwise reported as "Apple (<identifier>)".
    public static func machine() -> String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static let socs: [String: String] = [
        "iPhone14,2": "A15 Bionic", "iPhone14,3": "A15 Bionic", "iPhone14,5": "A15 Bionic", "iPhone14,7": "A15 Bionic",
        "iPhone15,2": "A16 Bionic", "iPhone15,3": "A16 Bionic", "iPhone15,4": "A16 Bionic", "iPhone15,5": "A16 Bionic",
        "iPhone16,1": "A17 Pro", "iPhone16,2": "A17 Pro", "iPhone17,1": "A18 Pro", "iPhone17,2": "A18 Pro",
        "iPhone17,3": "A18", "iPhone17,4": "A18",
    ]

    public static func device() -> DeviceDescription {
        let id = machine()
        #if canImport(UIKit)
        let os = UIDevice.current.userInterfaceIdiom == .pad ? "iPadOS" : "iOS"
        #else
        let os = "macOS"
        #endif
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return DeviceDescription(maker: "Apple", model: id, soc: socs[id] ?? "Apple (\(id))", os: os,
                                 osVersion: "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)", abi: "arm64")
    }

    public static func thermal() -> ThermalReading {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return ThermalReading(state: "nominal")
        case .fair: return ThermalReading(state: "fair")
        case .serious: return ThermalReading(state: "serious")
        case .critical: return ThermalReading(state: "critical")
        @unknown default: return ThermalReading(state: "unknown")
        }
    }

    /// Peak physical footprint of this process in MB (task_vm_info ledger_phys_footprint_peak).
    public static func peakFootprintMb() -> Double? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let kr = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard kr == KERN_SUCCESS else { return nil }
        return Double(info.ledger_phys_footprint_peak) / 1_048_576
    }
}
