#include "parity.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace elir {

double psnr_db(const float* output, const float* expected, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::clamp(static_cast<double>(output[i]), 0.0, 1.0);
    const double b = std::clamp(static_cast<double>(expected[i]), 0.0, 1.0);
    sum += (a - b) * (a - b);
  }
  const double mse = sum / static_cast<double>(n);
  if (mse <= std::pow(10.0, -kPsnrCapDb / 10.0)) return kPsnrCapDb;
  return std::min(kPsnrCapDb, -10.0 * std::log10(mse));
}

double max_abs_err(const float* output, const float* expected, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i)
    m = std::max(m, std::fabs(static_cast<double>(output[i]) - static_cast<double>(expected[i])));
  return m;
}

std::vector<float> read_f32_le(const std::string& path, size_t count) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("reference vector not found: " + path);
  const auto bytes = static_cast<size_t>(f.tellg());
  if (bytes != count * 4)
    throw std::runtime_error(path + ": " + std::to_string(bytes / 4) + " float32 values, the card's shape needs " +
                             std::to_string(count));
  std::vector<unsigned char> raw(bytes);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(bytes));
  if (!f) throw std::runtime_error("cannot read " + path);
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    const unsigned char* p = &raw[4 * i];
    const uint32_t bits = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    std::memcpy(&out[i], &bits, 4);  // explicit little-endian decode: correct on any host
  }
  return out;
}

}  // namespace elir
