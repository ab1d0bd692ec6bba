#pragma once
// The harness of the device dense-layer tests (test_linear_cuda.cu, test_linear_cuda_formats.cu):
// a weight matrix in format W (optionally int8 / fp8 codes with per-row or 128 x 128 block scales)
// with its exact f32 values, the host's layer on the same bytes (linear<W>, or scaled_linear<E>
// for scaled codes) as the reference, and one device call checked against it. As in the MoE and
// attention harnesses, nothing may pass silently:
//   - the path that ran is asserted twice: gemm's return value and the tag the kernel itself wrote
//     to device memory, both against the documented rule (gemv while T <= 8 for automatic), and
//     the GEMV's k splits (the tag's second word) against its rule (4, 2, 1 by rows);
//   - y is NaN-poisoned before every call that does not accumulate; with accumulate it holds known
//     values; the padding of strided x rows is NaN (a kernel reading it poisons its outputs) and
//     the padding of strided y rows must come back bit for bit untouched;
//   - every element is checked against a bound from support/tolerance.hpp, and each check prints
//     one "switchyard-record: requested=... ran=..." line (bench/gpu/run.sh's report reads them).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include <cuda_runtime_api.h>

#include "cuda/device_array.cuh"
#include "support/quantize_rows.hpp"
#include "support/random.hpp"
#include "support/tolerance.hpp"
#include "switchyard/kernels/linear/linear.cuh"
#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/scaled_linear.hpp"

namespace switchyard::test::linear_cuda {

namespace sy = switchyard;
namespace kl = switchyard::kernels::linear;
namespace tol = switchyard::test::tolerance;
using sy::index_t;
using kl::linear_path;

// The requested paths as types, for TEMPLATE_TEST_CASE: one test case (one process under
// bench/gpu/run.sh) per path, so a device fault on one cannot hide the others' results.
namespace paths {
struct gemv { static constexpr linear_path value = linear_path::gemv; };
struct mma { static constexpr linear_path value = linear_path::mma; };
struct automatic { static constexpr linear_path value = linear_path::automatic; };
}  // namespace paths

// (format, requested path) as one type without a comma (Catch2's macros split on commas).
template <class W>
struct on {
  template <linear_path P>
  struct path_t {
    using format = W;
    static constexpr linear_path path = P;
  };
  using gemv = path_t<linear_path::gemv>;
  using mma = path_t<linear_path::mma>;
  using automatic = path_t<linear_path::automatic>;
};
#define SWITCHYARD_LINEAR_PATHS(W) on<W>::gemv, on<W>::mma, on<W>::automatic

enum class scaling { none, row, block };
inline char const* scaling_name(scaling s) { return s == scaling::none ? "none" : s == scaling::row ? "row" : "block"; }

inline std::vector<float> normal(std::size_t n, float stddev) {
  std::vector<float> v(n);
  fill_normal(std::span<float>(v), 0.0f, stddev);
  return v;
}

// A [rows, cols] matrix in format W: its codes (blocks), scales and exact values (code x scale in
// f32, the numbers both sides multiply with), on the host and the device.
template <class W>
struct weights {
  static constexpr index_t B = format::traits<W>::block_elems;
  index_t rows = 0, cols = 0;
  scaling kind = scaling::none;
  float out_std = 1.0f;  // the typical size of an output element
  std::vector<W> codes;
  std::vector<float> exact, row_scales, block_scales;
  device_array<W> d_codes;
  device_array<float> d_row_scales, d_block_scales;

