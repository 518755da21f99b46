// Unit tests of elir_bench's core, against the same known values as tests/test_device_stats.py and the
// Kotlin/Swift mirrors.  Exit status 1 when any check failed.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "card.h"
#include "parity.h"
#include "record.h"
#include "sha256.h"
#include "stats.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

void near(double got, double want, const std::string& what, double tol = 1e-9) {
  check(std::fabs(got - want) <= tol, what + ": got " + std::to_string(got) + ", want " + std::to_string(want));
}

template <class F>
void throws(F f, const std::string& what, const std::string& needle = "") {
  try {
    f();
  } catch (const std::exception& e) {
    check(needle.empty() || std::string(e.what()).find(needle) != std::string::npos,
          what + ": message '" + e.what() + "' lacks '" + needle + "'");
    return;
  }
  check(false, what + ": did not throw");
}

struct Known {
  std::vector<double> xs;
  double median, p90, min, max, mean, trimmed;
};

void test_stats() {
  std::vector<double> f;
  for (int i = 1; i <= 49; ++i) f.push_back(i);
  f.push_back(500);
  std::vector<double> e;
  for (int i = 1; i <= 19; ++i) e.push_back(i);
  e.push_back(1000);
  const std::vector<Known> cases = {
      {{7.5}, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5},
      {{5, 1, 4, 2, 3}, 3, 4.6, 1, 5, 3, 3},
      {{3, 1, 2, 100, 4, 5, 6, 7, 8, 9}, 5.5, 18.1, 1, 100, 14.5, 5.5},
      {e, 10.5, 18.1, 1, 1000, 59.5, 10.5},
      {f, 25.5, 45.1, 1, 500, 34.5, 25.5},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const elir::Summary s = elir::summarize(c.xs);
    const std::string id = "stats case " + std::to_string(i);
    check(s.n == c.xs.size(), id + " n");
    near(s.median, c.median, id + " median");
    near(s.p90, c.p90, id + " p90");
    near(s.min, c.min, id + " min");
    near(s.max, c.max, id + " max");
    near(s.mean, c.mean, id + " mean");
    near(s.trimmed_mean_10_90, c.trimmed, id + " trimmed_mean_10_90");
  }
  throws([] { elir::summarize({}); }, "summarize(empty)", "no timed runs");
  throws([] { elir::summarize({1.0, -2.0}); }, "summarize(negative)", "non-negative");
}

void test_parity() {
  const std::vector<float> half(12, 0.5f), three_q(12, 0.75f);
  near(elir::psnr_db(half.data(), three_q.data(), 12), -10 * std::log10(0.0625), "psnr 0.5 vs 0.75");
  near(elir::max_abs_err(half.data(), three_q.data(), 12), 0.25, "max_abs_err 0.5 vs 0.75");
  const std::vector<float> over = {1.5f, -0.25f}, clamped = {1.0f, 0.0f};
  near(elir::psnr_db(over.data(), clamped.data(), 2), elir::kPsnrCapDb, "psnr clamps to [0,1] then caps");
  near(elir::max_abs_err(over.data(), clamped.data(), 2), 0.5, "max_abs_err is on raw values");
  const std::vector<float> a = {0.f, 0.f, 0.f, 0.f}, b = {0.1f, 0.f, 0.f, 0.f};
  near(elir::psnr_db(a.data(), b.data(), 4), -10 * std::log10(double(0.1f) * double(0.1f) / 4), "psnr one pixel");
}

std::string write_file(const std::string& path, const std::string& text);

