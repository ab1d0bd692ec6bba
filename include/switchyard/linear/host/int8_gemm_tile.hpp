#pragma once
// The register tile of the int8 GEMM: Rg panels of G weight rows (int8_gemm_pack.hpp) x C token
// rows of int8 activations, over all of K. Per 4 elements of K: Rg vector loads of codes (from
// the panel, in L1/L2) and C 4-byte broadcasts of activations feed Rg x C dot-product
// instructions, so each weight vector loaded serves C tokens and each broadcast Rg x G rows.
// The int32 sums of a block are scaled once per block and token: one convert and one FMA with
// (the rows' weight scales x the token's activation scale) per Rg x C accumulators.
//
//   32-element blocks (q8_0, q4_0):  y += dx d (sum_i u_i xq_i - offset sum_i xq_i)
//     the second term seeds the block's int32 sum (seed = -offset sum xq, per token and block).
//   q4_K / q5_K super blocks:  y += dx (d sum_s sc_s sum_{i in s} u_i xq_i  -  dmin sum_s m_s sum_{i in s} xq_i)
//     the sub-block sums are scaled by sc_s in int32 (vpmulld), the mins by one vpdpwssd per two
//     sub-blocks against the activations' sub-block sums; two conversions per super block.
//   q6_K super blocks:  y += dx d sum_s sc_s (sum_{i in s} u_i xq_i - 32 sum_{i in s} xq_i)
//     each sub-block's int32 sum seeded with -32 sum xq (per token, shared by the Rg x G rows),
//     scaled by sc_s in int32; one conversion per super block.
// All integer sums are exact (|sum| < 2^31 for every format: q5_K's largest is 8 x 63 x 32 x 31
// x 128 ~ 6.4e7, q6_K's 16 x 128 x 16 x 32 x 128 ~ 1.3e8), so the result differs from a
// double-precision product on the same rounded activations only by the f32 accumulation across
// blocks.
#include <cstdint>

#include "switchyard/core/tensor_view.hpp"
#include "switchyard/linear/host/int8_gemm_pack.hpp"
#include "switchyard/linear/host/int8_gemm_vectors.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

// The activations as the tile reads them: T rows of K int8 codes (row stride ldq), per token and
// weight block a scale dx and int8_panel::aux_per_block int32 (32-element blocks: the seed
// -offset sum xq; q4_K, q5_K: 4 int16 pairs of sub-block sums; q6_K: the 16 sub-blocks' seeds
// -32 sum xq), row strides in blocks.
struct int8_gemm_activations {
  std::int8_t const* q;
  index_t ldq;
  float const* dx;
  std::int32_t const* aux;  // [T][kbs][int8_panel::aux_per_block]
  index_t kbs;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// out [C][Rg G]: token c's results for the Rg G rows of the panels (before any bias).
template <class V, class F, int Rg, int C>
SWITCHYARD_FORCE_INLINE void int8_gemm_tile(std::uint8_t const* const (&panel)[Rg], int8_gemm_activations const& xa,
                                            index_t t0, float* out) {
  using P = int8_panel<F, V::G>;
  constexpr int G = V::G;
  using vi = typename V::vi;
  using vf = typename V::vf;
  vf acc[Rg][C];
  for (int r = 0; r < Rg; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = V::zero_f();
  std::int8_t const* xq[C];
  for (int c = 0; c < C; ++c) xq[c] = xa.q + (t0 + c) * xa.ldq;
  for (index_t kb = 0; kb < xa.kbs; ++kb) {
    std::uint8_t const* blk[Rg];
    for (int r = 0; r < Rg; ++r) blk[r] = panel[r] + kb * P::block_bytes;
    float dx[C];
    for (int c = 0; c < C; ++c) dx[c] = xa.dx[(t0 + c) * xa.kbs + kb];
    if constexpr (!P::k_quant) {
      vi isum[Rg][C];
      for (int c = 0; c < C; ++c) {
        vi const seed = V::bcast_i(xa.aux + (t0 + c) * xa.kbs + kb);
        for (int r = 0; r < Rg; ++r) isum[r][c] = seed;
      }
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        vi w[Rg];
        for (int r = 0; r < Rg; ++r) w[r] = V::load_i(blk[r] + j * 4 * G);
        for (int c = 0; c < C; ++c) {
          vi const x = V::bcast_i(xq[c] + kb * 32 + 4 * j);
          for (int r = 0; r < Rg; ++r) isum[r][c] = V::template dot<P::small_codes>(isum[r][c], w[r], x);
        }
      }
      for (int r = 0; r < Rg; ++r) {
        vf const d = V::load_f(blk[r] + P::scales);
        for (int c = 0; c < C; ++c) acc[r][c] = V::fma(V::cvt(isum[r][c]), V::mul(d, V::bcast_f(dx[c])), acc[r][c]);
      }
    } else {
      constexpr int S = P::subs, J = P::chunks;
      vi tot[Rg][C];
      for (int r = 0; r < Rg; ++r)
        for (int c = 0; c < C; ++c) tot[r][c] = V::zero_i();
      for (int s = 0; s < S; ++s) {
        vi part[Rg][C];
        for (int c = 0; c < C; ++c) {
          vi seed = V::zero_i();
          if constexpr (P::q6) seed = V::bcast_i(xa.aux + ((t0 + c) * xa.kbs + kb) * P::aux_per_block + s);
          for (int r = 0; r < Rg; ++r) part[r][c] = seed;
        }
#pragma GCC unroll 8
        for (int j = 0; j < J; ++j) {
          vi w[Rg];
          for (int r = 0; r < Rg; ++r) w[r] = V::load_i(blk[r] + (s * J + j) * 4 * G);
          for (int c = 0; c < C; ++c) {
            vi const x = V::bcast_i(xq[c] + kb * 256 + 4 * (s * J + j));
            for (int r = 0; r < Rg; ++r) part[r][c] = V::template dot<true>(part[r][c], w[r], x);
          }
        }
        for (int r = 0; r < Rg; ++r) {
          vi const sc = V::load_i(blk[r] + P::subscales + s * 4 * G);
          for (int c = 0; c < C; ++c) tot[r][c] = V::add(tot[r][c], V::mullo(part[r][c], sc));
        }
      }
      for (int r = 0; r < Rg; ++r) {
        vf const d = V::load_f(blk[r] + P::scales);
        if constexpr (P::k_mins) {
          vf const dmin = V::load_f(blk[r] + P::dmins);
          for (int c = 0; c < C; ++c) {
            std::int32_t const* pairs = xa.aux + ((t0 + c) * xa.kbs + kb) * P::aux_per_block;
            vi m = V::zero_i();
            for (int p = 0; p < 4; ++p) m = V::dot16(m, V::load_i(blk[r] + P::mins + p * 4 * G), V::bcast_i(pairs + p));
            vf const dxv = V::bcast_f(dx[c]);
            acc[r][c] = V::fma(V::cvt(tot[r][c]), V::mul(d, dxv), acc[r][c]);
            acc[r][c] = V::fnma(V::cvt(m), V::mul(dmin, dxv), acc[r][c]);
          }
        } else {
          for (int c = 0; c < C; ++c) acc[r][c] = V::fma(V::cvt(tot[r][c]), V::mul(d, V::bcast_f(dx[c])), acc[r][c]);
        }
      }
    }
  }
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < Rg; ++r) V::store_f(out + c * Rg * G + r * G, acc[r][c]);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