  weights(index_t r, index_t c, scaling k) : rows(r), cols(c), kind(k) {
    // Scales chosen so that the codes use their range: int8 codes unscaled are the values
    // themselves, fp8 unscaled would be mostly subnormal at 1 / sqrt(cols).
    float stddev = 1.0f / std::sqrt(float(cols));
    if (k == scaling::none && std::is_same_v<W, std::int8_t>) stddev = 30.0f;
    if (k == scaling::none && (std::is_same_v<W, format::e4m3> || std::is_same_v<W, format::e5m2>)) stddev = 1.0f;
    out_std = stddev * std::sqrt(float(cols));
    auto const w = normal(static_cast<std::size_t>(rows * cols), stddev);
    if (k == scaling::none) {
      std::tie(codes, exact) = quantize_rows<W>(w, rows, cols);
    } else {
      if constexpr (kl::takes_scales<W>) {
        bool const block = k == scaling::block;
        index_t const SB = sy::scale_block;
        index_t const sr = block ? (rows + SB - 1) / SB : rows, sc = block ? (cols + SB - 1) / SB : 1;
        std::vector<float> s(static_cast<std::size_t>(sr * sc));
        codes.resize(w.size());
        sy::quant::quantize_scaled<W>(sy::make_view<float const>(w.data(), rows, cols),
                                      block ? sy::scale_granularity::block : sy::scale_granularity::per_channel,
                                      sy::make_view(codes.data(), rows, cols), sy::make_view(s.data(), sr, sc));
        exact.resize(w.size());
        for (index_t i = 0; i < rows; ++i)
          for (index_t j = 0; j < cols; ++j)
            exact[static_cast<std::size_t>(i * cols + j)] =
                format::traits<W>::to_float(codes[static_cast<std::size_t>(i * cols + j)]) *
                s[static_cast<std::size_t>(block ? (i / SB) * sc + j / SB : i)];
        (block ? block_scales : row_scales) = std::move(s);
      } else {
        FAIL("scales are for int8 and fp8 codes");
      }
    }
    d_codes = device_array<W>(codes);
    d_row_scales = device_array<float>(row_scales);
    d_block_scales = device_array<float>(block_scales);
  }

  kl::device_matrix<W> device() const {
    return {d_codes.get(), static_cast<int>(rows), static_cast<int>(cols), row_scales.empty() ? nullptr : d_row_scales.get(),
            block_scales.empty() ? nullptr : d_block_scales.get()};
  }

