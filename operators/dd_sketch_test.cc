#include "operators/dd_sketch.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using sluice::ops::DDSketch;

namespace {

// The item of rank floor(q * (n - 1)) in sorted order: what DDSketch::Quantile estimates.
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::floor(q * static_cast<double>(v.size() - 1)))];
}

void CheckBounds(const std::vector<double>& data) {
  DDSketch s;
  for (double x : data) s.Add(x);
  REQUIRE(s.count() == data.size());
  std::vector<double> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0}) {
    CAPTURE(q);
    const double exact = Exact(data, q);
    const double est = s.Quantile(q);
    // Value guarantee (Masson et al. 2019): |est - x_q| <= alpha |x_q|.
    CHECK(std::fabs(est - exact) <= s.relative_accuracy() * std::fabs(exact) + 1e-12);
    // As a rank bound: est lies between the items ranked at the edges of x_q's bucket, so its
    // rank among the data is within the ranks of [x_q (1 - alpha), x_q (1 + alpha)].
    const double lo = exact - s.relative_accuracy() * std::fabs(exact);
    const double hi = exact + s.relative_accuracy() * std::fabs(exact);
    const auto rank_lo = std::lower_bound(sorted.begin(), sorted.end(), lo) - sorted.begin();
    const auto rank_hi = std::upper_bound(sorted.begin(), sorted.end(), hi) - sorted.begin();
    const auto rank_est = std::lower_bound(sorted.begin(), sorted.end(), est) - sorted.begin();
    CHECK(rank_est >= rank_lo);
    CHECK(rank_est <= rank_hi);
  }
}

}  // namespace

TEST_CASE("ddsketch: quantiles within the relative error bound on varied data") {
  std::mt19937_64 rng(11);
  std::vector<double> lognormal, uniform, mixed;
  std::lognormal_distribution<double> ln(3.0, 1.5);
  std::uniform_real_distribution<double> un(0, 1000);
  std::normal_distribution<double> nn(0, 50);
  for (int i = 0; i < 50000; ++i) {
    lognormal.push_back(ln(rng));
    uniform.push_back(un(rng));
    mixed.push_back(i % 10 == 0 ? 0.0 : nn(rng));
  }
  SUBCASE("lognormal") { CheckBounds(lognormal); }
  SUBCASE("uniform") { CheckBounds(uniform); }
  SUBCASE("negative, zero and positive") { CheckBounds(mixed); }
  SUBCASE("small integers") { CheckBounds({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); }
}

TEST_CASE("ddsketch: merging parts equals sketching the whole, in any order") {
  std::mt19937_64 rng(5);
  std::exponential_distribution<double> ex(0.01);
  DDSketch whole, a, b, c;
  for (int i = 0; i < 30000; ++i) {
    double x = ex(rng) - 20;
    whole.Add(x);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).Add(x);
  }
  DDSketch abc = a, cba = c;
  abc.Merge(b);
  abc.Merge(c);
  cba.Merge(b);
  cba.Merge(a);
  for (double q : {0.0, 0.05, 0.5, 0.95, 1.0}) {
    CHECK(abc.Quantile(q) == whole.Quantile(q));
    CHECK(cba.Quantile(q) == whole.Quantile(q));
  }
  CHECK(abc.count() == whole.count());
}

TEST_CASE("ddsketch: bounded memory collapses the lowest buckets only") {
  DDSketch s(0.01, 64);
  for (int e = -30; e <= 30; ++e) s.Add(std::pow(10.0, e));
  CHECK(s.MemoryBytes() <= 64 * sizeof(uint64_t) * 2);
  // The top of the distribution keeps its accuracy.
  CHECK(std::fabs(s.Quantile(1.0) - 1e30) <= 0.01 * 1e30);
  s.Add(std::nan(""));  // ignored
  CHECK(s.count() == 61);
}
