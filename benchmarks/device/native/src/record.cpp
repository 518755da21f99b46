#include "record.h"

#include "stats.h"

namespace elir {

namespace {

json::Value thermal_json(const ThermalReading& t) {
  json::Value v = json::Value::object();
  v.set("state", t.state);
  v.set("headroom", nullptr);
  v.set("temp_c", t.temp_c ? json::Value(*t.temp_c) : json::Value(nullptr));
  return v;
}

}  // namespace

json::Value make_record(const Card& card, const DeviceInfo& device, const RunResult& run,
                        const std::string& timestamp) {
  json::Value r = json::Value::object();
  r.set("schema_version", 1);

  json::Value harness = json::Value::object();
  harness.set("name", kHarnessName);
  harness.set("version", kHarnessVersion);
  r.set("harness", harness);
  r.set("timestamp", timestamp);

  json::Value art = json::Value::object();
  art.set("file", card.artifact_file);
  art.set("sha256", card.sha256);
  art.set("task", card.task);
  art.set("precision", card.precision);
  art.set("backend", card.backend);
  art.set("format", card.format);
  art.set("compression", card.compression ? json::Value(*card.compression) : json::Value(nullptr));
  art.set("size_bytes", static_cast<long long>(card.size_bytes));
  art.set("image_size", static_cast<long long>(card.image_size));
  art.set("K", static_cast<long long>(card.K));
  art.set("noise_mode", card.noise_mode);
  art.set("card", card.card_file);
  r.set("artifact", art);

  json::Value dev = json::Value::object();
  dev.set("maker", device.maker);
  dev.set("model", device.model);
  dev.set("soc", device.soc);
  dev.set("os", device.os);
  dev.set("os_version", device.os_version);
  dev.set("abi", device.abi);
  r.set("device", dev);

  json::Value rt = json::Value::object();
  rt.set("name", "executorch");
  rt.set("version", run.runtime_version);
  rt.set("threads", run.threads);
  r.set("runtime", rt);

  json::Value acc = json::Value::object();
  acc.set("requested", run.accelerator_requested);
  acc.set("used", run.accelerator_used);
  json::Value fb = json::Value::object();
  fb.set("occurred", run.fallback_occurred ? json::Value(*run.fallback_occurred) : json::Value(nullptr));
  fb.set("detail", run.fallback_detail);
  fb.set("delegated_mac_share",
         card.delegated_mac_share ? json::Value(*card.delegated_mac_share) : json::Value(nullptr));
  acc.set("fallback", fb);
  acc.set("op_placement", nullptr);
  r.set("accelerator", acc);

  const Summary s = summarize(run.samples_ms);
  json::Value warm = json::Value::object();
  warm.set("n", static_cast<unsigned long>(s.n));
  warm.set("median", s.median);
  warm.set("p90", s.p90);
  warm.set("min", s.min);
  warm.set("max", s.max);
  warm.set("mean", s.mean);
  warm.set("trimmed_mean_10_90", s.trimmed_mean_10_90);
  json::Value samples = json::Value::array();
  for (double x : run.samples_ms) samples.push(x);
  json::Value timing = json::Value::object();
  timing.set("load_ms", run.load_ms);
  timing.set("first_run_ms", run.first_run_ms);
  timing.set("warmup", run.warmup);
  timing.set("warm", warm);
  timing.set("samples_ms", samples);
  r.set("timing", timing);

  json::Value mem = json::Value::object();
  mem.set("peak_mb", run.peak_mb);
  mem.set("metric", "max_rss");
  r.set("memory", mem);

  json::Value thermal = json::Value::object();
  thermal.set("before", thermal_json(run.thermal_before));
  thermal.set("after", thermal_json(run.thermal_after));
  thermal.set("cooldown_s", nullptr);
  r.set("thermal", thermal);

  json::Value parity = json::Value::object();
  parity.set("psnr_db", run.psnr_db);
  parity.set("max_abs_err", run.max_abs_err);
  parity.set("gate_db", run.gate_db);
  parity.set("passed", run.psnr_db >= run.gate_db);
  r.set("parity", parity);

  if (!run.notes.empty()) r.set("notes", run.notes);
  return r;
}

}  // namespace elir
