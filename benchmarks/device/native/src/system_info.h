// What a record says about the machine: identity, peak memory, thermal state.  Android (bionic) and desktop
// Linux are both handled; anything unreadable is reported as "unknown"/null rather than guessed.
#pragma once

#include <optional>
#include <string>

namespace elir {

struct DeviceInfo {
  std::string maker, model, soc, os, os_version, abi;
};

struct ThermalReading {
  std::string state;             // "unknown" from a native process: only the app sees PowerManager's status
  std::optional<double> temp_c;  // hottest readable /sys/class/thermal zone
};

DeviceInfo device_info();
ThermalReading thermal_reading();
// Peak resident set size of this process in MB (getrusage ru_maxrss).
double peak_rss_mb();
// UTC now as 2026-01-31T12:34:56Z.
std::string utc_timestamp();

}  // namespace elir
