#pragma once
// Decode GEMV on nibble formats (q4_0, int4 groups) with activations quantized to int8 per weight
// block (as ggml pairs q4_0 with q8_0), so that the products are integer dot products:
//   sum_i s (q_i - z) x_i  ~=  s * dx * (sum_i q_i xq_i  -  z sum_i xq_i)   over a block
// vpdpbusd (AVX512-VNNI) multiplies 16 unsigned codes by 16 signed activations and adds groups of
// four into int32 lanes: 32 weights cost two dot-product instructions instead of two conversions
// and two FMAs, which is what makes the 4-bit GEMV bandwidth-bound instead of decode-bound.
// Opt-in through activations::int8: rounding x to 8 bits per block adds a relative error of about
// 2^-9 per element (bench/NOTES.md, tests/host/test_quant_linear.cpp).
//
// Without AVX512-VNNI, the GGUF block types take the AVX2 kernels of int8_gemv_avx2.hpp (the same
// integer sums); int4 groups the same arithmetic as f32 on the rounded activations (the results
// agree to f32 rounding), so a model gives the same numbers on every machine up to f32 rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/gemv.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

inline constexpr index_t int8_group = 32;

// Activations are rounded per weight block ("quantized per block", as ggml pairs q4_0 with q8_0):
// groups of 32 for q4_0 and int4 g32, of 128 for int4 g128, ... So one int32 sum covers a whole
// block and takes one conversion and one scale: for int4 g128 that is half the vector work of
// groups of 32 (bench/NOTES.md). Groups of up to 256 round with a step of amax/127 over more
// elements: an NMSE of ~5e-5 of x's instead of ~2.3e-5 -- small beside the 4-bit weights' ~1e-2.
template <class F>
inline constexpr index_t int8_activation_group = format::traits<F>::block_elems;

// x [T, K] rounded to int8 per group of `group` elements (a multiple of 32 dividing K): xq, the
// group scales dx = amax / 127, and per group sum(xq).
struct int8_activations {
  index_t rows = 0, cols = 0, group = int8_group;
  std::vector<std::int8_t> q;
  std::vector<float> scale;
  std::vector<std::int32_t> sum;

  void quantize(matrix_view<float const> x, index_t group_size = int8_group) {
    resize(x, group_size);
    quantize_rows(x, 0, rows);
  }

  // The same, rows split among the pool's threads (prefill GEMMs: the rounding of T x K
  // activations was serial work beside them, ~3% of a 2-thread prefill).
  void quantize(matrix_view<float const> x, index_t group_size, thread_pool& pool) {
    resize(x, group_size);
    pool.parallel_for(0, rows, 16, [&](index_t lo, index_t hi) { quantize_rows(x, lo, hi); });
  }

 private:
  void resize(matrix_view<float const> x, index_t group_size) {
    rows = x.extent(0), cols = x.extent(1), group = group_size;
    index_t const groups = cols / group;
    q.resize(static_cast<std::size_t>(rows * cols));
    scale.resize(static_cast<std::size_t>(rows * groups));
    sum.resize(static_cast<std::size_t>(rows * groups));
  }

  void quantize_rows(matrix_view<float const> x, index_t t0, index_t t1) {
    index_t const groups = cols / group;
    for (index_t t = t0; t < t1; ++t)
      for (index_t g = 0; g < groups; ++g) {
        float const* xs = &x(t, g * group);
        std::size_t const gi = static_cast<std::size_t>(t * groups + g);
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
        detail::quantize_group_zmm(xs, group, q.data() + t * cols + g * group, scale[gi], sum[gi]);
#elif defined(SWITCHYARD_INT8_GEMV_YMM)
        detail::quantize_group_ymm(xs, group, q.data() + t * cols + g * group, scale[gi], sum[gi]);
#else
        float amax = 0.0f;
        for (index_t i = 0; i < group; ++i) amax = std::fmax(amax, std::fabs(xs[i]));
        float const d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        std::int32_t s = 0;
        for (index_t i = 0; i < group; ++i) {
          auto const v = static_cast<std::int8_t>(std::nearbyint(xs[i] * id));
          q[static_cast<std::size_t>(t * cols + g * group + i)] = v;
          s += v;
        }
        scale[gi] = d;
        sum[gi] = s;
#endif
      }
  }
};

namespace detail {

// Rows [n0, n1) of W against T rows of int8 activations rounded per block (xa.group == B).
template <int T, class F>
void int8_rows(int8_activations const& xa, F const* w, index_t ldw, index_t kbs, float const* bias, float* y,
               index_t ldy, index_t n0, index_t n1) {
  constexpr int B = format::traits<F>::block_elems, H = B / 2;
  static_assert(B % int8_group == 0 && H % 16 == 0, "nibble blocks of a multiple of 32 weights");
  index_t const cols = xa.cols;
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    float res[T] = {}, corr[T] = {};
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512F__)
    __m128i const low = _mm_set1_epi8(0x0F);
    __m128 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm_setzero_ps();
    for (index_t kb = 0; kb < kbs; ++kb) {
      F const& blk = row[kb];
      std::uint8_t const* q = nibble_format<F>::codes(blk);
      float const d = _cvtsh_ss(nibble_format<F>::scale(blk).bits);
      float const dz = d * static_cast<float>(nibble_format<F>::zero(blk));
      __m128i isum[T];
      for (int t = 0; t < T; ++t) isum[t] = _mm_setzero_si128();
      for (int c = 0; c < H; c += 16) {
        __m128i const v = _mm_loadu_si128(reinterpret_cast<__m128i const*>(q + c));
        __m128i const lo = _mm_and_si128(v, low), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low);
        for (int t = 0; t < T; ++t) {
          std::int8_t const* xq = xa.q.data() + t * cols + kb * B;
          isum[t] = _mm_dpbusd_epi32(isum[t], lo, _mm_loadu_si128(reinterpret_cast<__m128i const*>(xq + c)));
          isum[t] = _mm_dpbusd_epi32(isum[t], hi, _mm_loadu_si128(reinterpret_cast<__m128i const*>(xq + H + c)));
        }
      }
      for (int t = 0; t < T; ++t) {
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        float const dx = xa.scale[g];
        acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(isum[t]), _mm_set1_ps(d * dx), acc[t]);
        corr[t] += dz * dx * static_cast<float>(xa.sum[g]);
      }
    }
    for (int t = 0; t < T; ++t) {
      __m128 v = _mm_add_ps(acc[t], _mm_movehl_ps(acc[t], acc[t]));
      v = _mm_add_ss(v, _mm_movehdup_ps(v));
      res[t] = _mm_cvtss_f32(v);
    }
