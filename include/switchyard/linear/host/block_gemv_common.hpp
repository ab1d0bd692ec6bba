#pragma once
// What the vectorized block GEMVs (block_gemv_avx512.hpp, block_gemv_avx2.hpp) share: which
// formats are "nibble" formats, how many weight rows share each load of x, the f16 scale
// conversion and MXFP4's code table.
#include <type_traits>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/format/mxfp4.hpp"

#if defined(__F16C__)
#include <immintrin.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host::detail {

// Formats whose codes are 4-bit nibbles in q4_0's layout (element i in the low nibble of byte i,
// element i + B/2 in the high one) with x = s (q - z): the AVX-512 path computes s (sum q x) and
// subtracts s z sum(x) per block, with sum(x) per block precomputed once per call.
template <class F>
struct nibble_format : std::false_type {};
template <>
struct nibble_format<format::q4_0> : std::true_type {
  static format::f16 scale(format::q4_0 const& b) noexcept { return b.d; }
  static int zero(format::q4_0 const&) noexcept { return 8; }
  static std::uint8_t const* codes(format::q4_0 const& b) noexcept { return b.qs; }
};
template <int G, bool A>
struct nibble_format<format::int4_group<G, A>> : std::true_type {
  static format::f16 scale(format::int4_group<G, A> const& b) noexcept { return b.s; }
  static int zero(format::int4_group<G, A> const& b) noexcept { return A ? b.z : 8; }
  static std::uint8_t const* codes(format::int4_group<G, A> const& b) noexcept { return b.qs; }
};

// MXFP4's E2M1 codes, doubled, as f32 lanes to permute by code (codes 0..7: magnitudes, 8..15:
// the same negated). One table lookup replaces widening, converting and applying a sign.
inline constexpr float mxfp4_lanes[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// R weight rows at once share every load of x (K up to 14336 floats: x lives in L2, and one row
// at a time would re-read it from there per row); R * T accumulators stay in registers.
template <int T>
inline constexpr int rows_at_once = T <= 2 ? 4 : (T <= 4 ? 2 : 1);

// R rows of W read side by side are R short streams (a 4096-wide q4_0 row is 36 cache lines),
// and the hardware prefetcher restarts on each: fetch 512 bytes ahead in every stream, past the
// row's end into the same stream of the next pass (row r + R). kb: the block about to be read.
// On the Mixtral down shape (1 thread): 256 bytes beat 1024 (session 5), and 512 beat 256 by
// 9-10% (session 6: q4_0 with int8 activations 14.5-15.6 -> 15.9-16.9 GB/s, q8_0 16.3-16.5 ->
// 17.8-18.2; 768 in between).
template <int R, class F>
SWITCHYARD_FORCE_INLINE void prefetch_ahead(F const* row, index_t ldw, index_t kbs, index_t kb) {
  constexpr index_t ahead = 512;
  index_t const pos = kb * index_t{sizeof(F)} + ahead, len = kbs * index_t{sizeof(F)};
  __builtin_prefetch(reinterpret_cast<char const*>(row) + pos + (pos >= len ? (R - 1) * ldw * index_t{sizeof(F)} : 0), 0, 3);
}

// One weight row at a time is one sequential stream, yet the hardware prefetcher alone left the
// int8-activation GEMV on 1 thread at 13-16 GB/s of ~22 on the K = 2048 / 4096 shapes: a software
// prefetch 3 KiB ahead into L1 gained 18-30% there (bench/NOTES.md). It is used only while x's
// data stay small (int8_zmm_far_budget): at K = 14336 the prefetched lines evicted x (-8%).
inline constexpr index_t far_ahead = 3072;

template <class F>
SWITCHYARD_FORCE_INLINE void prefetch_far(F const* p) {
  __builtin_prefetch(reinterpret_cast<char const*>(p) + far_ahead, 0, 3);
}

// Rows [n0, n1) of a GEMV in passes, pass.template operator()<Rows, Far>(n): R rows at a time
// while `several` (x outgrew L1, so rows share each load of it), then one row at a time,
// prefetching far ahead (Far) while `far` -- the row schedule of the int8 GEMVs.
template <int R, class Pass>
SWITCHYARD_FORCE_INLINE void row_passes(index_t n0, index_t n1, bool several, bool far, Pass&& pass) {
  index_t n = n0;
  if (several)
    for (; n + R <= n1; n += R) pass.template operator()<R, false>(n);
  if (far)
    for (; n < n1; ++n) pass.template operator()<1, true>(n);
  for (; n < n1; ++n) pass.template operator()<1, false>(n);
}

// f16 scale to f32: one instruction with F16C, else format::f16's portable conversion.
SWITCHYARD_FORCE_INLINE float f16_scale(format::f16 h) noexcept {
#if defined(__F16C__)
  return _cvtsh_ss(h.bits);
#else
  return h.to_float();
#endif
}

// Is Isa the instruction set named n? (The ISA structs exist only where compiled, so kernels
// compare names rather than types.)
template <class Isa>
constexpr bool isa_named(char const* n) noexcept {
  char const* a = Isa::name;
  for (; *a && *n; ++a, ++n)
    if (*a != *n) return false;
  return *a == *n;
}

}  // namespace host::detail
SWITCHYARD_NAMESPACE_END
