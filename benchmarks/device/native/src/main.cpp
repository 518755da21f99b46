// elir_bench: times an ELIR ExecuTorch program and checks it against its model card's reference vectors.
//
//   elir_bench --model X.pte --card X.json [--warmup 10] [--runs 50] [--threads N] [--weight-cache on|off]
//              --out result.json
//
// Load (Module + load_method, so method init is not in the first run) and the first run are timed on their
// own, then `warmup` untimed runs, then `runs` timed runs.  Parity is the worse of the first and the last
// output against the card's expected vector.  Exit 0: record written, parity passed; 1: record written,
// parity failed; 2: bad input or runtime error, nothing written.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "card.h"
#include "parity.h"
#include "record.h"
#include "sha256.h"
#include "stats.h"
#include "system_info.h"
#include "threads.h"

#ifndef ELIR_EXECUTORCH_VERSION
#define ELIR_EXECUTORCH_VERSION "unknown"
#endif

using executorch::extension::Module;
using executorch::runtime::EValue;

namespace {

struct Args {
  std::string model, card, out;
  int warmup = 10, runs = 50, threads = 0;
  bool weight_cache = true;
  bool has_gate = false;
  double gate_db = 0;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kUsage =
    "usage: elir_bench --model X.pte --card X.json --out result.json [--warmup 10] [--runs 50] [--threads N]\n"
    "                  [--weight-cache on|off] [--gate-db DB]\n"
    "  --threads 0 (default) keeps the runtime's own choice; --gate-db overrides the card's parity gate\n"
    "  --weight-cache on (default) packs each XNNPACK weight once however many ops share it, as ExecuTorch's\n"
    "    Android and iOS builds do; off packs it once per op, as the pip wheel's default does\n";

int parse_int(const std::string& flag, const std::string& v, int lo) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > 1000000)
    throw UsageError(flag + " must be an integer >= " + std::to_string(lo) + ", got '" + v + "'");
  return static_cast<int>(n);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    const std::string v = argv[++i];
    if (flag == "--model") a.model = v;
    else if (flag == "--card") a.card = v;
    else if (flag == "--out") a.out = v;
    else if (flag == "--warmup") a.warmup = parse_int(flag, v, 0);
    else if (flag == "--runs") a.runs = parse_int(flag, v, 1);
    else if (flag == "--threads") a.threads = parse_int(flag, v, 0);
    else if (flag == "--weight-cache") {
      if (v != "on" && v != "off") throw UsageError("--weight-cache must be on or off, got '" + v + "'");
      a.weight_cache = v == "on";
    }
    else if (flag == "--gate-db") {
      char* end = nullptr;
      a.gate_db = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0') throw UsageError("--gate-db must be a number, got '" + v + "'");
      a.has_gate = true;
    } else {
      throw UsageError("unknown option " + flag);
    }
  }
  if (a.model.empty() || a.card.empty() || a.out.empty()) throw UsageError("--model, --card and --out are required");
  return a;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// ExecuTorch's registered name for each backend the exporter writes into the card.
const std::map<std::string, std::string> kBackendIds = {
    {"xnnpack", "XnnpackBackend"}, {"vulkan", "VulkanBackend"}, {"qnn", "QnnBackend"},
    {"coreml", "CoreMLBackend"},   {"mps", "MPSBackend"},       {"openvino", "OpenvinoBackend"}};

std::vector<std::string> registered_backends() {
  std::vector<std::string> names;
  const size_t n = executorch::runtime::get_num_registered_backends();
  for (size_t i = 0; i < n; ++i) {
    auto name = executorch::runtime::get_backend_name(i);
    if (name.ok()) names.emplace_back(*name);
  }
  return names;
}

std::string hex_error(executorch::runtime::Error e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(e));
  return buf;
}

// One forward pass; returns the output copied out (the runtime may reuse its buffer).
std::vector<float> run_once(Module& module, const std::vector<EValue>& inputs, size_t expected_count) {
  auto result = module.forward(inputs);
  if (!result.ok()) throw std::runtime_error("forward failed with ExecuTorch error " + hex_error(result.error()));
  const auto& outs = *result;
  if (outs.empty() || !outs[0].isTensor()) throw std::runtime_error("forward did not return a tensor");
  const auto& t = outs[0].toTensor();
  if (t.scalar_type() != executorch::aten::ScalarType::Float)
    throw std::runtime_error("output is not float32");
  if (static_cast<size_t>(t.numel()) != expected_count)
    throw std::runtime_error("output has " + std::to_string(t.numel()) + " values, the card's output shape needs " +
                             std::to_string(expected_count));
  const float* p = t.const_data_ptr<float>();
  return std::vector<float>(p, p + expected_count);
}

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp);
    f << text;
    if (!f.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot move " + tmp + " to " + path);
  }
}

// XNNPACK's weights cache: the K Euler steps' convs share each U-Net weight, and without the cache every op packs
// its own copy (full-size bfr: the U-Net's 113 MB five times).  ExecuTorch's Android and iOS build presets turn it
// on at build time; the pip wheel leaves it off, so the harness sets it either way and records which.
void set_weight_cache(bool enabled, elir::RunResult& run) {
  executorch::runtime::BackendOptions<1> options;
  options.set_option("weight_cache_enabled", enabled);
  if (auto e = executorch::runtime::set_option("XnnpackBackend", options.view()); e != executorch::runtime::Error::Ok)
    throw std::runtime_error("this ExecuTorch build cannot set XNNPACK's weight_cache_enabled (ExecuTorch error " +
                             hex_error(e) + "); run with --weight-cache off");
  run.runtime_options["weight_cache_enabled"] = enabled;
}

