#pragma once
// Weights stored as int8 or fp8 codes with scales beside them: W[n, k] = code[n, k] * scale, where
// the scale is one of
//   per_tensor   scales [1, 1]                            (fp8 checkpoints with one scale)
//   per_channel  scales [N, 1]: one per output feature    (int8 W8A16, fp8 per-channel)
//   block        scales [ceil(N/128), ceil(K/128)]        (DeepSeek-V3's fp8 weights: 128x128 tiles)
// y = x W^T + b is computed from the codes: the code matrix goes through linear<E>'s kernels
// (codes widened to f32 in registers) and the scales multiply partial results, never the weights
// (per tensor / channel: each output once; block: each 128-wide slice of k once per output).
// With activations::int8 (int8 codes) the layer is W8A8: x quantized per token, integer products.
#include <cmath>
#include <cstdint>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/linear/host/w8a8.hpp"
#include "switchyard/linear/linear.hpp"

SWITCHYARD_NAMESPACE_BEGIN

enum class scale_granularity { per_tensor, per_channel, block };
inline constexpr index_t scale_block = 128;

template <class E>
class scaled_linear {
  static_assert(std::is_same_v<E, std::int8_t> || std::is_same_v<E, format::e4m3> || std::is_same_v<E, format::e5m2>,
                "switchyard::scaled_linear<E>: codes are int8 or fp8");

 public:
  // act = activations::int8 (int8 codes, per-tensor or per-channel scales): W8A8, activations
  // quantized per token on the fly, int32 dot products (linear/host/w8a8.hpp).
  scaled_linear(matrix_view<E const> codes, scale_granularity g, matrix_view<float const> scales,
                vector_view<float const> bias = {}, activations act = activations::f32)
      : codes_(codes), g_(g), scales_(scales), bias_(bias), act_(act) {
    char const* where = "scaled_linear";
    require(act == activations::f32 ||
                (act == activations::int8 && std::is_same_v<E, std::int8_t> && g != scale_granularity::block),
            where, "int8 activations (W8A8) take int8 codes with per-tensor or per-channel scales; other layers take f32");
    index_t const N = codes.extent(0), K = codes.extent(1);
    index_t const rows = g == scale_granularity::per_tensor ? 1
                         : g == scale_granularity::per_channel ? N
                                                               : (N + scale_block - 1) / scale_block;
    index_t const cols = g == scale_granularity::block ? (K + scale_block - 1) / scale_block : 1;
    require(scales.extent(0) == rows && scales.extent(1) == cols && scales.stride(1) == 1, where, "scales are [",
            scales.extent(0), ", ", scales.extent(1), "] but this granularity needs [", rows, ", ", cols, "]");
    require(codes.stride(1) == 1, where, "code rows must be contiguous");
    require(bias.data() == nullptr || bias.extent(0) == N, where, "bias has ", bias.extent(0), " elements for ", N,
            " outputs");
  }

  index_t in_features() const noexcept { return codes_.extent(1); }
  index_t out_features() const noexcept { return codes_.extent(0); }

  template <simd::isa Isa = simd::native>
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    index_t const T = x.extent(0), N = out_features(), K = in_features();
    require(x.extent(1) == K && y.extent(0) == T && y.extent(1) == N && y.stride(1) == 1, "scaled_linear", "x is [",
            x.extent(0), ", ", x.extent(1), "] and y [", y.extent(0), ", ", y.extent(1), "] for a [", N, ", ", K,
            "] weight");
    if constexpr (std::is_same_v<E, std::int8_t>) {
      if (act_ == activations::int8) {
        host::w8a8_linear(x, codes_, scales_.data(), g_ == scale_granularity::per_channel, bias_.data(), y, pool);
        return;
      }
    }
    if (g_ != scale_granularity::block) {
      linear<E>(codes_).template operator()<Isa>(x, y, pool);
      pool.parallel_for(0, T, 1, [&](index_t lo, index_t hi) {
        for (index_t t = lo; t < hi; ++t)
          for (index_t n = 0; n < N; ++n) {
            float const s = g_ == scale_granularity::per_tensor ? scales_(0, 0) : scales_(n, 0);
            y(t, n) = y(t, n) * s + (bias_.data() ? bias_(n) : 0.0f);
          }
      });
      return;
    }
    // Block scales: one 128-wide slice of k at a time through the code kernels, scaled per
    // (row block, slice) and accumulated.
    std::vector<float> part(static_cast<std::size_t>(T * N));
    auto const pv = make_view(part.data(), T, N);
    for (index_t kb = 0; kb * scale_block < K; ++kb) {
      index_t const k0 = kb * scale_block, kw = std::min(scale_block, K - k0);
      matrix_view<E const> slice(&codes_(0, k0), dextents<2>(N, kw), strides<2>{{codes_.stride(0), 1}});
      matrix_view<float const> xs(&x(0, k0), dextents<2>(T, kw), strides<2>{{x.stride(0), 1}});
      linear<E>(slice).template operator()<Isa>(xs, pv, pool);
      pool.parallel_for(0, T, 1, [&](index_t lo, index_t hi) {
        for (index_t t = lo; t < hi; ++t)
          for (index_t n = 0; n < N; ++n) {
            float const v = part[static_cast<std::size_t>(t * N + n)] * scales_(n / scale_block, kb);
            y(t, n) = kb == 0 ? v : y(t, n) + v;
          }
      });
    }
    if (bias_.data())
      for (index_t t = 0; t < T; ++t)
        for (index_t n = 0; n < N; ++n) y(t, n) += bias_(n);
  }

 private:
  matrix_view<E const> codes_;
  scale_granularity g_;
  matrix_view<float const> scales_;
  vector_view<float const> bias_;
  activations act_ = activations::f32;
};

namespace quant {

// Codes and scales for a weight [N, K]: scales from each tile's largest |w| (absmax / 127 for
// int8, / 448 for e4m3, / 57344 for e5m2), codes = the format's rounding of w / scale.
template <class E>
void quantize_scaled(matrix_view<float const> w, scale_granularity g, matrix_view<E> codes, matrix_view<float> scales) {
  float const top = std::is_same_v<E, std::int8_t> ? 127.0f : (std::is_same_v<E, format::e4m3> ? 448.0f : 57344.0f);
  index_t const N = w.extent(0), K = w.extent(1);
  require(codes.extent(0) == N && codes.extent(1) == K, "quant::quantize_scaled", "codes must be [", N, ", ", K, "]");
  auto tile_of = [&](index_t n, index_t k) -> float& {
    if (g == scale_granularity::per_tensor) return scales(0, 0);
    if (g == scale_granularity::per_channel) return scales(n, 0);
    return scales(n / scale_block, k / scale_block);
  };
  for (index_t i = 0; i < scales.extent(0); ++i)
    for (index_t j = 0; j < scales.extent(1); ++j) scales(i, j) = 0.0f;
  for (index_t n = 0; n < N; ++n)
    for (index_t k = 0; k < K; ++k) tile_of(n, k) = std::fmax(tile_of(n, k), std::fabs(w(n, k)));
  for (index_t i = 0; i < scales.extent(0); ++i)
    for (index_t j = 0; j < scales.extent(1); ++j) scales(i, j) = scales(i, j) > 0.0f ? scales(i, j) / top : 1.0f;
  for (index_t n = 0; n < N; ++n)
    for (index_t k = 0; k < K; ++k) codes(n, k) = format::traits<E>::from_float(w(n, k) / tile_of(n, k));
}

}  // namespace quant
SWITCHYARD_NAMESPACE_END
