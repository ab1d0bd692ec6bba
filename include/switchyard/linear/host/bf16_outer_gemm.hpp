#pragma once
// Prefill GEMM for bf16 activations times bf16 weights as an outer product: vectors run over 16
// tokens, and each weight pair (W[n][2p], W[n][2p+1]) is broadcast from memory into vdpbf16ps
// (AVX512-BF16's embedded 32-bit broadcast), so the weights are used as stored -- no packed copy
// -- and only the activations are re-laid: pairs [K/2][Tp], 16 tokens per vector.
//
// Why not the dot-product tile (bf16_activations.hpp): that tile ends every output in a
// horizontal reduction and reads each activation vector once per three weight rows; here a
// register tile of 48 tokens x 8 weight rows (24 accumulators) reads three activation vectors and
// eight 4-byte weight pairs per 24 vdpbf16ps, and an output is never reduced across lanes.
// bench/NOTES.md: 1.4-1.9x the dot tile on the Mixtral expert shapes.
//
// Summation order: an output accumulates its k pairs one after another (vdpbf16ps adds a pair's
// two exact products to the lane), whatever its token's lane or tile: rows do not influence each
// other. It is not the dot tile's order (16 lane partial sums, then a tree), so a row's result
// differs in the last bits between this GEMM and the decode GEMV: linear takes it only when the
// caller allows results to depend on the row count (summation::fastest, linear.hpp).
// K is cut into panels (accumulators stored to y and reloaded: the same f32 values, so the same
// order) so that a panel of activation pairs stays in L2 for every weight row of the thread.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define SWITCHYARD_BF16_OUTER_GEMM 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

#if defined(SWITCHYARD_BF16_OUTER_GEMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Weight rows per register tile: 8 rows x 3 vectors of 16 tokens = 24 accumulators. (12 rows x 2
// vectors measured slower: the twelve row pointers do not fit the general registers; 6 x 4 and
// 4 x 6 broadcast less but measured 3-8% slower, bench/NOTES.md.)
inline constexpr int outer_rows = 8;
inline constexpr index_t outer_tokens = 48;  // tokens per full register tile
// Tokens are padded to a multiple of 8, not 16: the last tile may end in a half (256-bit) vector,
// so an expert that got 113 tokens computes 120 token lanes, not 128 (vdpbf16ps on 256 bits has
// the same throughput per lane).
inline constexpr index_t outer_token_step = 8;

inline index_t outer_padded_tokens(index_t T) { return (T + outer_token_step - 1) / outer_token_step * outer_token_step; }
// Words of scratch that bf16_outer_gemm needs for T x K activations.
inline std::size_t outer_pack_words(index_t T, index_t K) { return static_cast<std::size_t>(outer_padded_tokens(T) * (K / 2)); }

// 16 pairs (x[2p], x[2p + 1]) of 32 floats rounded to nearest even as format::bf16 does (a NaN
// stays a quiet NaN; subnormals kept), as 16 words with x[2p] in the low half. `n` pairs valid.
SWITCHYARD_FORCE_INLINE __m512i bf16_pairs_from_floats(float const* src, index_t n) {
  __mmask16 const m0 = static_cast<__mmask16>(n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1);
  __mmask16 const m1 = static_cast<__mmask16>(n >= 16 ? 0xFFFF : n <= 8 ? 0 : (1u << (2 * (n - 8))) - 1);
  __m512i const u0 = _mm512_maskz_loadu_epi32(m0, src), u1 = _mm512_maskz_loadu_epi32(m1, src + 16);
  auto round = [](__m512i u) {
    __m512i const odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i const r = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
    __mmask16 const nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    return _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
  };
  // The high 16 bits of each rounded lane, in order: halfword k of the result is lane k's.
  __m512i const odd_halves = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                                              25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(round(u0), odd_halves, round(u1));
}

// x [T, K] (K even) rounded to bf16 and laid out as pairs, tile-major: the tile of tokens
// [t0, t0 + width) (width 48, the last one 8..40) starts at pack + P * t0 and holds x[t][2p]
// (low half) and x[t][2p + 1] at [p * width + t - t0]. Each tile's pass over a k panel thus reads
// one sequential stream ([p][Tp] rows had each tile skip the others' words at every pair;
// with the 8-token padding below, 1.03-1.25x, bench/NOTES.md). Tokens T .. Tp-1 are zero.
inline void pack_bf16_pairs(matrix_view<float const> x, std::uint32_t* pack, index_t Tp, thread_pool& pool) {
  index_t const T = x.extent(0), P = x.extent(1) / 2;
  constexpr index_t pb = 64;  // pairs per work item: rows of x read contiguously, 64 at a time
  pool.parallel_for(0, (P + pb - 1) / pb, 1, [&](index_t lo, index_t hi) {
    alignas(64) std::uint32_t words[16];
    for (index_t b = lo; b < hi; ++b) {
      index_t const p0 = b * pb, p1 = std::min(P, p0 + pb);
      for (index_t t0 = 0; t0 < Tp; t0 += outer_tokens) {
        index_t const width = std::min(outer_tokens, Tp - t0);
        std::uint32_t* tile = pack + P * t0 - t0;
        for (index_t t = t0; t < std::min(T, t0 + width); ++t) {
          float const* row = x.row(t);
          for (index_t p = p0; p < p1; p += 16) {
            index_t const n = std::min<index_t>(16, p1 - p);
            _mm512_store_si512(words, bf16_pairs_from_floats(row + 2 * p, n));
            for (index_t i = 0; i < n; ++i) tile[(p + i) * width + t] = words[i];
          }
        }
        for (index_t p = p0; p < p1; ++p)
          for (index_t t = std::max(T, t0); t < t0 + width; ++t) tile[p * width + t] = 0;
      }
    }
  });
}