  // The host's layer on the same codes: y [T, rows] = x [T, cols] W^T + bias.
  void host(std::vector<float> const& x, index_t T, std::vector<float> const& bias, std::vector<float>& y) const {
    y.assign(static_cast<std::size_t>(T * rows), 0.0f);
    auto const xv = sy::make_view<float const>(x.data(), T, cols);
    auto const yv = sy::make_view(y.data(), T, rows);
    sy::vector_view<float const> bv = bias.empty() ? sy::vector_view<float const>{} : sy::make_view<float const>(bias.data(), rows);
    if (kind == scaling::none) {
      sy::linear<W>(sy::make_view<W const>(codes.data(), rows, cols / B), bv)(xv, yv);
    } else {
      if constexpr (kl::takes_scales<W>) {
        bool const block = kind == scaling::block;
        index_t const SB = sy::scale_block;
        auto const& s = block ? block_scales : row_scales;
        index_t const sr = block ? (rows + SB - 1) / SB : rows, sc = block ? (cols + SB - 1) / SB : 1;
        sy::scaled_linear<W>(sy::make_view<W const>(codes.data(), rows, cols),
                             block ? sy::scale_granularity::block : sy::scale_granularity::per_channel,
                             sy::make_view<float const>(s.data(), sr, sc), bv)(xv, yv);
      }
    }
  }
};

// The variant of a call: bias, accumulate into known y values, strided x / y rows.
struct variant {
  bool bias = false, accumulate = false, strided = false;
};

inline std::string describe(variant v) {
  return std::string(v.bias ? "bias" : "no bias") + (v.accumulate ? ", accumulate" : ", overwrite") +
         (v.strided ? ", strided" : ", packed");
}

// The kernel a call must run: the documented rule, written here independently of the library's.
inline linear_path expected_path(linear_path requested, index_t T) {
  if (requested != linear_path::automatic) return requested;
  return T <= 8 ? linear_path::gemv : linear_path::mma;
}

// The GEMV's k splits for a matrix of `rows` rows: the documented rule, written again.
inline int expected_splits(index_t rows) { return rows <= 2048 ? 4 : rows <= 8192 ? 2 : 1; }

// Reads back the kernel's own tag.
inline linear_path tag_path(int tag) {
  return tag == kl::gemv_tag ? linear_path::gemv : tag == kl::mma_tag ? linear_path::mma : linear_path::automatic;
}

// One device call of w on T rows and its checks against the host.
template <class W>
void check_call(weights<W> const& w, index_t T, variant v, linear_path requested, char const* label) {
  index_t const R = w.rows, C = w.cols;
  index_t const ldx = v.strided ? C + 12 : C, ldy = v.strided ? R + 3 : R;
  auto const x = normal(static_cast<std::size_t>(T * C), 1.0f);
  std::vector<float> const bias = v.bias ? normal(static_cast<std::size_t>(R), 0.5f * w.out_std) : std::vector<float>{};
  std::vector<float> const y0 = v.accumulate ? normal(static_cast<std::size_t>(T * R), w.out_std) : std::vector<float>{};

  // Reference: the host layer, then the add of the accumulated values (as a model adds o_proj
  // into its residual stream after the projection).
  std::vector<float> ref;
  w.host(x, T, bias, ref);
  if (v.accumulate)
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = y0[i] + ref[i];

  // Device buffers: x rows padded with NaN, y padded with a sentinel that must survive.
  float const nan = std::numeric_limits<float>::quiet_NaN(), sentinel = 12345.5f;
  std::vector<float> hx(static_cast<std::size_t>(T * ldx), nan), hy(static_cast<std::size_t>(T * ldy), sentinel);
  for (index_t t = 0; t < T; ++t) {
    std::copy_n(x.begin() + t * C, C, hx.begin() + t * ldx);
    for (index_t r = 0; r < R; ++r)
      hy[static_cast<std::size_t>(t * ldy + r)] = v.accumulate ? y0[static_cast<std::size_t>(t * R + r)] : nan;
  }
  device_array<float> dx(hx), dy(hy), db(bias);
  device_array<int> tag(2);
  tag.poison();
  linear_path const ran = kl::gemm(dx.get(), static_cast<int>(ldx), static_cast<int>(T), w.device(),
                                   bias.empty() ? nullptr : db.get(), dy.get(), static_cast<int>(ldy), v.accumulate,
                                   nullptr, requested, tag.get());
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  auto const got_all = dy.download();
  auto const tags = tag.download();
  linear_path const tagged = tag_path(tags[0]);
  linear_path const expected = expected_path(requested, T);
  int const splits = expected == linear_path::gemv ? expected_splits(R) : 0;

  INFO(label << " " << format::traits<W>::name << " scales " << scaling_name(w.kind) << ", [" << R << ", " << C
             << "], T " << T << ", " << describe(v) << ", requested " << kl::name(requested) << ": ran "
             << kl::name(ran) << ", tagged " << kl::name(tagged) << ", expected " << kl::name(expected)
             << "; k splits tagged " << tags[1] << ", expected " << splits);
  REQUIRE(ran == expected);
  REQUIRE(tagged == expected);
  REQUIRE(tags[1] == splits);

  // The padding of y rows is untouched, bit for bit.
  std::size_t touched = 0;
  std::vector<float> got(static_cast<std::size_t>(T * R));
  for (index_t t = 0; t < T; ++t)
    for (index_t r = 0; r < ldy; ++r) {
      float const g = got_all[static_cast<std::size_t>(t * ldy + r)];
      if (r < R) got[static_cast<std::size_t>(t * R + r)] = g;
      else if (std::memcmp(&g, &sentinel, sizeof g) != 0) ++touched;
    }
  REQUIRE(touched == 0);
  REQUIRE(std::any_of(ref.begin(), ref.end(), [](float e) { return e != 0.0f; }));

  // The checks, by the kernel that ran.
  bool const gemv = expected == linear_path::gemv;
  double worst = -1, worst_err = 0, nmse_num = 0, nmse_den = 0;
  index_t worst_t = 0, worst_r = 0;
  std::size_t bad = 0;
  double bound = 0;
  for (index_t t = 0; t < T; ++t) {
    double rms = 0;
    for (index_t r = 0; r < R; ++r) rms += double(ref[static_cast<std::size_t>(t * R + r)]) * ref[static_cast<std::size_t>(t * R + r)];
    rms = std::sqrt(rms / double(R));
    for (index_t r = 0; r < R; ++r) {
      auto const at = static_cast<std::size_t>(t * R + r);
      double scale;
      if (gemv) {
        // f32 on both sides: within tolerance::linear of the sum of |products| (+ |bias| + |y0|);
        // K + 2 terms: the per-row scale and the accumulate add one rounding each.
        double s = 0;
        float const* xr = x.data() + t * C;
        float const* wr = w.exact.data() + r * C;
        for (index_t c = 0; c < C; ++c) s += std::fabs(double(xr[c]) * wr[c]);
        if (v.bias) s += std::fabs(bias[static_cast<std::size_t>(r)]);
        if (v.accumulate) s += std::fabs(y0[at]);
        scale = s;
        bound = tol::linear(C + 2);
      } else {
        // bf16 (f16) operands: within cuda_mma_element of the row's RMS.
        scale = rms;
        bound = tol::cuda_mma_element;
      }
      double const d = std::fabs(double(got[at]) - double(ref[at]));
      double const e = std::isnan(d) ? std::numeric_limits<double>::infinity() : d == 0 ? 0.0 : d / scale;
      if (!(e <= bound)) ++bad;
      if (e > worst) worst = e, worst_err = d, worst_t = t, worst_r = r;
      nmse_num += std::isnan(d) ? std::numeric_limits<double>::infinity() : d * d;
      nmse_den += double(ref[at]) * ref[at];
    }
  }
  double const nmse = nmse_num / nmse_den;
  double const nmse_bound = gemv ? 0.0 : tol::cuda_mma_nmse;
  // Key=value words starting with requested= ran=: bench/gpu/run.sh's report reads these.
  std::printf(
      "switchyard-record: requested=%s ran=%s check=%s err=%.3g bound=%.3g nmse=%.3g nmse_bound=%.3g k_splits=%d "
      "linear=%s format=%s scales=%s rows=%lld cols=%lld T=%lld bias=%d accumulate=%d strided=%d\n",
      kl::name(requested), kl::name(ran), gemv ? "abs-sum" : "row-rms", worst, bound, nmse, nmse_bound, tags[1], label,
      format::traits<W>::name, scaling_name(w.kind), static_cast<long long>(R), static_cast<long long>(C),
      static_cast<long long>(T), int(v.bias), int(v.accumulate), int(v.strided));
  std::fflush(stdout);
  INFO("worst element: row " << worst_t << ", output " << worst_r << ": device "
                             << got[static_cast<std::size_t>(worst_t * R + worst_r)] << ", host "
                             << ref[static_cast<std::size_t>(worst_t * R + worst_r)] << ", |error| " << worst_err
                             << ", error / scale " << worst << " (bound " << bound << "); " << bad
                             << " elements out of bounds; NMSE " << nmse);
  REQUIRE(bad == 0);
  if (!gemv) REQUIRE(nmse <= nmse_bound);
}

// The shapes every format runs: a projection-sized one (1000 rows: a partial tile of 64 rows and
// a partial 128-row scale block; the GEMV splits k over 4 warps), a small one (77 rows: a partial
// GEMV block and warp; cols a multiple of the block that is not of 128 for block scales, and for
// scalar formats not of the 32-wide k step), and two with more rows, where the GEMV splits k over
// 2 warps (3003 rows) and not at all (8203 rows), each with a partial GEMV block.
template <class W>
index_t small_cols() {
  constexpr index_t B = format::traits<W>::block_elems;
  if constexpr (B == 1) return 200;       // 6.25 k steps of 32, 1.56 scale blocks
  else if constexpr (B <= 96) return 96;  // 3 k steps; 0.75 scale blocks
  else return 2 * B;
}

// Every T of the test (1, 3, 8: decode; 33, 200: prefill, partial tiles of 64) on every shape,
// each (shape, T) with its own variant so that every combination of bias / accumulate / stride is
// run.
template <class W>
void check_format(scaling kind, linear_path requested) {
  index_t const Ts[] = {1, 3, 8, 33, 200};
  variant const vs[] = {{true, false, false}, {false, true, true}, {true, true, false}, {false, false, true}, {true, true, true}};
  struct shape {
    index_t rows, cols;
    char const* label;
  };
  shape const shapes[] = {{1000, 4096, "large"}, {77, small_cols<W>(), "small"}, {3003, 256, "tall"}, {8203, 256, "taller"}};
  for (int j = 0; j < 4; ++j) {
    weights<W> const w(shapes[j].rows, shapes[j].cols, kind);
    for (int i = 0; i < 5; ++i) {
      variant v = vs[(i + j) % 5];
      if (j % 2 == 1) v.bias = !v.bias;
      check_call(w, Ts[i], v, requested, shapes[j].label);
    }
  }
}

}  // namespace switchyard::test::linear_cuda
