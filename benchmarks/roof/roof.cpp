// elir_roof: peak fp32 multiply-accumulate and int8 dot-product throughput of this CPU on N threads.
//
// Each kernel runs independent accumulator chains (more chains than the FMA latency x issue width, so the
// units never wait on a result) over register-resident data: what the CPU can retire, with no memory traffic.
// That is the roof a convolution runtime is measured against.  The widest kernel the CPU supports is chosen
// at run time (x86-64: AVX-512F / AVX2+FMA for fp32; AVX-512 VNNI / AVX-VNNI / AVX2 for int8; arm64: NEON
// fmla, sdot with dotprod).  Output: one JSON object on stdout.
//
//   elir_roof [--threads N] [--seconds S]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif
#endif

namespace {

// One call does `iters` rounds of every accumulator chain and adds a value that depends on every accumulator to
// `checksum` (printed), so the compiler cannot drop the work.
using Kernel = void (*)(int64_t iters, double* checksum);

struct Choice {
  const char* name;
  Kernel kernel;
  int64_t macs_per_iter;
};

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void fp32_avx512(int64_t iters, double* sum) {
  __m512 a[12];
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  for (auto& v : a) v = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm512_fmadd_ps(v, x, y);
  __m512 t = a[0];
  for (int k = 1; k < 12; ++k) t = _mm512_add_ps(t, a[k]);
  *sum += _mm512_reduce_add_ps(t);
}

__attribute__((target("avx2,fma"))) void fp32_avx2(int64_t iters, double* sum) {
  __m256 a[12];
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
  for (auto& v : a) v = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_fmadd_ps(v, x, y);
  __m256 t = a[0];
  for (int k = 1; k < 12; ++k) t = _mm256_add_ps(t, a[k]);
  float out[8];
  _mm256_storeu_ps(out, t);
  for (float f : out) *sum += f;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8_avx512_vnni(int64_t iters, double* sum) {
  __m512i a[12];
  const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
  for (auto& v : a) v = _mm512_setzero_si512();
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm512_dpbusd_epi32(v, u, s);
  __m512i t = a[0];
  for (int k = 1; k < 12; ++k) t = _mm512_add_epi32(t, a[k]);
  *sum += _mm512_reduce_add_epi32(t);
}

__attribute__((target("avx2,avxvnni"))) void int8_avx_vnni(int64_t iters, double* sum) {
  __m256i a[12];
  const __m256i u = _mm256_set1_epi8(1), s = _mm256_set1_epi8(-1);
  for (auto& v : a) v = _mm256_setzero_si256();
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_dpbusd_avx_epi32(v, u, s);
  __m256i t = a[0];
  for (int k = 1; k < 12; ++k) t = _mm256_add_epi32(t, a[k]);
  int32_t out[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), t);
  for (int32_t v : out) *sum += v;
}

// AVX2 without VNNI: u8 x s8 pairs into s16 (vpmaddubsw), then s16 pairs into s32 (vpmaddwd) and an add, the
// sequence int8 GEMM kernels use there; 32 MACs per vpmaddubsw lane group.
__attribute__((target("avx2"))) void int8_avx2(int64_t iters, double* sum) {
  __m256i a[8];
  const __m256i u = _mm256_set1_epi8(1), s = _mm256_set1_epi8(-1), ones = _mm256_set1_epi16(1);
  for (auto& v : a) v = _mm256_setzero_si256();
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = _mm256_add_epi32(v, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
  __m256i t = a[0];
  for (int k = 1; k < 8; ++k) t = _mm256_add_epi32(t, a[k]);
  int32_t out[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), t);
  for (int32_t v : out) *sum += v;
}

Choice pick_fp32() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512f", fp32_avx512, 12 * 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2+fma", fp32_avx2, 12 * 8};
  return {nullptr, nullptr, 0};
}

