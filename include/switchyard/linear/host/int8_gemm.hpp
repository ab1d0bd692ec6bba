#pragma once
// Prefill (T > gemv_max_rows) for q8_0, q4_0, q4_K, q5_K and q6_K weights with int8 activations: x rounded
// once per call to int8 per weight block (int8_activations: the same rounding as the decode
// GEMVs, so a token's activations are rounded the same way whichever kernel takes it), then
// integer dot products against weight panels repacked per group of rows (int8_gemm_pack.hpp)
// in a register tile (int8_gemm_tile.hpp).
//
// Why: the f32 prefill path (block_gemm) dequantizes the blocks to f32 panels and runs the f32
// FMA tile: 16 multiply-adds per instruction. vpdpbusd does 64 per instruction; with the
// per-block scaling (convert, multiply, FMA per 8 of them) about 45, so the 4- and 8-bit formats'
// prefill can run at ~2-3x the f32 path's rate where VNNI exists (bench/NOTES.md).
//
// Threads split groups of Rg x G output rows; each packs its group's panels (~Rg x G x K bytes:
// 32 rows x K = 2816 is 100 KiB, L2) once and runs every token tile of C rows against them.
// Paths (int8_gemm_path): AMX tiles for the k-quants (int8_gemm_amx.hpp: the VNNI path's numbers,
// where the CPU and kernel grant AMX; q8_0 and q4_0 take the VNNI path there), AVX512-VNNI (zmm,
// 16 rows per vector), AVX-VNNI (ymm), AVX2 with the dot product emulated by vpmaddubsw (exact,
// but no faster than f32: model::load keeps f32 on such builds), portable scalar. All compute the
// same integer sums.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemm_amx.hpp"
#include "switchyard/linear/host/int8_gemm_pack.hpp"
#include "switchyard/linear/host/int8_gemm_tile.hpp"
#include "switchyard/linear/host/int8_gemm_vectors.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

enum class int8_gemm_path { portable, avx2, avx2_vnni, avx512_vnni, amx };

// Whether this translation unit compiled a path (the tests run each one that is).
template <int8_gemm_path P>
inline constexpr bool int8_gemm_compiled =
    P == int8_gemm_path::portable
#if defined(SWITCHYARD_INT8_GEMM_YMM)
    || P == int8_gemm_path::avx2
#endif
#if defined(SWITCHYARD_INT8_GEMM_YMM_VNNI)
    || P == int8_gemm_path::avx2_vnni
#endif
#if defined(SWITCHYARD_INT8_GEMM_ZMM)
    || P == int8_gemm_path::avx512_vnni
#endif
#if defined(SWITCHYARD_INT8_GEMM_AMX)
    || P == int8_gemm_path::amx
#endif
    ;

// The path linear<W> takes: the widest compiled (AMX falls back to AVX512-VNNI at run time where
// the CPU or the kernel does not grant it).
inline constexpr int8_gemm_path int8_gemm_best =
#if defined(SWITCHYARD_INT8_GEMM_AMX)
    int8_gemm_path::amx;
#elif defined(SWITCHYARD_INT8_GEMM_ZMM)
    int8_gemm_path::avx512_vnni;
#elif defined(SWITCHYARD_INT8_GEMM_YMM_VNNI)
    int8_gemm_path::avx2_vnni;
#elif defined(SWITCHYARD_INT8_GEMM_YMM)
    int8_gemm_path::avx2;
#else
    int8_gemm_path::portable;
#endif

namespace detail {

// The vector operations and tile of each path: Rg panels x C tokens. zmm: 2 x 4 (8 int32 sums +
// 8 f32 accumulators, 24 for the k-quants, + 2 code vectors + 1 broadcast of the 32 registers);
// ymm and the scalar path 1 x 4 (16 registers).
template <int8_gemm_path P>
struct int8_gemm_config;
template <>
struct int8_gemm_config<int8_gemm_path::portable> {
  using V = int8_scalar;
  static constexpr int Rg = 1, C = 4;
};
#if defined(SWITCHYARD_INT8_GEMM_YMM)
template <>
struct int8_gemm_config<int8_gemm_path::avx2> {
  using V = int8_ymm<false>;
  static constexpr int Rg = 1, C = 4;
};
#endif
#if defined(SWITCHYARD_INT8_GEMM_YMM_VNNI)
template <>
struct int8_gemm_config<int8_gemm_path::avx2_vnni> {
  using V = int8_ymm<true>;
  static constexpr int Rg = 1, C = 4;
};
#endif
#if defined(SWITCHYARD_INT8_GEMM_ZMM)
template <>
struct int8_gemm_config<int8_gemm_path::avx512_vnni> {
  using V = int8_zmm;
  // 2 x 4 measured within 5% of 2 x 6, 3 x 4 and 1 x 8 on the peers shapes (bench/NOTES.md).
  static constexpr int Rg = 2, C = 4;
};
#endif

// f.template operator()<n>() for a run-time n in 1..C (the last token tile of a call).
template <int C, class Fn>
void with_tile_rows(index_t n, Fn&& f) {
  if constexpr (C > 1) {
    if (n < C) return with_tile_rows<C - 1>(n, f);
  }
  f.template operator()<C>();
}

// The activations' per-block extras the tile reads (int8_gemm_activations::aux).
template <class F>
void int8_gemm_aux(int8_activations const& xa, std::vector<std::int32_t>& aux) {
  using P = int8_panel<F, 8>;  // the offsets do not depend on G
  index_t const groups = xa.cols / P::group;
  if constexpr (!P::k_quant) {
    aux.resize(static_cast<std::size_t>(xa.rows * groups));
    for (std::size_t i = 0; i < aux.size(); ++i) aux[i] = -P::offset * xa.sum[i];
  } else {
    constexpr int S = P::subs, L = 256 / S;
    aux.resize(static_cast<std::size_t>(xa.rows * groups * P::aux_per_block));
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t kb = 0; kb < groups; ++kb) {
        std::int8_t const* q = xa.q.data() + t * xa.cols + kb * 256;
        std::int32_t s[S] = {};
        for (int j = 0; j < S; ++j)
          for (int i = 0; i < L; ++i) s[j] += q[L * j + i];
        std::int32_t* a = aux.data() + (t * groups + kb) * P::aux_per_block;
        if constexpr (P::q6) {
          for (int j = 0; j < S; ++j) a[j] = -32 * s[j];
        } else {
          for (int p = 0; p < 4; ++p)  // |s| <= 32 x 127: an int16 each
            a[p] = static_cast<std::int32_t>((static_cast<std::uint32_t>(s[2 * p]) & 0xFFFFu) |
                                             (static_cast<std::uint32_t>(s[2 * p + 1]) << 16));
        }
      }
  }
}