void test_sha256(const std::string& dir) {
  check(elir::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
  check(elir::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256('abc')");
  check(elir::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "sha256(448-bit message)");
  check(elir::sha256_hex(std::string(1000000, 'a')) ==
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "sha256(million a)");
  // Files are read in 1 MiB chunks: a file over one chunk digests like the string it holds.
  const std::string big(3 * (1 << 20) / 2, 'x');
  check(elir::sha256_file(write_file(dir + "/big.bin", big)) == elir::sha256_hex(big), "sha256_file over two chunks");
  throws([&] { elir::sha256_file(dir + "/nope.bin"); }, "sha256_file of a missing file", "cannot read");
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

void test_card(const std::string& dir) {
  const std::string good = R"({
    "schema_version": 2, "task": "sr", "K": 3, "sigma_s": 0.1, "noise_mode": "fixed", "image_size": 64,
    "artifact": {"file": "m.pte", "format": "pte", "backend": "xnnpack", "precision": "fp32",
                 "compression": null, "size_bytes": 1234, "sha256": "ab"},
    "parity": {"gate_db": 80.0, "passed": true},
    "placement": {"measure": "delegated_mac_share", "definition": "MACs in the delegate", "share": 0.97},
    "reference_vectors": {"dtype": "float32", "byte_order": "little",
      "inputs": [{"file": "m.input0.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}],
      "output": {"file": "m.expected.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}}})";
  const elir::Card c = elir::read_card(write_file(dir + "/m.json", good));
  check(c.task == "sr" && c.K == 3 && c.image_size == 64 && c.noise_mode == "fixed", "card top-level fields");
  check(c.artifact_file == "m.pte" && c.backend == "xnnpack" && c.precision == "fp32" && c.size_bytes == 1234 &&
            !c.compression,
        "card artifact fields");
  near(c.gate_db, 80.0, "card gate");
  check(c.delegated_mac_share && std::fabs(*c.delegated_mac_share - 0.97) < 1e-12, "card MAC share");
  check(c.inputs.size() == 1 && c.inputs[0].path == dir + "/m.input0.f32" && c.inputs[0].count() == 12288,
        "card vectors resolve beside the card");
  check(c.card_file == "m.json", "card file name");

  auto variant = [&](const std::string& file, const std::string& from, const std::string& to) {
    std::string text = good;
    text.replace(text.find(from), from.size(), to);
    return write_file(dir + "/" + file, text);
  };
  throws([&] { elir::read_card(variant("bad1.json", "\"precision\": \"fp32\",", "")); }, "card without precision",
         "bad1.json: artifact.precision is missing");
  throws([&] { elir::read_card(variant("bad2.json", "\"K\": 3", "\"K\": \"3\"")); }, "card with K as a string",
         "K must be an integer");
  throws([&] { elir::read_card(variant("bad3.json", "\"schema_version\": 2", "\"schema_version\": 1")); },
         "card of another schema version", "bad3.json: card schema_version 1, elir_bench reads 2");
  throws([&] { elir::read_card(variant("bad4.json", "\"K\": 3,", "\"K\": 3")); }, "malformed card",
         "bad4.json: not JSON");
  const elir::Card lite = elir::read_card(variant("lite.json", "\"delegated_mac_share\"", "\"gpu_delegate_mac_share\""));
  check(!lite.delegated_mac_share, "another target's placement share is not a delegated MAC share");
  throws([&] { elir::read_card(dir + "/nope.json"); }, "missing card", "cannot read model card");

  // Little-endian float32 vectors, exact size.
  const float vals[3] = {0.5f, -1.25f, 3.0f};
  std::string raw;
  for (float f : vals) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) raw += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  const auto got = elir::read_f32_le(write_file(dir + "/v.f32", raw), 3);
  check(got.size() == 3 && got[0] == 0.5f && got[1] == -1.25f && got[2] == 3.0f, "read_f32_le values");
  throws([&] { elir::read_f32_le(dir + "/v.f32", 4); }, "read_f32_le size check", "the card's shape needs 4");
}

void test_record(const std::string& out_path) {
  elir::Card card;
  card.card_file = "m.json";
  card.task = "sr";
  card.noise_mode = "fixed";
  card.artifact_file = "m.pte";
  card.format = "pte";
  card.backend = "xnnpack";
  card.precision = "fp32";
  card.sha256 = std::string(64, 'a');
  card.size_bytes = 1234;
  card.image_size = 64;
  card.K = 3;
  elir::RunResult run;
  run.runtime_version = "1.5.1";
  run.threads = 2;
  run.accelerator_requested = run.accelerator_used = "xnnpack";
  run.fallback_detail = "none";
  run.load_ms = 10;
  run.first_run_ms = 5;
  run.warmup = 1;
  run.samples_ms = {3, 1, 2};
  run.peak_mb = 100;
  run.thermal_before = {"unknown", 40.0};
  run.thermal_after = {"unknown", std::nullopt};
  run.psnr_db = 79.9;
  run.gate_db = 80;
  const auto r = elir::make_record(card, {"m", "n", "s", "Linux", "6.1", "x86_64"}, run, "2026-01-01T00:00:00Z");
  check(!r["parity"]["passed"].get<bool>(), "record: psnr below the gate fails");
  near(r["timing"]["warm"]["median"].get<double>(), 2, "record: warm median");
  check(r["thermal"]["after"]["temp_c"].is_null(), "record: unknown temperature is null");
  check(r.begin().key() == "schema_version", "record: keys in the order written");
  if (!out_path.empty()) write_file(out_path, r.dump(2));
}

}  // namespace

int main(int argc, char** argv) {
  // elir_bench_unit [--write-record PATH]: PATH receives the sample record for the Python schema check.
  std::string record_path;
  if (argc == 3 && std::string(argv[1]) == "--write-record") record_path = argv[2];
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/elir_unit_XXXXXX";
  if (!mkdtemp(templ.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  test_stats();
  test_parity();
  test_sha256(templ);
  test_card(templ);
  test_record(record_path);
  for (const char* f : {"m.json", "bad1.json", "bad2.json", "bad3.json", "bad4.json", "lite.json", "v.f32", "big.bin"})
    std::remove((templ + "/" + f).c_str());
  rmdir(templ.c_str());
  std::printf("elir_bench_unit: %s\n", failures ? "FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
