// Warm-run statistics; the definitions are those of benchmarks/device/stats.py (read its docstring).
#pragma once

#include <cstddef>
#include <vector>

namespace elir {

struct Summary {
  size_t n = 0;
  double median = 0, p90 = 0, min = 0, max = 0, mean = 0, trimmed_mean_10_90 = 0;
};

// q in [0, 100]; `sorted` ascending and non-empty. Linear interpolation between closest ranks.
double percentile(const std::vector<double>& sorted, double q);
// Throws std::invalid_argument on an empty list or a negative / non-finite sample.
Summary summarize(std::vector<double> samples_ms);

}  // namespace elir
