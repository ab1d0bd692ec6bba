#pragma once
// The three inner pieces shared by prefill (flash_attention.hpp) and decode (paged_decode.hpp):
//
//   qk_tile      S[RR][NV*L] = Q[RR][D] . K^T, K stored transposed ([d][keys], d-stride given):
//                one broadcast of q[r][d] against NV key vectors per step, an outer product with
//                RR*NV accumulators in registers and no horizontal sums.
//   softmax_row  the online-softmax update of one row (running max m, running sum l) in base 2:
//                the queries arrive pre-multiplied by scale * log2(e), so exp becomes exp2.
//   pv_tile      O[RR][CV*L chunk] = alpha * O + P[RR][keys] . V[keys][chunk], V row-major.
//
// RR (rows) is chosen by the caller so RR * NV accumulators plus the loaded vectors fit the
// register file (rows_per_tile<Isa>). Element types of K and V are any format Isa::load_as_f32
// widens (f32, bf16, f16, int8, fp8): the conversion happens in registers, never in a copy.
#include <cmath>
#include <limits>
#include <utility>

#include "switchyard/core/check.hpp"
#include "switchyard/core/simd/simd.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention::host {

// Rows per register tile: RR rows x 2 vectors of accumulators, plus 2 operand vectors and a
// broadcast, within the register file; at most 8 (past that the loads stop being the limit).
template <simd::isa Isa>
inline constexpr int rows_per_tile = (Isa::registers - 4) / 2 < 8 ? (Isa::registers - 4) / 2 : 8;

// Keys per QK tile in prefill: two vectors.
template <simd::isa Isa>
inline constexpr index_t keys_per_tile = 2 * Isa::lanes;

