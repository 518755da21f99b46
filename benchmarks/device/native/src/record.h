// Builds the schema record (benchmarks/device/result.schema.json) from a run's measurements.  Kept apart from
// the ExecuTorch code so the unit tests can check it without a model.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "card.h"
#include "system_info.h"

namespace elir {

constexpr const char* kHarnessName = "elir_bench";
constexpr const char* kHarnessVersion = "0.1.0";

struct RunResult {
  std::string runtime_version;
  int threads = 0;  // actually used
  std::map<std::string, bool> runtime_options;  // the delegate options the harness set
  std::string accelerator_requested, accelerator_used;
  std::optional<bool> fallback_occurred;
  std::string fallback_detail;
  double load_ms = 0, first_run_ms = 0;
  int warmup = 0;
  std::vector<double> samples_ms;
  double peak_mb = 0;
  ThermalReading thermal_before, thermal_after;
  double psnr_db = 0, max_abs_err = 0, gate_db = 0;
  std::string notes;
};

// Keys in the order written (ordered_json), so a record reads like the schema.
nlohmann::ordered_json make_record(const Card& card, const DeviceInfo& device, const RunResult& run,
                                   const std::string& timestamp);

}  // namespace elir
