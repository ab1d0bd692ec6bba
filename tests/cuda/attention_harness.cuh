#pragma once
// The harness of the device attention tests (test_attention_cuda_*.cu): random inputs, device
// copies, the path a call must take on this device and build, and the element-by-element check
// against the host block. As in moe_harness.cuh, nothing may pass silently:
//   - outputs are filled with NaN and workspaces with 0xFF bytes before every call, so an element
//     a kernel forgets stays NaN and fails;
//   - every element is checked against a bound from support/tolerance.hpp (a NaN fails every
//     comparison), and the worst one is reported with its index and values;
//   - the path that ran is asserted on what the kernels wrote on the device (prefill: a tag of the
//     kernel, wgmma on sm_90a code when asked for; decode: the split count of the split and merge
//     kernels), and each check prints one "switchyard-record:" line (path asked for and run, worst
//     error over its bound) that bench/gpu/run.sh gathers into its report.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "cuda/device_array.cuh"
#include "support/random.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"

namespace switchyard::test::attention_cuda {

inline std::vector<float> normal(std::size_t n, float stddev = 1.0f) {
  std::vector<float> v(n);
  fill_normal(std::span<float>(v), 0.0f, stddev);
  return v;
}

// A row-major [a, b, c] host view of v.
inline tensor_view<float const, dextents<3>> sy_view(std::vector<float> const& v, std::int64_t a, std::int64_t b,
                                                     std::int64_t c) {
  return switchyard::make_view(v.data(), a, b, c);
}

// The architecture of the code the driver runs here: the highest target of this binary
// (__CUDA_ARCH_LIST__) not above the device's compute capability (90 is built as 90a only).
inline int device_code_arch() {
  int dev = 0, major = 0, minor = 0;
  SWITCHYARD_CUDA_CHECK(cudaGetDevice(&dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  int best = 0;
  for (int a : {__CUDA_ARCH_LIST__})
    if (a <= 100 * major + 10 * minor) best = std::max(best, a / 10);
  return best;
}

// Whether the code the driver runs here has sm_90a's arch-specific features (wgmma, TMA): a probe
// of the test's own, launched, whose 90a variant alone writes 1 -- independent of the library's
// sm90::sm90a_code_available(), which the tests check against it. (__CUDA_ARCH_LIST__ cannot
// tell: it lists 900 for a plain sm_90 build too.)
template <int = 0>
__global__ void sm90a_feature_probe(int* flag) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *flag = 1;
#else
  *flag = 0;
#endif
}
inline bool device_runs_sm90a_code() {
  device_array<int> flag(1);
  flag.poison();  // -1: a probe that did not run fails below
  sm90a_feature_probe<<<1, 1>>>(flag.get());
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  int const v = flag.download()[0];
  REQUIRE((v == 0 || v == 1));
  return v == 1;
}

// The scale an element's error is measured against, and the bound on error / scale. A scale of 0
// demands an exact match (a row that sees no key is exactly 0 on both sides).
struct row_bound {
  double scale, tol;
};

struct worst_element {
  double ratio = -1.0, err = 0.0, tol = 0.0;
  std::size_t index = 0;
  float got = 0.0f, ref = 0.0f;
};

// Checks every element of got against ref: rows of `width` elements, bound_of(row) -> row_bound.
// With nmse_bound > 0 also the normalized mean squared error over everything. Prints the record.
template <class BoundOf>
void require_close(std::string const& requested, std::string const& ran, char const* check, std::vector<float> const& got,
                   std::vector<float> const& ref, std::size_t width, BoundOf bound_of, double nmse_bound = -1.0) {
  REQUIRE(got.size() == ref.size());
  REQUIRE(width > 0);
  worst_element w;
  std::size_t bad = 0;
  double se = 0.0, sr = 0.0, ref_norm = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    row_bound const b = bound_of(i / width);
    double const diff = std::fabs(static_cast<double>(got[i]) - static_cast<double>(ref[i]));
    double const err = b.scale > 0.0 ? diff / b.scale : (diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity());
    bool const ok = err <= b.tol;  // NaN fails
    if (!ok) ++bad;
    double const ratio = ok ? (b.tol > 0.0 ? err / b.tol : 0.0) : std::numeric_limits<double>::infinity();
    if (ratio > w.ratio || (!ok && w.ratio != std::numeric_limits<double>::infinity()))
      w = {ratio, std::isnan(diff) ? std::numeric_limits<double>::quiet_NaN() : err, b.tol, i, got[i], ref[i]};
    se += diff * diff;
    sr += static_cast<double>(ref[i]) * ref[i];
    ref_norm += std::fabs(ref[i]);
  }
  double const nmse = sr > 0.0 ? se / sr : se;
  std::printf("switchyard-record: requested=%s ran=%s check=%s err=%.3g bound=%.3g nmse=%.3g nmse_bound=%.3g\n",
              requested.c_str(), ran.c_str(), check, w.err, w.tol, nmse, nmse_bound);
  std::fflush(stdout);
  INFO("worst element " << w.index << " (row " << w.index / width << ", column " << w.index % width << "): device "
                        << w.got << ", host " << w.ref << ", error / scale " << w.err << " (bound " << w.tol << "); "
                        << bad << " of " << got.size() << " elements out of bounds; NMSE " << nmse);
  REQUIRE(ref_norm > 0.0);  // the reference is not all zeros: the inputs reached it
  REQUIRE(bad == 0);
  if (nmse_bound > 0.0) REQUIRE(nmse <= nmse_bound);
}

// Root mean square of row r of width w.
inline double row_rms(std::vector<float> const& v, std::size_t r, std::size_t w) {
  double s = 0.0;
  for (std::size_t i = r * w; i < (r + 1) * w; ++i) s += static_cast<double>(v[i]) * v[i];
  return std::sqrt(s / static_cast<double>(w));
}
inline double row_max(std::vector<float> const& v, std::size_t r, std::size_t w) {
  double m = 0.0;
  for (std::size_t i = r * w; i < (r + 1) * w; ++i) m = std::max(m, std::fabs(static_cast<double>(v[i])));
  return m;
}
inline double max_abs(std::vector<float> const& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

// Runs f on the device after poisoning out (NaN) and the workspace (0xFF), then waits.
template <class F>
std::vector<float> run_poisoned(device_array<float>& out, device_array<char>& ws, F&& f) {
  out.poison();
  ws.poison();
  f();
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  return out.download();
}

}  // namespace switchyard::test::attention_cuda
