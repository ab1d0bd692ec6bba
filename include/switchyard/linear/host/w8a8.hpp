#pragma once
// W8A8: int8 weight codes (per-tensor or per-channel scales) times activations quantized to int8
// per token on the fly (absmax / 127, round half to even), accumulated in int32:
//   y[t, n] = sx[t] * sw[n] * sum_k qx[t, k] qw[n, k]
// The integer sum is exact, so the only error against the f32 layer on the same codes is the
// activations' rounding (a relative 2^-9 or so per element; tests/support/tolerance.hpp).
//
// Kernels: decode (fewer than w8a8_gemm_min_rows tokens, or no VNNI): for each output row n
// (threads split the rows), the K codes are read once and dotted with every token's codes, which
// stay in L1/L2. Prefill (VNNI): a register-tiled GEMM, 4 tokens x 4 weight rows per tile
// (detail::w8a8_tile), so each loaded vector feeds four dot products instead of one. With AVX512-VNNI the dot product is vpdpbusd, which
// multiplies unsigned by signed bytes: the activations are stored offset by +128 (as u8) and
// 128 * sum_k qw[n, k], computed in the same pass as the first token's dot product, is subtracted. Elsewhere a plain int32 loop
// (auto-vectorized) gives the same integers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

#if defined(__AVX512VNNI__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define SWITCHYARD_W8A8_VNNI 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

// x [T, K] -> int8 codes per token (stored +128 as u8 for VNNI) and one scale per token. K is
// padded to a multiple of 64 with zero codes (128 in the offset form).
struct per_token_int8 {
  index_t rows = 0, cols = 0, stride = 0;
  std::vector<std::uint8_t> q;  // qx + 128
  std::vector<float> scale;

  void quantize(matrix_view<float const> x) {
    rows = x.extent(0), cols = x.extent(1), stride = (cols + 63) / 64 * 64;
    q.assign(static_cast<std::size_t>(rows * stride), std::uint8_t{128});
    scale.resize(static_cast<std::size_t>(rows));
    for (index_t t = 0; t < rows; ++t) {
      float amax = 0.0f;
      for (index_t k = 0; k < cols; ++k) amax = std::fmax(amax, std::fabs(x(t, k)));
      float const d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
      for (index_t k = 0; k < cols; ++k)
        q[static_cast<std::size_t>(t * stride + k)] = static_cast<std::uint8_t>(static_cast<int>(std::nearbyint(x(t, k) * id)) + 128);
      scale[static_cast<std::size_t>(t)] = d;
    }
  }
};

namespace detail {

// sum_k (xq[k] + 128) * w[k] for k < K, straight from the row (a masked load for the tail), and,
// when wsum is given, sum_k w[k] in the same pass (vpdpbusd with a vector of ones).
inline std::int32_t offset_dot(std::uint8_t const* x, std::int8_t const* w, index_t K, std::int32_t* wsum) {
#if defined(SWITCHYARD_W8A8_VNNI)
  __m512i acc = _mm512_setzero_si512(), accw = _mm512_setzero_si512();
  __m512i const ones = _mm512_set1_epi8(1);
  index_t k = 0;
  for (; k + 64 <= K; k += 64) {
    __m512i const wv = _mm512_loadu_si512(w + k);
    acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x + k), wv);
    if (wsum) accw = _mm512_dpbusd_epi32(accw, ones, wv);
  }
  if (k < K) {
    __mmask64 const m = K - k == 64 ? ~__mmask64{0} : (__mmask64{1} << (K - k)) - 1;
    __m512i const wv = _mm512_maskz_loadu_epi8(m, w + k);
    acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(m, x + k), wv);
    if (wsum) accw = _mm512_dpbusd_epi32(accw, ones, wv);
  }
  // Horizontal sums through memory: GCC 12 warns on the shuffle / extract intrinsics' undefined
  // temporaries, and one store per dot product of K bytes costs nothing.
  alignas(64) std::int32_t lanes[16];
  _mm512_store_si512(lanes, acc);
  std::int32_t sum = 0;
  for (std::int32_t v : lanes) sum += v;
  if (wsum) {
    _mm512_store_si512(lanes, accw);
    std::int32_t ws = 0;
    for (std::int32_t v : lanes) ws += v;
    *wsum = ws;
  }
  return sum;
