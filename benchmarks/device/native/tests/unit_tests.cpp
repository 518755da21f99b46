// Unit tests of elir_bench's core, against the same known values as tests/test_device_stats.py and the
// Kotlin/Swift mirrors.  Exit status = number of failed checks (0 = all passed).
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
#include "json.h"
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

void test_sha256() {
  check(elir::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
  check(elir::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256('abc')");
  check(elir::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "sha256(448-bit message)");
  check(elir::sha256_hex(std::string(1000000, 'a')) ==
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "sha256(million a)");
}

void test_json() {
  using elir::json::parse;
  const auto v = parse(R"( {"a": [1, -2.5e3, 0.125, true, false, null], "s": "q\"\\\/\n\u00e9\ud83d\ude00",
                            "o": {"k": {}}, "e": []} )");
  const auto& a = v.find("a")->as_array();
  check(a.size() == 6, "json array size");
  near(a[1].as_number(), -2500, "json exponent");
  near(a[2].as_number(), 0.125, "json fraction");
  check(a[3].as_bool() && !a[4].as_bool() && a[5].is_null(), "json literals");
  check(v.find("s")->as_string() == "q\"\\/\n\xc3\xa9\xf0\x9f\x98\x80", "json escapes and surrogate pair");
  check(v.find("o")->find("k")->is_object() && v.find("e")->as_array().empty(), "json nesting");
  check(v.find("missing") == nullptr, "json find missing");
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "\"a", "\"\t\"", "[1] 2",
                          "{'a':1}", "nul", "\"\\x\"", "\"\\ud800\"", "[1 2]"})
    throws([bad] { parse(bad); }, std::string("json rejects ") + bad, "invalid JSON");
  std::string deep(300, '[');
  throws([&] { parse(deep); }, "json depth limit", "too deep");
  throws([&] { v.find("a")->as_string("card: a"); }, "json type error names the field", "card: a must be a string");
  throws([] { parse("1.5").as_integer("n"); }, "as_integer rejects fractions", "integer");
  // Round trip: what dump writes, parse reads back identically.
  elir::json::Value o = elir::json::Value::object();
  o.set("x", 0.1);
  o.set("big", 12345678901234.0);
  o.set("s", std::string("tab\tand\x01"));
  elir::json::Value arr = elir::json::Value::array();
  arr.push(1.0 / 3.0);
  arr.push(2);
  o.set("arr", arr);
  o.set("x", 0.2);  // replace keeps order and count
  const auto back = parse(elir::json::dump(o));
  check(back.members().size() == 4 && back.members()[0].first == "x", "json set replaces in place");
  near(back.find("x")->as_number(), 0.2, "json round trip 0.2", 0);
  near(back.find("big")->as_number(), 12345678901234.0, "json round trip integer", 0);
  near(back.find("arr")->as_array()[0].as_number(), 1.0 / 3.0, "json round trip 1/3", 0);
  check(back.find("s")->as_string() == "tab\tand\x01", "json round trip control chars");
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

void test_card(const std::string& dir) {
  const std::string good = R"({
    "schema_version": 1, "task": "sr", "K": 3, "sigma_s": 0.1, "noise_mode": "fixed", "image_size": 64,
    "artifact": {"file": "m.pte", "format": "pte", "backend": "xnnpack", "precision": "fp32",
                 "compression": null, "size_bytes": 1234, "sha256": "ab"},
    "parity": {"psnr_db": 120.0, "max_abs_err": 1e-6, "gate_db": 80.0, "runtime": "executorch", "passed": true},
    "op_placement": {"delegated_mac_share": 0.97},
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

  std::string missing = good;
  missing.replace(missing.find("\"precision\": \"fp32\","), 20, "");
  throws([&] { elir::read_card(write_file(dir + "/bad1.json", missing)); }, "card without precision",
         "bad1.json: artifact.precision is missing");
  std::string typed = good;
  typed.replace(typed.find("\"K\": 3"), 6, "\"K\": \"3\"");
  throws([&] { elir::read_card(write_file(dir + "/bad2.json", typed)); }, "card with K as a string",
         "K must be a number");
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
  check(!r.find("parity")->find("passed")->as_bool(), "record: psnr below the gate fails");
  near(r.find("timing")->find("warm")->find("median")->as_number(), 2, "record: warm median");
  check(r.find("thermal")->find("after")->find("temp_c")->is_null(), "record: unknown temperature is null");
  if (!out_path.empty()) write_file(out_path, elir::json::dump(r));
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
  test_sha256();
  test_json();
  test_card(templ);
  test_record(record_path);
  for (const char* f : {"m.json", "bad1.json", "bad2.json", "v.f32"}) std::remove((templ + "/" + f).c_str());
  rmdir(templ.c_str());
  std::printf("elir_bench_unit: %s\n", failures ? "FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
