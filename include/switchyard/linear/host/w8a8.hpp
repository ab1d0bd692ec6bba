#pragma once
// W8A8: int8 weight codes (per-tensor or per-channel scales) times activations quantized to int8
// per token on the fly (absmax / 127, round half to even), accumulated in int32:
//   y[t, n] = sx[t] * sw[n] * sum_k qx[t, k] qw[n, k]
// The integer sum is exact, so the only error against the f32 layer on the same codes is the
// activations' rounding (a relative 2^-9 or so per element; tests/support/tolerance.hpp).
//
// Kernel: for each output row n (threads split the rows), the K codes are read once and dotted
// with every token's codes, which stay in L1/L2. With AVX512-VNNI the dot product is vpdpbusd, which
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

}  // namespace detail

// y = (x W^T) with W = codes * scale (scale per row, or one), plus bias. codes [N, K] contiguous rows.
inline void w8a8_linear(matrix_view<float const> x, matrix_view<std::int8_t const> codes, float const* row_scales,
                        bool per_channel, float const* bias, matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = codes.extent(0), K = codes.extent(1);
  per_token_int8 xa;
  xa.quantize(x);
  index_t const S = xa.stride;
  pool.parallel_for(0, N, 8, [&](index_t lo, index_t hi) {
    for (index_t n = lo; n < hi; ++n) {
      std::int8_t const* w = &codes(n, 0);
      float const sw = per_channel ? row_scales[n] : row_scales[0];
      float const b = bias ? bias[n] : 0.0f;
      std::int32_t wsum = 0;
      for (index_t t = 0; t < T; ++t) {
        std::int32_t const acc = detail::offset_dot(xa.q.data() + t * S, w, K, t == 0 ? &wsum : nullptr) - 128 * wsum;
        y(t, n) = xa.scale[static_cast<std::size_t>(t)] * sw * static_cast<float>(acc) + b;
      }
    }
  });
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