#else
  std::int32_t acc = 0, ws = 0;
  for (index_t k = 0; k < K; ++k) {
    acc += static_cast<std::int32_t>(x[k]) * static_cast<std::int32_t>(w[k]);
    ws += w[k];
  }
  if (wsum) *wsum = ws;
  return acc;
#endif
}

#if defined(SWITCHYARD_W8A8_VNNI)
// GCC 12 implements the unpack and shuffle intrinsics through _mm512_undefined_* operands and then
// warns about them at every inlining site; the operands are never read. Quieted for this block.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The four int32 totals of a, b, c, d (16 lanes each), in that order: a transposing add tree
// (unpack within 128-bit lanes, then across them), no extracts through memory.
inline __m128i reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  __m512i const ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  __m512i const cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));  // [a b c d] per 128
  u = _mm512_add_epi32(u, _mm512_shuffle_i32x4(u, u, 0x4E));  // + the other 256-bit half
  u = _mm512_add_epi32(u, _mm512_shuffle_i32x4(u, u, 0xB1));  // + the neighbouring 128-bit lane
  return _mm512_castsi512_si128(u);
}

// The W8A8 GEMM tile: R tokens x C weight rows (C a multiple of 4), sum_k (xq + 128) w for each
// pair. x: R rows of stride S (padded with the offset zero, 128); w: C rows of K codes (a masked
// load for the tail). The R x C accumulators, R token vectors and one weight vector stay in
// registers: per 64 bytes of k, R token loads (from L2) and C weight loads (from L1) feed R C
// vpdpbusd. Token loads are the scarce ones (the group's weight rows sit in L1), hence wide C.
template <int R, int C>
inline void w8a8_tile(std::uint8_t const* x, index_t S, std::int8_t const* const (&w)[C], index_t K,
                      std::int32_t (&out)[R][C]) {
  static_assert(C % 4 == 0 && R * C + R + 1 <= 32, "the tile must fit the 32 zmm registers");
  __m512i acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  auto step = [&](index_t k, __mmask64 m) {
    __m512i xv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      xv[r] = _mm512_loadu_si512(x + r * S + k);
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      __m512i const wv = _mm512_maskz_loadu_epi8(m, w[c] + k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], xv[r], wv);
    }
  };
  index_t k = 0;
  for (; k + 64 <= K; k += 64) step(k, ~__mmask64{0});
  if (k < K) step(k, (__mmask64{1} << (K - k)) - 1);
  alignas(16) std::int32_t four[4];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; c += 4) {
      _mm_store_si128(reinterpret_cast<__m128i*>(four), reduce4(acc[r][c], acc[r][c + 1], acc[r][c + 2], acc[r][c + 3]));
      for (int i = 0; i < 4; ++i) out[r][c + i] = four[i];
    }
}

// The code sums of four weight rows (one vpdpbusd against ones per 64 codes each).
inline void w8a8_row_sums(std::int8_t const* const* w, index_t K, std::int32_t* wsum) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  __m512i const ones = _mm512_set1_epi8(1);
  for (index_t k = 0; k < K; k += 64) {
    __mmask64 const m = K - k >= 64 ? ~__mmask64{0} : (__mmask64{1} << (K - k)) - 1;
    for (int c = 0; c < 4; ++c) acc[c] = _mm512_dpbusd_epi32(acc[c], ones, _mm512_maskz_loadu_epi8(m, w[c] + k));
  }
  alignas(16) std::int32_t four[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(four), reduce4(acc[0], acc[1], acc[2], acc[3]));
  for (int c = 0; c < 4; ++c) wsum[c] = four[c];
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

}  // namespace detail