// Where the weights of the next 8-row group (or the next k panel) start, so that the first token
// tile of this group can prefetch them into L2 while it computes: the first tile is the one that
// pulls its weights from memory, and each row's segment of a panel (~2 KiB) is too short a stream
// for the hardware prefetcher to catch up with. base + r * row_stride + 4 * p is the pair p of row
// r; base is an address (uintptr_t), not a pointer, as it may lie past the matrix (a prefetch
// never faults).
struct next_weights {
  std::uintptr_t base = 0;
  std::uintptr_t row_stride = 0;
};

// MT x 16 tokens (and 8 more in a 256-bit vector when HALF) from t0 against NW weight rows, pairs
// [p0, p1); `tile` is the token tile's packed activations (16 MT + 8 HALF tokens wide). The
// accumulators live in c ([NW][Tp] floats, the rows' sums so far): zero on the first panel, else loaded, stored.
template <int MT, bool HALF, int NW>
SWITCHYARD_FORCE_INLINE void outer_tile(std::uint32_t const* tile, index_t Tp, index_t t0, std::uint32_t const* const* w,
                                        index_t p0, index_t p1, float* c, bool first, next_weights next = {}) {
  constexpr index_t width = 16 * MT + (HALF ? 8 : 0);
  __m512 acc[MT > 0 ? MT : 1][NW];
  __m256 half[NW];
  for (int j = 0; j < NW; ++j) {
    for (int i = 0; i < MT; ++i) acc[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + j * Tp + t0 + 16 * i);
    if constexpr (HALF) half[j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + j * Tp + t0 + 16 * MT);
  }
  for (index_t p = p0; p < p1; ++p) {
    if (next.base)  // row (p mod 8) of the next weights: every 64-byte line of the 8 rows twice
      _mm_prefetch(reinterpret_cast<char const*>(next.base + (p & 7) * next.row_stride + 4 * p), _MM_HINT_T1);
    __m512bh a[MT > 0 ? MT : 1];
    for (int i = 0; i < MT; ++i) a[i] = (__m512bh)_mm512_loadu_si512(tile + p * width + 16 * i);
    __m256bh ah;
    if constexpr (HALF) ah = (__m256bh)_mm256_loadu_si256(reinterpret_cast<__m256i const*>(tile + p * width + 16 * MT));
    for (int j = 0; j < NW; ++j) {
      __m512i const b = _mm512_set1_epi32(static_cast<int>(w[j][p]));
      for (int i = 0; i < MT; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a[i], (__m512bh)b);
      if constexpr (HALF) half[j] = _mm256_dpbf16_ps(half[j], ah, (__m256bh)_mm512_castsi512_si256(b));
    }
  }
  for (int j = 0; j < NW; ++j) {
    for (int i = 0; i < MT; ++i) _mm512_storeu_ps(c + j * Tp + t0 + 16 * i, acc[i][j]);
    if constexpr (HALF) _mm256_storeu_ps(c + j * Tp + t0 + 16 * MT, half[j]);
  }
}

// Rows [n, n + NW) of W against every token, pairs [p0, p1): tiles of 48 tokens, then one of
// 8..40 for the rest.
template <int NW>
SWITCHYARD_FORCE_INLINE void outer_rows_all_tokens(std::uint32_t const* pack, index_t P, index_t Tp, format::bf16 const* w,
                                                   index_t ldw, index_t n, index_t p0, index_t p1, float* c, bool first,
                                                   next_weights next) {
  std::uint32_t const* wr[NW];
  for (int j = 0; j < NW; ++j) wr[j] = reinterpret_cast<std::uint32_t const*>(w + (n + j) * ldw);
  index_t t = 0;
  for (; t + outer_tokens <= Tp; t += outer_tokens, next = {}) outer_tile<3, false, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next);
  switch ((Tp - t) / outer_token_step) {
    case 1: outer_tile<0, true, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next); break;
    case 2: outer_tile<1, false, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next); break;
    case 3: outer_tile<1, true, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next); break;
    case 4: outer_tile<2, false, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next); break;
    case 5: outer_tile<2, true, NW>(pack + P * t, Tp, t, wr, p0, p1, c, first, next); break;
    default: break;  // 0: no tail
  }
}