int bench(const Args& args) {
  const elir::Card card = elir::read_card(args.card);
  if (card.format != "pte") throw std::runtime_error(card.card_file + " describes a ." + card.format + ", not a .pte");
  // The card, not the file name, says what the model is: make sure they are the same file.
  const std::string sha = elir::sha256_file(args.model);
  if (sha != card.sha256)
    throw std::runtime_error(args.model + " does not match " + card.card_file + " (sha256 " + sha.substr(0, 12) +
                             "... vs " + card.sha256.substr(0, 12) + "...)");

  std::vector<std::vector<float>> input_data;
  for (const auto& spec : card.inputs) input_data.push_back(elir::read_f32_le(spec.path, spec.count()));
  const std::vector<float> expected = elir::read_f32_le(card.output.path, card.output.count());

  elir::RunResult run;
  run.runtime_version = ELIR_EXECUTORCH_VERSION;
  run.warmup = args.warmup;
  run.gate_db = args.has_gate ? args.gate_db : card.gate_db;
  run.accelerator_requested = card.backend;

  const auto backends = registered_backends();
  const auto id = kBackendIds.find(card.backend);
  if (id != kBackendIds.end() && std::find(backends.begin(), backends.end(), id->second) == backends.end()) {
    std::string have;
    for (const auto& b : backends) have += (have.empty() ? "" : ", ") + b;
    throw std::runtime_error("this elir_bench was built without the " + id->second + " delegate (registered: " +
                             (have.empty() ? "none" : have) + ")");
  }

  if (args.threads > 0) {
    if (!elir::thread_control_available())
      throw std::runtime_error("--threads needs an ExecuTorch build with its thread pool (ET_USE_THREADPOOL)");
    if (!elir::set_threads(static_cast<unsigned>(args.threads)))
      throw std::runtime_error("could not resize the thread pool to " + std::to_string(args.threads));
  }
  run.threads = static_cast<int>(elir::current_threads());
  if (card.backend == "xnnpack") set_weight_cache(args.weight_cache, run);

  run.thermal_before = elir::thermal_reading();

  auto t0 = std::chrono::steady_clock::now();
  Module module(args.model, Module::LoadMode::File);
  if (auto e = module.load(); e != executorch::runtime::Error::Ok)
    throw std::runtime_error("cannot load program " + args.model + ": ExecuTorch error " + hex_error(e));
  if (auto e = module.load_method("forward"); e != executorch::runtime::Error::Ok)
    throw std::runtime_error("cannot load method forward: ExecuTorch error " + hex_error(e));
  run.load_ms = ms_since(t0);

  auto meta = module.method_meta("forward");
  if (!meta.ok()) throw std::runtime_error("no method_meta for forward");
  if (meta->num_inputs() != card.inputs.size())
    throw std::runtime_error("the program takes " + std::to_string(meta->num_inputs()) + " inputs, the card lists " +
                             std::to_string(card.inputs.size()));

  std::vector<executorch::extension::TensorPtr> tensors;
  std::vector<EValue> inputs;
  for (size_t i = 0; i < card.inputs.size(); ++i) {
    std::vector<executorch::aten::SizesType> sizes(card.inputs[i].shape.begin(), card.inputs[i].shape.end());
    tensors.push_back(executorch::extension::from_blob(input_data[i].data(), sizes));
    inputs.emplace_back(tensors.back());
  }

  t0 = std::chrono::steady_clock::now();
  const std::vector<float> first = run_once(module, inputs, expected.size());
  run.first_run_ms = ms_since(t0);

  for (int i = 0; i < args.warmup; ++i) run_once(module, inputs, expected.size());
  std::vector<float> last;
  for (int i = 0; i < args.runs; ++i) {
    t0 = std::chrono::steady_clock::now();
    last = run_once(module, inputs, expected.size());
    run.samples_ms.push_back(ms_since(t0));
  }

  run.thermal_after = elir::thermal_reading();
  run.peak_mb = elir::peak_rss_mb();
  run.psnr_db = std::min(elir::psnr_db(first.data(), expected.data(), expected.size()),
                         elir::psnr_db(last.data(), expected.data(), expected.size()));
  run.max_abs_err = std::max(elir::max_abs_err(first.data(), expected.data(), expected.size()),
                             elir::max_abs_err(last.data(), expected.data(), expected.size()));

  // ExecuTorch never falls back silently: a delegate that cannot initialize fails load_method above.  What
  // the delegate did not take runs on the linked CPU kernels, which the card's MAC share quantifies.
  run.accelerator_used = card.backend;
  if (card.delegated_mac_share) run.fallback_occurred = *card.delegated_mac_share < 1.0;
  run.fallback_detail = "no runtime fallback in ExecuTorch (delegate init failure fails load_method); "
                        "ops outside the " + card.backend + " delegate run on the optimized CPU kernels";

  write_atomic(args.out, elir::make_record(card, elir::device_info(), run, elir::utc_timestamp()).dump(2) + "\n");

  const elir::Summary s = elir::summarize(run.samples_ms);
  std::printf("elir_bench %s %s/%s threads=%d load=%.1fms first=%.2fms median=%.2fms p90=%.2fms "
              "min=%.2fms trimmed=%.2fms peak=%.0fMB psnr=%.1fdB (gate %.1f) %s -> %s\n",
              card.artifact_file.c_str(), card.backend.c_str(), card.precision.c_str(), run.threads, run.load_ms,
              run.first_run_ms, s.median, s.p90, s.min, s.trimmed_mean_10_90, run.peak_mb, run.psnr_db,
              run.gate_db, run.psnr_db >= run.gate_db ? "PASS" : "FAIL", args.out.c_str());
  return run.psnr_db >= run.gate_db ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return bench(parse_args(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s (see elir_bench --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
