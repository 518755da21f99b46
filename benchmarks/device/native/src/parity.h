// Parity against the export pipeline's reference vectors; definitions as benchmarks/device/parity.py.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace elir {

constexpr double kPsnrCapDb = 200.0;

// PSNR (dB, data range 1) of both inputs clamped to [0, 1]; capped at kPsnrCapDb for identical outputs.
double psnr_db(const float* output, const float* expected, size_t n);
// Largest |output - expected| on the raw values.
double max_abs_err(const float* output, const float* expected, size_t n);
// Reads raw little-endian float32; throws std::runtime_error unless the file holds exactly `count` values.
std::vector<float> read_f32_le(const std::string& path, size_t count);

}  // namespace elir
