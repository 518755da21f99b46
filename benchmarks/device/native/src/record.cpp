#include "record.h"

#include "stats.h"

namespace elir {

namespace {

using nlohmann::ordered_json;

template <class T>
ordered_json or_null(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json thermal_json(const ThermalReading& t) {
  return {{"state", t.state}, {"headroom", nullptr}, {"temp_c", or_null(t.temp_c)}};
}

}  // namespace

ordered_json make_record(const Card& card, const DeviceInfo& device, const RunResult& run,
                         const std::string& timestamp) {
  const Summary s = summarize(run.samples_ms);
  ordered_json r = {
      {"schema_version", 1},
      {"harness", {{"name", kHarnessName}, {"version", kHarnessVersion}}},
      {"timestamp", timestamp},
      {"artifact",
       {{"file", card.artifact_file}, {"sha256", card.sha256}, {"task", card.task}, {"precision", card.precision},
        {"backend", card.backend}, {"format", card.format}, {"compression", or_null(card.compression)},
        {"size_bytes", card.size_bytes}, {"image_size", card.image_size}, {"K", card.K},
        {"noise_mode", card.noise_mode}, {"card", card.card_file}}},
      {"device",
       {{"maker", device.maker}, {"model", device.model}, {"soc", device.soc}, {"os", device.os},
        {"os_version", device.os_version}, {"abi", device.abi}}},
      {"runtime", {{"name", "executorch"}, {"version", run.runtime_version}, {"threads", run.threads}}},
      {"accelerator",
       {{"requested", run.accelerator_requested},
        {"used", run.accelerator_used},
        {"fallback",
         {{"occurred", or_null(run.fallback_occurred)}, {"detail", run.fallback_detail},
          {"delegated_mac_share", or_null(card.delegated_mac_share)}}},
        {"op_placement", nullptr}}},
      {"timing",
       {{"load_ms", run.load_ms},
        {"first_run_ms", run.first_run_ms},
        {"warmup", run.warmup},
        {"warm",
         {{"n", s.n}, {"median", s.median}, {"p90", s.p90}, {"min", s.min}, {"max", s.max}, {"mean", s.mean},
          {"trimmed_mean_10_90", s.trimmed_mean_10_90}}},
        {"samples_ms", run.samples_ms}}},
      {"memory", {{"peak_mb", run.peak_mb}, {"metric", "max_rss"}}},
      {"thermal",
       {{"before", thermal_json(run.thermal_before)}, {"after", thermal_json(run.thermal_after)},
        {"cooldown_s", nullptr}}},
      {"parity",
       {{"psnr_db", run.psnr_db}, {"max_abs_err", run.max_abs_err}, {"gate_db", run.gate_db},
        {"passed", run.psnr_db >= run.gate_db}}},
  };
  if (!run.runtime_options.empty()) r["runtime"]["options"] = run.runtime_options;
  if (!run.notes.empty()) r["notes"] = run.notes;
  return r;
}

}  // namespace elir
