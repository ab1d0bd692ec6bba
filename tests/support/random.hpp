#pragma once
// Seeded random inputs for tests. The seed is fixed (reproducible failures) unless
// SWITCHYARD_TEST_SEED is set, which lets a soak run explore others; it is printed on failure
// through Catch2's INFO by the tests that use it.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <span>

namespace switchyard::test {

inline std::uint64_t seed() {
  if (char const* s = std::getenv("SWITCHYARD_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 20261128u;
}

inline std::mt19937_64& rng() {
  static std::mt19937_64 g(seed());
  return g;
}

// Normal(mean, stddev): never all zeros, signs mixed.
template <class T>
void fill_normal(std::span<T> out, float mean = 0.0f, float stddev = 1.0f) {
  std::normal_distribution<float> d(mean, stddev);
  for (auto& v : out) v = static_cast<T>(d(rng()));
}

}  // namespace switchyard::test