Choice pick_int8() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vnni")) return {"avx512_vnni", int8_avx512_vnni, 12 * 64};
  if (__builtin_cpu_supports("avxvnni")) return {"avx_vnni", int8_avx_vnni, 12 * 32};
  if (__builtin_cpu_supports("avx2")) return {"avx2", int8_avx2, 8 * 32};
  return {nullptr, nullptr, 0};
}
#elif defined(__aarch64__)
void fp32_neon(int64_t iters, double* sum) {
  float32x4_t a[16];
  const float32x4_t x = vdupq_n_f32(0.999f), y = vdupq_n_f32(1e-7f);
  for (auto& v : a) v = vdupq_n_f32(1.0f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = vfmaq_f32(y, v, x);
  float32x4_t t = a[0];
  for (int k = 1; k < 16; ++k) t = vaddq_f32(t, a[k]);
  *sum += vaddvq_f32(t);
}

__attribute__((target("+dotprod"))) void int8_sdot(int64_t iters, double* sum) {
  int32x4_t a[16];
  const int8x16_t p = vdupq_n_s8(1), q = vdupq_n_s8(-1);
  for (auto& v : a) v = vdupq_n_s32(0);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : a) v = vdotq_s32(v, p, q);
  int32x4_t t = a[0];
  for (int k = 1; k < 16; ++k) t = vaddq_s32(t, a[k]);
  *sum += vaddvq_s32(t);
}

Choice pick_fp32() { return {"neon", fp32_neon, 16 * 4}; }

Choice pick_int8() {
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return {"neon_dotprod", int8_sdot, 16 * 16};
#endif
  return {nullptr, nullptr, 0};
}
#else
Choice pick_fp32() { return {nullptr, nullptr, 0}; }
Choice pick_int8() { return {nullptr, nullptr, 0}; }
#endif

// GMAC/s of `choice` on `threads` threads over about `seconds`: the best of at least three timed slices.  A
// slice is long (about 10 ms per thread) next to starting its threads (tens of microseconds).
double measure(const Choice& choice, int threads, double seconds, double* checksum) {
  const int64_t chunk = 1 << 20;
  double best = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int slice = 0; slice < 3 || std::chrono::steady_clock::now() < deadline; ++slice) {
    std::vector<double> sums(threads, 0.0);
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { choice.kernel(chunk, &sums[t]); });
    for (auto& th : pool) th.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (double s : sums) *checksum += s;
    const double gmacs = static_cast<double>(chunk) * choice.macs_per_iter * threads / elapsed / 1e9;
    if (gmacs > best) best = gmacs;
  }
  return best;
}

void print_entry(const char* key, const Choice& c, int threads, double seconds, double* checksum, bool last) {
  if (!c.kernel) {
    std::printf("  \"%s\": null%s\n", key, last ? "" : ",");
    return;
  }
  const double gmacs = measure(c, threads, seconds, checksum);
  std::printf("  \"%s\": {\"kernel\": \"%s\", \"gmacs\": %.2f}%s\n", key, c.name, gmacs, last ? "" : ",");
}

int usage(const char* why) {
  std::fprintf(stderr, "error: %s (usage: elir_roof [--threads N] [--seconds S])\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  double seconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--threads" || arg == "--seconds") && i + 1 < argc) {
      char* end = nullptr;
      const double v = std::strtod(argv[++i], &end);
      if (*end != '\0' || v <= 0) return usage((arg + " needs a positive number").c_str());
      if (arg == "--threads") threads = static_cast<int>(v); else seconds = v;
    } else {
      return usage(("unknown argument " + arg).c_str());
    }
  }
  double checksum = 0;
  std::printf("{\n  \"threads\": %d,\n  \"seconds_per_kernel\": %.3f,\n", threads, seconds);
  print_entry("fp32_fma", pick_fp32(), threads, seconds, &checksum, false);
  print_entry("int8_dot", pick_int8(), threads, seconds, &checksum, false);
  std::printf("  \"checksum\": %.6g\n}\n", checksum);
  return 0;
}
