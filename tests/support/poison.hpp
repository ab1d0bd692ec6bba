#pragma once
// Fill outputs with NaN before a kernel runs, so an element the kernel forgets to write shows up
// as a NaN mismatch instead of passing with a stale or zero value.
#include <limits>
#include <span>

namespace switchyard::test {

inline void poison(std::span<float> out) {
  for (auto& v : out) v = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace switchyard::test