// The vector paths: Rg x G rows per panel group, C tokens per tile (int8_gemm_config).
template <int8_gemm_path Path, class F>
void block_gemm_int8_vector(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                            thread_pool& pool) {
  using Cfg = detail::int8_gemm_config<Path>;
  using V = typename Cfg::V;
  using P = detail::int8_panel<F, V::G>;
  constexpr int Rg = Cfg::Rg, C = Cfg::C, G = V::G;
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  // The calling thread's scratch, named through references for the pool's tasks (as
  // block_gemv_int8 does): rounded once per call, read by every thread.
  thread_local int8_activations xa_scratch;
  thread_local std::vector<std::int32_t> aux_scratch;
  int8_activations& xa = xa_scratch;
  std::vector<std::int32_t>& aux = aux_scratch;
  xa.quantize(x, P::group, pool);
  detail::int8_gemm_aux<F>(xa, aux);
  detail::int8_gemm_activations const act{xa.q.data(), xa.cols, xa.scale.data(), aux.data(), kbs};
  constexpr index_t unit = index_t{Rg} * G;
  index_t const units = (N + unit - 1) / unit;
  float* const yp = y.data();
  index_t const ldy = y.stride(0);
  pool.parallel_for(0, units, 1, [&](index_t lo, index_t hi) {
    thread_local std::vector<std::uint8_t> panel_scratch;
    std::vector<std::uint8_t>& panels = panel_scratch;
    // 64-byte aligned: every code vector then sits in one cache line (a vector's malloc
    // alignment of 16 split every load in two, measured up to 4x slower on whichever format the
    // allocator happened to misalign).
    panels.resize(static_cast<std::size_t>(Rg * P::bytes(kbs) + 64));
    std::uint8_t* const base = panels.data() + (64 - reinterpret_cast<std::uintptr_t>(panels.data()) % 64) % 64;
    std::uint8_t const* panel[Rg];
    for (int r = 0; r < Rg; ++r) panel[r] = base + r * P::bytes(kbs);
    alignas(64) float out[C * unit];
    for (index_t u = lo; u < hi; ++u) {
      index_t const n0 = u * unit, rows = std::min(unit, N - n0);
      for (int r = 0; r < Rg; ++r) {
        index_t const r0 = index_t{r} * G, rr = std::clamp<index_t>(rows - r0, 0, G);
        if (rr > 0) P::pack(&w(n0 + r0, 0), w.stride(0), rr, kbs, base + r * P::bytes(kbs));
        else std::fill_n(base + r * P::bytes(kbs), P::bytes(kbs), std::uint8_t{0});
      }
      for (index_t t0 = 0; t0 < T; t0 += C) {
        detail::with_tile_rows<C>(T - t0, [&]<int Cn>() {
          detail::int8_gemm_tile<V, F, Rg, Cn>(panel, act, t0, out);
          for (int c = 0; c < Cn; ++c) {
            float* yr = yp + (t0 + c) * ldy + n0;
            float const* o = out + c * unit;
            if (bias)
              for (index_t n = 0; n < rows; ++n) yr[n] = o[n] + bias[n0 + n];
            else
              for (index_t n = 0; n < rows; ++n) yr[n] = o[n];
          }
        });
      }
    }
  });
}

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for W [N, K / B] in q8_0, q4_0, q4_K, q5_K or q6_K, any T
// (meant for T > gemv_max_rows), activations rounded to int8 per weight block (per 256 for the
// k-quants, as their GEMVs round them).
template <int8_gemm_path Path = int8_gemm_best, class F>
void block_gemm_int8(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                     thread_pool& pool) {
  static_assert(detail::int8_gemm_format<F>, "the int8 GEMM takes q8_0, q4_0, q4_K, q5_K or q6_K weights");
  static_assert(int8_gemm_compiled<Path>, "this int8 GEMM path is not compiled in this translation unit");
#if defined(SWITCHYARD_INT8_GEMM_AMX)
  if constexpr (Path == int8_gemm_path::amx) {
    if constexpr (detail::amx_k_format<F>) {
      if (amx_int8_ready()) return detail::block_gemm_int8_amx(x, w, bias, y, pool);
    }
    detail::block_gemm_int8_vector<int8_gemm_path::avx512_vnni>(x, w, bias, y, pool);
    return;
  } else
#endif
  {
    detail::block_gemm_int8_vector<Path>(x, w, bias, y, pool);
  }
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
