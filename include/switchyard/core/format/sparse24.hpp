#pragma once
// 2:4 semi-structured sparse weights, compressed: of every 4 consecutive weights of a row at most
// 2 are non-zero (the pattern NVIDIA's sparse tensor cores take, and the one 2:4 pruning makes,
// prune/masks.hpp), so only 2 values and their positions are stored:
//
//   sparse24<E>  32 weights: E v[16] (2 per group of 4: group g = weights 4g .. 4g + 3 keeps
//                v[2g], v[2g + 1]), u32 pos (2 bits per kept value: v[k] is weight
//                4 (k / 2) + ((pos >> 2k) & 3))
//
// bf16 / f16 values: 36 bytes per 32 weights against 64 dense (1.78x fewer bytes to read per
// decode token); f32 values: 68 against 128. A block format like the GGUF ones (traits below), so
// linear<sparse24<E>>, the expert banks and causal_lm<W> take it unchanged; the decode GEMV has
// kernels of its own (linear/host/sparse24_gemv.hpp).
//
// quantize() is the conversion from dense weights and is 2:4 magnitude pruning: per group it keeps
// the two weights of largest magnitude (the lower position on ties) and rounds them to E. On
// weights already 2:4 sparse it only rounds (nothing for f32, or for bf16 / f16 values that came
// from E); the two kept positions of a group are always distinct and ascending, a zero weight
// filling a slot where a group has fewer than two non-zeros.
#include <cmath>
#include <cstdint>

#include "switchyard/core/format/traits.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace format {

template <class E>
struct sparse24 {
  static constexpr int elems = 32;
  E v[16];
  std::uint32_t pos;
};
using sparse24_bf16 = sparse24<bf16>;  // the model::load instance (core/instances.hpp)

template <class F>
inline constexpr bool is_sparse24 = false;
template <class E>
inline constexpr bool is_sparse24<sparse24<E>> = true;
static_assert(sizeof(sparse24<bf16>) == 36 && sizeof(sparse24<f16>) == 36 && sizeof(sparse24<float>) == 68,
              "sparse24 blocks: 16 values and one 32-bit position word, no padding");

namespace detail {
inline constexpr char sparse24_f32_name[] = "sparse24_f32";
inline constexpr char sparse24_bf16_name[] = "sparse24_bf16";
inline constexpr char sparse24_f16_name[] = "sparse24_f16";
template <class E>
constexpr char const* sparse24_name() {
  if constexpr (std::is_same_v<E, float>) return sparse24_f32_name;
  else if constexpr (std::is_same_v<E, bf16>) return sparse24_bf16_name;
  else return sparse24_f16_name;
}
}  // namespace detail

template <class E>
  requires(std::is_same_v<E, float> || std::is_same_v<E, bf16> || std::is_same_v<E, f16>)
struct traits<sparse24<E>> {
  using storage = sparse24<E>;
  static constexpr int block_elems = 32, block_bytes = static_cast<int>(sizeof(sparse24<E>));
  static constexpr bool is_scalar = false;
  static constexpr char const* name = detail::sparse24_name<E>();

  static int position(sparse24<E> const* b, int k) noexcept { return 4 * (k / 2) + static_cast<int>((b->pos >> (2 * k)) & 3); }
  static void dequantize(sparse24<E> const* b, float* out) noexcept {
    for (int i = 0; i < 32; ++i) out[i] = 0.0f;
    for (int k = 0; k < 16; ++k) out[position(b, k)] = scalar_traits<E, detail::sparse24_f32_name>::to_float(b->v[k]);
  }
  static void decode(sparse24<E> const* b, float* out) noexcept { dequantize(b, out); }
  static void quantize(float const* x, sparse24<E>* b) noexcept {
    b->pos = 0;
    for (int g = 0; g < 8; ++g) {
      float const* q = x + 4 * g;
      // The two largest magnitudes, lower position first on ties (a NaN counts as the largest, so
      // it is kept and shows); then in ascending order.
      auto mag = [&](int i) { return std::isnan(q[i]) ? INFINITY : std::fabs(q[i]); };
      int first = 0;
      for (int i = 1; i < 4; ++i)
        if (mag(i) > mag(first)) first = i;
      int second = first == 0 ? 1 : 0;
      for (int i = 0; i < 4; ++i)
        if (i != first && mag(i) > mag(second)) second = i;
      int const lo = first < second ? first : second, hi = first < second ? second : first;
      b->v[2 * g] = scalar_traits<E, detail::sparse24_f32_name>::from_float(q[lo]);
      b->v[2 * g + 1] = scalar_traits<E, detail::sparse24_f32_name>::from_float(q[hi]);
      b->pos |= (static_cast<std::uint32_t>(lo) << (4 * g)) | (static_cast<std::uint32_t>(hi) << (4 * g + 2));
    }
  }
};

}  // namespace format
SWITCHYARD_NAMESPACE_END