#else
    // Portable: the same sums in f32 on the rounded activations.
    for (index_t kb = 0; kb < kbs; ++kb) {
      F const& blk = row[kb];
      std::uint8_t const* q = nibble_format<F>::codes(blk);
      float const d = nibble_format<F>::scale(blk).to_float();
      float const dz = d * static_cast<float>(nibble_format<F>::zero(blk));
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * cols + kb * B;
        std::int32_t isum = 0;
        for (int i = 0; i < B; ++i) {
          int const code = i < H ? (q[i] & 0x0F) : (q[i - H] >> 4);
          isum += code * xq[i];
        }
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        res[t] += static_cast<float>(isum) * (d * xa.scale[g]);
        corr[t] += dz * xa.scale[g] * static_cast<float>(xa.sum[g]);
      }
    }
#endif
    for (int t = 0; t < T; ++t) y[t * ldy + n] = (res[t] - corr[t]) + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace detail

namespace detail {

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
// Rows [n0, n1) through the 512-bit kernels (int8_gemv_avx512.hpp), R rows of W at a time.
template <int T, class F>
void int8_zmm_rows(int8_activations const& xa, int8_zmm_activations const& za, F const* w, index_t ldw, index_t kbs,
                   float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  constexpr int8_zmm_layout layout = int8_zmm_layout_of<F>();
  auto pass = [&]<int R, bool Far>(index_t n) {
    F const* rowp[R];
    for (int r = 0; r < R; ++r) rowp[r] = w + (n + r) * ldw;
    float out[R][T];
    if constexpr (layout == int8_zmm_layout::wide)
      int8_zmm_wide_rows<T, R, Far>(rowp, ldw, kbs, xa.q.data(), xa.scale.data(), xa.cols, za, out);
    else
      int8_zmm_quad_rows<T, R, Far>(rowp, ldw, kbs, xa.q.data(), xa.scale.data(), xa.sum.data(), xa.cols, za, out);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + n + r] = out[r][t] + (bias ? bias[n + r] : 0.0f);
  };
  // One row at a time keeps the weights one sequential stream, which the hardware prefetcher
  // follows best; several rows at a time share each activation load, which pays once the
  // activations' lane data outgrow L1 (K = 14336: ~28 KiB per token row) and would be re-read
  // from L2 per row (bench/NOTES.md: R = 1 vs 4 on the Mixtral up and down shapes).
  // (And while they are small, one row at a time prefetches far ahead: block_gemv_common.hpp.)
  // One token: 6 rows (4 measured 8% slower on q4_0 at K = 14336, 1 thread; 8 no better); more
  // tokens, or the quad layout with per-block zero points (one more vector per row): the shared
  // choice (6 rows would spill).
  constexpr bool zero_vectors = layout == int8_zmm_layout::quad && nibble_asymmetric<F>();
  constexpr int R = T == 1 && !zero_vectors ? 6 : rows_at_once<T>;
  index_t const x_bytes = za.bytes_per_row() * T;
  row_passes<R>(n0, n1, x_bytes > int8_zmm_l1_budget, x_bytes <= int8_zmm_far_budget, pass);
}
#endif

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for a nibble format W [N, K / B], T <= 8, activations rounded
// to int8 per block of B. With AVX512-VNNI and BW, formats with a zmm layout (int4 groups of 128
// and up, q4_0, int4 groups of 32) take the 512-bit kernels; others the 128-bit one.
template <class F>
void block_gemv_int8(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                     thread_pool& pool) {
  static_assert(detail::nibble_format<F>::value, "int8 activations take q4_0 or int4 group weights");
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  // The calling thread's scratch: after the first call of a shape, a call allocates nothing. (Named
  // through references: the tasks below run on other threads, where the thread_local names
  // would be those threads' own objects; a reference is captured.)
  thread_local int8_activations xa_scratch;
  int8_activations& xa = xa_scratch;
  xa.quantize(x, int8_activation_group<F>);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(F)}));
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
  constexpr auto layout = detail::int8_zmm_layout_of<F>();
  if constexpr (layout != detail::int8_zmm_layout::none) {
    thread_local detail::int8_zmm_activations za_scratch;
    detail::int8_zmm_activations& za = za_scratch;
    za.build(layout, format::traits<F>::block_elems, detail::nibble_asymmetric<F>() ? 1 : 8, xa.rows, xa.cols, xa.q.data(), xa.scale.data(), xa.sum.data());
    auto run = [&]<int Tc>() {
      pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
        detail::int8_zmm_rows<Tc>(xa, za, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
      });
    };
    dispatch_rows(T, run);
    return;
  }
#endif
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::int8_rows<Tc>(xa, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
    });
  };
  dispatch_rows(T, run);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