// Rows at or above which the tiled W8A8 GEMM replaces the per-row dot products.
inline constexpr index_t w8a8_gemm_min_rows = 4;

// y = (x W^T) with W = codes * scale (scale per row, or one), plus bias. codes [N, K] contiguous rows.
inline void w8a8_linear(matrix_view<float const> x, matrix_view<std::int8_t const> codes, float const* row_scales,
                        bool per_channel, float const* bias, matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = codes.extent(0), K = codes.extent(1);
  per_token_int8 xa;
  xa.quantize(x);
  index_t const S = xa.stride;
  auto store = [&](index_t t, index_t n, std::int32_t dot, std::int32_t wsum) {
    float const sw = per_channel ? row_scales[n] : row_scales[0];
    y(t, n) = xa.scale[static_cast<std::size_t>(t)] * sw * static_cast<float>(dot - 128 * wsum) + (bias ? bias[n] : 0.0f);
  };
#if defined(SWITCHYARD_W8A8_VNNI)
  if (T >= w8a8_gemm_min_rows) {
    // GEMM: threads split groups of 4 weight rows (a short last group repeats its last row and
    // stores only the rows it has). Within a group, tokens go in tiles of 4 (then 1), in
    // blocks of about 512 KiB of codes so that they stay in L2 while the group's rows (in L1)
    // meet each of them; the group's code sums come with its first tile.
    constexpr int tile_tokens = 4, tile_cols = 4;  // 24 accumulators + 6 token vectors + 1 weight vector
    index_t const groups = (N + tile_cols - 1) / tile_cols;
    index_t const block = std::max<index_t>(tile_tokens, (index_t{512} << 10) / S / tile_tokens * tile_tokens);
    pool.parallel_for(0, groups, 1, [&](index_t g0, index_t g1) {
      for (index_t t0 = 0; t0 < T; t0 += block) {
        index_t const t1 = std::min(T, t0 + block);
        for (index_t g = g0; g < g1; ++g) {
          index_t const n0 = tile_cols * g, rows = std::min<index_t>(tile_cols, N - n0);
          std::int8_t const* w[tile_cols];
          for (int c = 0; c < tile_cols; ++c) w[c] = &codes(n0 + std::min<index_t>(c, rows - 1), 0);
          std::int32_t wsum[tile_cols];
          for (int c = 0; c < tile_cols; c += 4) detail::w8a8_row_sums(w + c, K, wsum + c);
          std::int32_t dots[tile_tokens][tile_cols], one[1][tile_cols];
          index_t t = t0;
          for (; t + tile_tokens <= t1; t += tile_tokens) {
            detail::w8a8_tile<tile_tokens, tile_cols>(xa.q.data() + t * S, S, w, K, dots);
            for (int r = 0; r < tile_tokens; ++r)
              for (int c = 0; c < rows; ++c) store(t + r, n0 + c, dots[r][c], wsum[c]);
          }
          for (; t < t1; ++t) {
            detail::w8a8_tile<1, tile_cols>(xa.q.data() + t * S, S, w, K, one);
            for (int c = 0; c < rows; ++c) store(t, n0 + c, one[0][c], wsum[c]);
          }
        }
      }
    });
    return;
  }
#endif
  pool.parallel_for(0, N, 8, [&](index_t lo, index_t hi) {
    for (index_t n = lo; n < hi; ++n) {
      std::int8_t const* w = &codes(n, 0);
      std::int32_t wsum = 0;
      for (index_t t = 0; t < T; ++t) {
        std::int32_t const acc = detail::offset_dot(xa.q.data() + t * S, w, K, t == 0 ? &wsum : nullptr);
        store(t, n, acc, wsum);
      }
    }
  });
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
