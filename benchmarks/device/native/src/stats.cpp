#include "stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace elir {

double percentile(const std::vector<double>& sorted, double q) {
  const size_t n = sorted.size();
  const double h = static_cast<double>(n - 1) * q / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, n - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

Summary summarize(std::vector<double> xs) {
  if (xs.empty()) throw std::invalid_argument("no timed runs to summarize (--runs must be >= 1)");
  for (double x : xs)
    if (!std::isfinite(x) || x < 0) throw std::invalid_argument("timings must be finite and non-negative");
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  Summary s;
  s.n = n;
  s.median = n % 2 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
  s.p90 = percentile(xs, 90.0);
  s.min = xs.front();
  s.max = xs.back();
  s.mean = std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(n);
  const size_t k = n / 10;  // drop n // 10 from each end, as stats.py
  s.trimmed_mean_10_90 =
      std::accumulate(xs.begin() + static_cast<long>(k), xs.end() - static_cast<long>(k), 0.0) /
      static_cast<double>(n - 2 * k);
  return s;
}

}  // namespace elir