// 16 x 16 floats transposed in registers: r[i] holds row i on entry, column i on exit
// (unpack pairs of rows, then 2x2 blocks, then 128-bit lanes across the four row quads).
SWITCHYARD_FORCE_INLINE void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + k], 128-bit lane L: rows 4i .. 4i+3 of column 4L + k
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {
    t[k] = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);       // lanes 0, 2 of row quads 0, 1
    t[4 + k] = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD);   // lanes 1, 3
    t[8 + k] = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
    t[12 + k] = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);           // column k (lane 0)
    r[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD);       // column 8 + k (lane 2)
    r[4 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);  // column 4 + k (lane 1)
    r[12 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xDD); // column 12 + k (lane 3)
  }
}

// y[t][r] = c[r * Tp + t] (+ bias[r]) for rows r < rows, tokens t < T: 16 x 16 blocks transposed
// in registers and stored as 64-byte rows of y. (One scalar store per output missed in cache at
// almost every store -- y of the Mixtral gate+up projection is 16 MiB -- and cost ~5% of the GEMM.)
inline void store_sums_transposed(float const* c, index_t Tp, index_t rows, index_t T, float const* bias, float* y, index_t ldy) {
  index_t r = 0;
  for (; r + 16 <= rows; r += 16) {
    __m512 const b = bias ? _mm512_loadu_ps(bias + r) : _mm512_setzero_ps();
    index_t t = 0;
    for (; t + 16 <= T; t += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_ps(c + (r + i) * Tp + t);
      transpose16(v);
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(y + (t + j) * ldy + r, _mm512_add_ps(v[j], b));
    }
    for (; t < T; ++t)
      for (index_t i = r; i < r + 16; ++i) y[t * ldy + i] = c[i * Tp + t] + (bias ? bias[i] : 0.0f);
  }
  for (index_t t = 0; t < T; ++t)
    for (index_t i = r; i < rows; ++i) y[t * ldy + i] = c[i * Tp + t] + (bias ? bias[i] : 0.0f);
}

// y [T, N] = round_bf16(x) W^T (+ bias). K must be even (a weight pair is one 32-bit load) and
// the rows of W 4-byte aligned; pack is scratch of outer_pack_words(T, K) words.
inline void bf16_outer_gemm(matrix_view<float const> x, matrix_view<format::bf16 const> w, float const* bias,
                            matrix_view<float> y, std::uint32_t* pack, thread_pool& pool) {
  index_t const T = x.extent(0), K = x.extent(1), N = w.extent(0), P = K / 2, Tp = outer_padded_tokens(T);
  pack_bf16_pairs(x, pack, Tp, pool);
  // Pairs per panel: the panel's activations (Tp x 4 bytes per pair) take ~256 KiB, in L2.
  index_t const panel = std::max<index_t>(1, std::min(P, std::max<index_t>(256, (index_t{256} << 10) / (4 * Tp))));
  index_t const groups = (N + outer_rows - 1) / outer_rows;
  // Weight-row groups over the threads; several groups per work item so that each panel of
  // activations serves many weight rows from L2.
  index_t const grain = std::max<index_t>(1, std::min<index_t>(16, groups / (4 * index_t{pool.size()})));
  pool.parallel_for(0, groups, grain, [&](index_t g0, index_t g1) {
    index_t const n0 = g0 * outer_rows, n1 = std::min(N, g1 * outer_rows);
    // The work item's sums, [row][Tp]: vector loads and stores for the panels, transposed into y
    // once at the end (a scatter per vector measured slower).
    thread_local std::vector<float> sums;
    if (sums.size() < static_cast<std::size_t>((n1 - n0) * Tp)) sums.resize(static_cast<std::size_t>((n1 - n0) * Tp));
    float* c = sums.data();
    for (index_t p0 = 0; p0 < P; p0 += panel) {
      index_t const p1 = std::min(P, p0 + panel);
      bool const first = p0 == 0;
      index_t n = n0;
      std::uintptr_t const row_bytes = static_cast<std::uintptr_t>(w.stride(0)) * sizeof(format::bf16);
      for (; n + outer_rows <= n1; n += outer_rows) {
        // The next group's rows over this panel, or after the last group, the first group's
        // rows over the next panel.
        next_weights next{reinterpret_cast<std::uintptr_t>(w.data() + (n + outer_rows) * w.stride(0)), row_bytes};
        if (n + outer_rows >= n1)
          next.base = p1 < P ? reinterpret_cast<std::uintptr_t>(w.data() + n0 * w.stride(0)) + 4 * static_cast<std::uintptr_t>(p1 - p0) : 0;
        outer_rows_all_tokens<outer_rows>(pack, P, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first, next);
      }
      for (; n + 4 <= n1; n += 4) outer_rows_all_tokens<4>(pack, P, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first, {});
      for (; n < n1; ++n) outer_rows_all_tokens<1>(pack, P, Tp, w.data(), w.stride(0), n, p0, p1, c + (n - n0) * Tp, first, {});
    }
    if (P == 0) std::fill(c, c + (n1 - n0) * Tp, 0.0f);
    store_sums_transposed(c, Tp, n1 - n0, T, bias ? bias + n0 : nullptr, y.data() + n0, y.stride(0));
  });
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_BF16_OUTER_GEMM

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