// kt[v] points at key vector v (L keys) for d = 0; row d of each is kt_stride elements further.
// (Separate pointers let one tile span several small cache blocks.)
template <simd::isa Isa, int RR, int NV, class KT>
SWITCHYARD_FORCE_INLINE void qk_tile(float const* SWITCHYARD_RESTRICT q, index_t q_stride, index_t d_len,
                                     KT const* const* kt, index_t kt_stride, float* SWITCHYARD_RESTRICT s,
                                     index_t s_stride) noexcept {
  using V = typename Isa::vf;
  constexpr int L = Isa::lanes;
  V acc[RR][NV];
  KT const* k[NV];
  for (int v = 0; v < NV; ++v) k[v] = kt[v];
  for (int r = 0; r < RR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = Isa::zero();
  for (index_t d = 0; d < d_len; ++d) {
    V kv[NV];
    for (int v = 0; v < NV; ++v) kv[v] = Isa::load_as_f32(k[v] + d * kt_stride);
    for (int r = 0; r < RR; ++r) {
      V const qb = Isa::set1(q[r * q_stride + d]);
      for (int v = 0; v < NV; ++v) acc[r][v] = Isa::fma(qb, kv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RR; ++r)
    for (int v = 0; v < NV; ++v) Isa::store(s + r * s_stride + v * L, acc[r][v]);
}

// Rows of a QK tile NV key vectors wide: RR * NV accumulators + NV operands + a broadcast fit.
template <simd::isa Isa, int NV>
inline constexpr int qk_rows_per_tile = (Isa::registers - NV - 2) / NV < 8 ? (Isa::registers - NV - 2) / NV : 8;

// Any row count, in tiles of qk_rows_per_tile rows and one fixed-size instance for the rest.
template <simd::isa Isa, int NV, class KT>
void qk_rows(index_t rows, float const* q, index_t q_stride, index_t d_len, KT const* const* kt, index_t kt_stride,
             float* s, index_t s_stride) noexcept {
  constexpr int RR = qk_rows_per_tile<Isa, NV>;
  index_t r = 0;
  for (; r + RR <= rows; r += RR)
    qk_tile<Isa, RR, NV>(q + r * q_stride, q_stride, d_len, kt, kt_stride, s + r * s_stride, s_stride);
  [&]<int... I>(std::integer_sequence<int, I...>) {
    index_t const left = rows - r;
    ((left == I + 1 ? qk_tile<Isa, I + 1, NV>(q + r * q_stride, q_stride, d_len, kt, kt_stride, s + r * s_stride,
                                              s_stride)
                    : void()),
     ...);
  }(std::make_integer_sequence<int, RR - 1>{});
}

// One row of scores s[0..n) (n a multiple of L; masked entries already -inf) -> probabilities in
// place; updates the running max m and sum l and returns alpha = exp2(m_old - m_new), the factor
// by which the row's accumulated output must shrink. A row that has seen only masked keys keeps
// m = -inf, gets all-zero probabilities and alpha = 1.
template <simd::isa Isa>
SWITCHYARD_FORCE_INLINE float softmax_row(float* s, index_t n, float& m, float& l) noexcept {
  using V = typename Isa::vf;
  constexpr int L = Isa::lanes;
  V mx = Isa::load(s);
  for (index_t j = L; j < n; j += L) mx = Isa::max(mx, Isa::load(s + j));
  float const m_new = std::fmax(m, Isa::reduce_max(mx));
  if (m_new == -std::numeric_limits<float>::infinity()) {
    for (index_t j = 0; j < n; j += L) Isa::store(s + j, Isa::zero());
    return 1.0f;
  }
  V const mv = Isa::set1(m_new);
  V sum = Isa::zero();
  for (index_t j = 0; j < n; j += L) {
    V const p = Isa::exp2(Isa::sub(Isa::load(s + j), mv));
    Isa::store(s + j, p);
    sum = Isa::add(sum, p);
  }
  float const alpha = std::exp2(m - m_new);  // m = -inf: 0, and l = 0 anyway
  l = l * alpha + Isa::reduce_add(sum);
  m = m_new;
  return alpha;
}

// O rows [RR][dv] (dv a multiple of CV*L) = alpha[r] * O + sum_j p[r][j] * V[j][:] for j < keys,
// in chunks of CV vectors. (Per-key dequantization scales of V are folded into p by the caller.)
template <simd::isa Isa, int RR, int CV, class VT>
SWITCHYARD_FORCE_INLINE void pv_tile(float const* SWITCHYARD_RESTRICT p, index_t p_stride, index_t keys,
                                     VT const* SWITCHYARD_RESTRICT v, index_t v_stride, float* SWITCHYARD_RESTRICT o,
                                     index_t o_stride, index_t dv, float const* alpha) noexcept {
  using Vec = typename Isa::vf;
  constexpr int L = Isa::lanes;
  for (index_t c = 0; c < dv; c += CV * L) {
    Vec acc[RR][CV];
    for (int r = 0; r < RR; ++r) {
      Vec const a = Isa::set1(alpha[r]);
      for (int u = 0; u < CV; ++u) acc[r][u] = Isa::mul(Isa::load(o + r * o_stride + c + u * L), a);
    }
    for (index_t j = 0; j < keys; ++j) {
      Vec vv[CV];
      for (int u = 0; u < CV; ++u) vv[u] = Isa::load_as_f32(v + j * v_stride + c + u * L);
      for (int r = 0; r < RR; ++r) {
        Vec const pb = Isa::set1(p[r * p_stride + j]);
        for (int u = 0; u < CV; ++u) acc[r][u] = Isa::fma(pb, vv[u], acc[r][u]);
      }
    }
    for (int r = 0; r < RR; ++r)
      for (int u = 0; u < CV; ++u) Isa::store(o + r * o_stride + c + u * L, acc[r][u]);
  }
}

// Any row count; dv a multiple of 2L. Few rows (decode's query-head groups) take chunks of four
// vectors when dv allows, so each loaded V vector feeds more FMAs per broadcast of p.
template <simd::isa Isa, class VT>
void pv_rows(index_t rows, float const* p, index_t p_stride, index_t keys, VT const* v, index_t v_stride, float* o,
             index_t o_stride, index_t dv, float const* alpha) noexcept {
  constexpr int L = Isa::lanes;
  constexpr int R4 = qk_rows_per_tile<Isa, 4>;
  if (rows <= R4 && dv % (4 * L) == 0) {
    [&]<int... I>(std::integer_sequence<int, I...>) {
      ((rows == I + 1 ? pv_tile<Isa, I + 1, 4>(p, p_stride, keys, v, v_stride, o, o_stride, dv, alpha) : void()), ...);
    }(std::make_integer_sequence<int, R4>{});
    return;
  }
  constexpr int RR = rows_per_tile<Isa>;
  index_t r = 0;
  for (; r + RR <= rows; r += RR)
    pv_tile<Isa, RR, 2>(p + r * p_stride, p_stride, keys, v, v_stride, o + r * o_stride, o_stride, dv, alpha + r);
  [&]<int... I>(std::integer_sequence<int, I...>) {
    index_t const left = rows - r;
    ((left == I + 1 ? pv_tile<Isa, I + 1, 2>(p + r * p_stride, p_stride, keys, v, v_stride, o + r * o_stride, o_stride,
                                             dv, alpha + r)
                    : void()),
     ...);
  }(std::make_integer_sequence<int, RR - 1>{});
}

}  // namespace attention::host
SWITCHYARD_NAMESPACE_END
