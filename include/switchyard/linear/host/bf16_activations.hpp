#pragma once
// Linear with activations rounded to bf16 before the products (what PyTorch's bf16 matmul and
// every bf16 inference engine does), accumulation in f32. Opt-in per layer
// (linear_options::activations = bf16): it halves activation bytes and, where the CPU has
// AVX512-BF16, runs `vdpbf16ps` (two products per lane per instruction, twice the f32 FMA rate).
//
// Numerics: products of bf16 values are exact in f32, so the result is the f32 dot product of
// the *rounded* activations with the weights; tests compare against PyTorch's
// F.linear(x.bfloat16().float(), W) with the f32 bound. Where vdpbf16ps is not available (no
// AVX512-BF16, or weights that are not bf16), the activations are rounded and the f32 kernels
// run on them: the same arithmetic up to summation order.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/detail/madd.hpp"
#include "switchyard/linear/host/bf16_outer_gemm.hpp"
#include "switchyard/linear/host/gemm.hpp"
#include "switchyard/linear/host/gemv.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define SWITCHYARD_HAS_AVX512BF16 1
#else
#define SWITCHYARD_HAS_AVX512BF16 0
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

#if SWITCHYARD_HAS_AVX512BF16
// Rows x Cols dot products of bf16 activations with bf16 weights over [k0, k1), 32 elements per
// step: lane i of an accumulator gathers the products of elements 2i and 2i+1.
struct dpbf16_tile {
  using x_type = format::bf16;
  // Longer panels than f32's: each panel ends in Rows x Cols horizontal reductions, which at 32
  // elements per step would otherwise cost a third of the tile's time. 4096 bf16 = 8 KiB per row.
  static constexpr index_t k_panel = 4096;
  template <int Rows, int Cols, class W>
  static SWITCHYARD_FORCE_INLINE void run(format::bf16 const* x, index_t ldx, W const* w, index_t ldw, index_t k0,
                                          index_t k1, float (&out)[Rows][Cols]) {
    static_assert(std::is_same_v<W, format::bf16>);
    __m512 acc[Rows][Cols];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < Cols; ++c) acc[r][c] = _mm512_setzero_ps();
    index_t k = k0;
    for (; k + 32 <= k1; k += 32) {
      __m512bh wv[Cols];
#pragma GCC unroll 8
      for (int c = 0; c < Cols; ++c) wv[c] = (__m512bh)_mm512_loadu_si512(w + c * ldw + k);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        __m512bh const xv = (__m512bh)_mm512_loadu_si512(x + r * ldx + k);
#pragma GCC unroll 8
        for (int c = 0; c < Cols; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], xv, wv[c]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < Cols; ++c) {
        float s = simd::avx512::reduce_add(acc[r][c]);
        for (index_t kk = k; kk < k1; ++kk) s = ::switchyard::detail::madd(x[r * ldx + kk].to_float(), w[c * ldw + kk].to_float(), s);
        out[r][c] = s;
      }
  }
};
#endif

// Per-thread scratch for the rounded activations: grows to the largest call, then is reused.
template <class T>
std::vector<T>& activation_scratch(std::size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

}  // namespace detail

// y = round_bf16(x) W^T (+ bias), any row count: the GEMV blocking for decode rows, the GEMM's
// above, one tile kernel for both (so a row's result does not depend on the row count). With
// row_count_free_order (summation::fastest), prefill rows of bf16 weights take the outer-product
// GEMM instead (bf16_outer_gemm.hpp), whose order differs from the decode tile's.
template <simd::isa Isa = simd::native, class W>
void gemm_bf16_activations(matrix_view<float const> x, matrix_view<W const> w, float const* bias, matrix_view<float> y,
                           thread_pool& pool, bool row_count_free_order = false) {
  index_t const T = x.extent(0), K = x.extent(1);
  if (T == 0 || w.extent(0) == 0) return;
#if defined(SWITCHYARD_BF16_OUTER_GEMM)
  if constexpr (std::is_same_v<Isa, simd::avx512> && std::is_same_v<W, format::bf16>) {
    // One 32-bit load per weight pair: K even and 4-byte aligned rows.
    bool const pairs_aligned = K % 2 == 0 && w.stride(0) % 2 == 0 && reinterpret_cast<std::uintptr_t>(w.data()) % 4 == 0;
    if (row_count_free_order && T > gemv_max_rows && pairs_aligned) {
      auto& pack = detail::activation_scratch<std::uint32_t>(detail::outer_pack_words(T, K));
      detail::bf16_outer_gemm(x, w, bias, y, pack.data(), pool);
      return;
    }
  }
#else
  (void)row_count_free_order;
#endif
#if SWITCHYARD_HAS_AVX512BF16
  if constexpr (std::is_same_v<Isa, simd::avx512> && std::is_same_v<W, format::bf16>) {
    auto& xb = detail::activation_scratch<format::bf16>(static_cast<std::size_t>(T * K));
    pool.parallel_for(0, T, std::max<index_t>(1, 16384 / std::max<index_t>(K, 1)), [&](index_t lo, index_t hi) {
      for (index_t t = lo; t < hi; ++t)
        for (index_t k = 0; k < K; ++k) xb[static_cast<std::size_t>(t * K + k)] = format::bf16(x.row(t)[k]);
    });
    if (T <= gemv_max_rows) detail::gemv_blocked<Isa, detail::dpbf16_tile>(xb.data(), K, w, bias, y, T, K, pool);
    else detail::gemm_blocked<Isa, detail::dpbf16_tile>(xb.data(), K, w, bias, y, T, K, pool);
    return;
  }
#endif
  auto& xr = detail::activation_scratch<float>(static_cast<std::size_t>(T * K));
  pool.parallel_for(0, T, std::max<index_t>(1, 16384 / std::max<index_t>(K, 1)), [&](index_t lo, index_t hi) {
    for (index_t t = lo; t < hi; ++t)
      for (index_t k = 0; k < K; ++k) xr[static_cast<std::size_t>(t * K + k)] = format::bf16(x.row(t)[k]).to_float();
  });
  using tile = detail::f32_activations_tile<Isa>;
  if (T <= gemv_max_rows) detail::gemv_blocked<Isa, tile>(xr.data(), K, w, bias, y, T, K, pool);
  else detail::gemm_blocked<Isa, tile>(xr.data(), K, w, bias, y, T, K, pool);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
