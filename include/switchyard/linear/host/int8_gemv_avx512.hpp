#pragma once
// The 512-bit VNNI GEMV for nibble formats (q4_0, int4 groups) against int8 activations: 64 code
// bytes (128 weights) per step, two vpdpbusd per step, the scales applied per int32 lane (quad)
// or per block (wide) instead of per group of 32.
//
// Why: the 128-bit form (int8_activations.hpp) spends ~30 instructions per 128 weights -- four
// 16-byte loads and nibble splits, eight vpdpbusd, a convert + broadcast + FMA per block -- which
// keeps one core below the memory bandwidth. Here the same 128 weights cost ~10-16:
//
//   wide layout (int4 groups of 128, 256, ...; B/2 a multiple of 64): a block's code bytes are
//     contiguous, so one load gives 64 low nibbles (elements 0..63) and 64 high nibbles (elements
//     B/2 ..): two vpdpbusd against the activations as stored, into one int32 accumulator per
//     block -- the activations are rounded per block (int8_activations.hpp), so the whole block
//     shares one activation scale and takes one conversion and one FMA with (weight scale x
//     activation scale); the zero point is applied once per block (d z dx sum(xq), precomputed).
//   quad layout (q4_0, int4 groups of 32: 16 code bytes per block): four blocks per step. Their
//     code bytes sit at a stride of 18 or 20 bytes: symmetric formats take four 16-byte loads
//     joined by inserts and four scalar scale conversions spread by one vpermps (Zen 4 runs word
//     permutes several times slower); asymmetric ones, which also need the zero-point word, two
//     overlapping loads over the 80 bytes, one vpermt2w for the four 16-byte runs and vpermw for
//     the f16 scales and zero points, expanded to the lanes of their block. The activations are stored rearranged to match:
//     the four blocks' low halves, then their high halves, so lane 4b + j of both vpdpbusd
//     belongs to block b and one int32 accumulator takes both. The zero point is subtracted in
//     integers (z times the lane's sum of xq, precomputed) before the conversion.
//
// The activations' extra layout (per-lane scales and sums, the rearranged codes) is built once
// per call, about 2 bytes per element of x.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
#include <immintrin.h>
#define SWITCHYARD_INT8_GEMV_ZMM 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define SWITCHYARD_INT8_GEMV_YMM 1  // the AVX2 kernels of int8_gemv_avx2.hpp
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

// Whether this translation unit's int8-activation GEMVs are integer dot products for the GGUF
// block types: AVX512-VNNI and BW (every int8 format), or AVX2 + FMA (the GGUF types,
// int8_gemv_avx2.hpp; int8_gemv_native_for<F> there says per format). Without them the int8
// path computes in f32 on the rounded activations: same rounding, no speed, so model::load's
// automatic choice keeps f32 there.
inline constexpr bool int8_gemv_native =
#if defined(SWITCHYARD_INT8_GEMV_ZMM) || defined(SWITCHYARD_INT8_GEMV_YMM)
    true;
#else
    false;
#endif
namespace detail {

// Whether a nibble format's zero point varies per block (int4 asymmetric groups).
template <class F>
constexpr bool nibble_asymmetric() {
  if constexpr (requires { F::asymmetric; }) return F::asymmetric;
  else return false;
}

// Which zmm layout a nibble format takes (none: the 128-bit path serves it).
enum class int8_zmm_layout { none, wide, quad };

template <class F>
constexpr int8_zmm_layout int8_zmm_layout_of() {
  if constexpr (!nibble_format<F>::value) {
    return int8_zmm_layout::none;
  } else {
    constexpr int H = format::traits<F>::block_elems / 2;
    if constexpr (H % 64 == 0) return int8_zmm_layout::wide;
    // Four 16-byte runs within 128 bytes, scales in the first 64 bytes (checked per format).
    else if constexpr (H == 16 && (sizeof(F) == 18 || sizeof(F) == 20)) return int8_zmm_layout::quad;
    else return int8_zmm_layout::none;
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see the note above the kernels below
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// One chunk of the quad layout (four blocks of 32 codes, src): the codes rearranged (the four
// blocks' low 16-byte halves, then their high halves), the lane scales and zmul times the lane sums.
inline void build_quad_chunk(std::int8_t const* src, float const* scale, std::int32_t zmul, std::int8_t* dst, float* dx,
                             std::int32_t* zsum) {
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
  // 16-byte units of src: b0 lo, b0 hi, b1 lo, ...; as qword indices into (a, b).
  __m512i const a = _mm512_loadu_si512(src), b = _mm512_loadu_si512(src + 64);
  __m512i const lo = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), b);
  __m512i const hi = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), b);
  _mm512_storeu_si512(dst, lo);
  _mm512_storeu_si512(dst + 64, hi);
  // Lane 4b + j: bytes 4j.. of block b's low half (in lo) and of its high half (in hi).
  __m512i const ones = _mm512_set1_epi8(1);
  __m512i const sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
  _mm512_storeu_si512(zsum, _mm512_mullo_epi32(sums, _mm512_set1_epi32(zmul)));
  __m512 const s4 = _mm512_zextps128_ps512(_mm_loadu_ps(scale));
  _mm512_storeu_ps(dx, _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), s4));
#else
  for (index_t b = 0; b < 4; ++b) {
    std::int8_t const* s = src + 32 * b;
    for (index_t i = 0; i < 16; ++i) dst[16 * b + i] = s[i], dst[64 + 16 * b + i] = s[16 + i];
    for (index_t j = 0; j < 4; ++j) {
      std::int32_t sum = 0;
      for (index_t i = 0; i < 4; ++i) sum += s[4 * j + i] + s[16 + 4 * j + i];
      dx[4 * b + j] = scale[b];
      zsum[4 * b + j] = zmul * sum;
    }
  }
#endif
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Extra data of int8 activations for the zmm kernels, for one token row of K elements (from
// int8_activations: groups of B for the wide layout, of 32 for the quad layout; scales dx_g,
// sums s_g of the codes):
//   wide: block_zsum[kb] = dx_kb s_kb (for the zero point); the codes are read as stored.
//   quad: per chunk c of four 32-element blocks (128 elements), 16 lanes, lane 4b + j covering
//         elements 32(4c+b) + 4j .. +3 and 32(4c+b) + 16 + 4j .. +3;  dx[lane] = dx of block
//         4c+b;  zsum[lane] = zmul times the sum of the lane's 8 codes;  q holds the chunk's codes rearranged
//         (low halves of the four blocks, then their high halves).  Blocks after the last full
//         chunk are left to the per-block tail code (natural layout).
struct int8_zmm_activations {
  index_t lanes = 0, qcols = 0, blocks = 0, row_bytes = 0;  // per token row
  std::vector<std::int8_t> q;
  std::vector<float> dx;
  std::vector<std::int32_t> zsum;
  std::vector<float> block_zsum;

  // Bytes a kernel reads per token row besides the weights (codes, scales, sums).
  index_t bytes_per_row() const noexcept { return row_bytes; }

  // zmul: the quad layout's lane sums come premultiplied by a fixed zero point (8 for q4_0 and
  // symmetric groups; 1 where the zero point varies per block and the kernel multiplies).
  void build(int8_zmm_layout layout, index_t B, std::int32_t zmul, index_t rows, index_t cols, std::int8_t const* xq,
             float const* scale, std::int32_t const* sum) {
    if (layout == int8_zmm_layout::wide) {  // groups of B: one scale and sum per block
      lanes = 0, qcols = 0, blocks = cols / B, row_bytes = cols + 8 * blocks;
      block_zsum.resize(static_cast<std::size_t>(rows * blocks));
      for (index_t i = 0; i < rows * blocks; ++i) block_zsum[static_cast<std::size_t>(i)] = scale[i] * static_cast<float>(sum[i]);
    } else if (layout == int8_zmm_layout::quad) {  // groups of 32
      constexpr index_t G = 32;
      index_t const groups = cols / G, chunks = cols / 128;
      lanes = 16 * chunks, qcols = 128 * chunks, blocks = 0, row_bytes = qcols + 8 * lanes;
      q.resize(static_cast<std::size_t>(rows * qcols));
      dx.resize(static_cast<std::size_t>(rows * lanes));
      zsum.resize(static_cast<std::size_t>(rows * lanes));
      for (index_t t = 0; t < rows; ++t)
        for (index_t c = 0; c < chunks; ++c)
          build_quad_chunk(xq + t * cols + c * 128, scale + t * groups + 4 * c, zmul, q.data() + t * qcols + c * 128,
                           dx.data() + t * lanes + 16 * c, zsum.data() + t * lanes + 16 * c);
    }
  }
};

#if defined(SWITCHYARD_INT8_GEMV_YMM)
// quantize_group_zmm's AVX2 form (below): the same operations, so the same codes, scale and sum
// as int8_activations::quantize's portable loop.
SWITCHYARD_FORCE_INLINE void quantize_group_ymm(float const* xs, index_t G, std::int8_t* dst, float& scale, std::int32_t& sum) {
  __m256 const abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 m = _mm256_setzero_ps();
  for (index_t i = 0; i < G; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(xs + i), abs_mask));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float const amax = _mm_cvtss_f32(h);
  float const d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
  __m256 const idv = _mm256_set1_ps(id);
  __m256i s = _mm256_setzero_si256();
  // packs interleave 128-bit lanes: dwords come out as [q0 lo, q1 lo, q2 lo, q3 lo, q0 hi, ...].
  __m256i const order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (index_t i = 0; i < G; i += 32) {
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xs + i + 8 * k), idv));
      s = _mm256_add_epi32(s, q[k]);
    }
    __m256i const p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_permutevar8x32_epi32(p, order));
  }
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
  scale = d;
  sum = _mm_cvtsi128_si32(t);
}
#endif

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
// GCC 12's intrinsics pass _mm512_undefined_*() as the unused merge operand of their masked
// builtins and -Wmaybe-uninitialized flags it at every inlining site; those operands are never
// read. Quieted for the kernels (as in w8a8.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// One group of G activations (G a multiple of 32) to int8: the operations of
// int8_activations::quantize's portable loop, 16 lanes at a time (cvtps rounds half to even, as
// nearbyint does in the default rounding mode), so codes, scale and sum are identical.
SWITCHYARD_FORCE_INLINE void quantize_group_zmm(float const* xs, index_t G, std::int8_t* dst, float& scale, std::int32_t& sum) {
  __m512 const abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  __m512 m = _mm512_setzero_ps();
  for (index_t i = 0; i < G; i += 32)
    m = _mm512_max_ps(m, _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xs + i), abs_mask), _mm512_and_ps(_mm512_loadu_ps(xs + i + 16), abs_mask)));
  float const amax = _mm512_reduce_max_ps(m);
  float const d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
  __m512 const idv = _mm512_set1_ps(id);
  __m512i s = _mm512_setzero_si512();
  for (index_t i = 0; i < G; i += 32) {
    __m512i const q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + i), idv));
    __m512i const q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + i + 16), idv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 16), _mm512_cvtepi32_epi8(q1));
    s = _mm512_add_epi32(s, _mm512_add_epi32(q0, q1));
  }
  scale = d;
  sum = _mm512_reduce_add_epi32(s);
}

// Above this many bytes of activation data per call (int8_zmm_activations::bytes_per_row times
// T), the kernels take several weight rows per pass (int8_activations.hpp).
inline constexpr index_t int8_zmm_l1_budget = 16 * 1024;
// At or below this many, one row at a time also prefetches far ahead (prefetch_far).
inline constexpr index_t int8_zmm_far_budget = 8 * 1024;

// Wide layout: rows of W (blocks of B = 2H, H a multiple of 64), T token rows, R rows of W per
// pass sharing the activation loads; xscale [T][kbs]: the activations' per-block scales. Returns
// the dot products before the bias.
template <int T, int R, bool Far, class F>
SWITCHYARD_FORCE_INLINE void int8_zmm_wide_rows(F const* const (&rowp)[R], index_t ldw, index_t kbs, std::int8_t const* xq,
                                                float const* xscale, index_t cols, int8_zmm_activations const& za,
                                                float (&out)[R][T]) {
  constexpr int B = format::traits<F>::block_elems, H = B / 2;
  __m512i const low = _mm512_set1_epi8(0x0F);
  __m512 acc[R][T];
  float corr[R][T] = {};
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (index_t kb = 0; kb < kbs; ++kb) {
    __m512i isum[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) isum[r][t] = _mm512_setzero_si512();
    if constexpr (R > 1)
      for (int r = 0; r < R; ++r) prefetch_ahead<R>(rowp[r], ldw, kbs, kb);
    else if constexpr (Far)
      prefetch_far(rowp[0] + kb);
    for (int s = 0; s < H; s += 64) {
      __m512i wlo[R], whi[R];
      for (int r = 0; r < R; ++r) {
        __m512i const v = _mm512_loadu_si512(nibble_format<F>::codes(rowp[r][kb]) + s);
        wlo[r] = _mm512_and_si512(v, low);
        whi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      }
      for (int t = 0; t < T; ++t) {
        index_t const k = kb * B + s;
        __m512i const xlo = _mm512_loadu_si512(xq + t * cols + k), xhi = _mm512_loadu_si512(xq + t * cols + k + H);
        for (int r = 0; r < R; ++r) isum[r][t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(isum[r][t], wlo[r], xlo), whi[r], xhi);
      }
    }
    for (int r = 0; r < R; ++r) {
      F const& blk = rowp[r][kb];
      float const d = f16_scale(nibble_format<F>::scale(blk));
      float const dz = d * static_cast<float>(nibble_format<F>::zero(blk));
      for (int t = 0; t < T; ++t) {
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_set1_ps(d * xscale[g]), acc[r][t]);
        corr[r][t] += dz * za.block_zsum[g];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = _mm512_reduce_add_ps(acc[r][t]) - corr[r][t];
}

// Word indices for the quad layout: the four blocks' 16 code bytes (vpermt2w over the loads at
// byte 0 and byte 4S - 64 of the four blocks), their f16 scales and their zero-point words, each
// repeated over the block's four lanes.
template <class F>
struct int8_quad_index {
  static constexpr int S = static_cast<int>(sizeof(F)) / 2;  // words per block
  static constexpr int header = sizeof(F) == 18 ? 1 : 2;     // words before the codes
  static __m512i codes() {
    alignas(64) std::int16_t idx[32];
    for (int o = 0; o < 32; ++o) {
      int const w = (o / 8) * S + header + o % 8;
      idx[o] = static_cast<std::int16_t>(w < 32 ? w : 32 + (w - (4 * S - 32)));  // b starts at word 4S - 32
    }
    return _mm512_load_si512(idx);
  }
  static __m512i lanes(int word) {  // word `word` of each block, for lanes 4b .. 4b+3 (low 256 bits)
    alignas(64) std::int16_t idx[32] = {};
    for (int o = 0; o < 16; ++o) idx[o] = static_cast<std::int16_t>((o / 4) * S + word);
    return _mm512_load_si512(idx);
  }
};

// Quad layout: q4_0 and int4 groups of 32; chunks of four blocks, then the tail blocks one at a
// time in the natural layout.
template <int T, int R, bool Far, class F>
SWITCHYARD_FORCE_INLINE void int8_zmm_quad_rows(F const* const (&rowp)[R], index_t ldw, index_t kbs, std::int8_t const* xq,
                                                float const* xscale, std::int32_t const* xsum, index_t cols,
                                                int8_zmm_activations const& za, float (&out)[R][T]) {
  static_assert(offsetof(F, qs) == (sizeof(F) == 18 ? 2 : 4), "quad layout: codes after the header");
  using Idx = int8_quad_index<F>;
  constexpr bool asym = nibble_asymmetric<F>();
  constexpr int S = static_cast<int>(sizeof(F));
  __m512i const low = _mm512_set1_epi8(0x0F);
  // The word-permute indices: the asymmetric path's only.
  [[maybe_unused]] __m512i const cidx = asym ? Idx::codes() : _mm512_setzero_si512();
  [[maybe_unused]] __m512i const sidx = asym ? Idx::lanes(0) : _mm512_setzero_si512();
  [[maybe_unused]] __m512i const zidx = asym ? Idx::lanes(1) : _mm512_setzero_si512();
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  index_t const chunks = kbs / 4;
  for (index_t c = 0; c < chunks; ++c) {
    __m512i wlo[R], whi[R];
    __m512 dw[R];
    [[maybe_unused]] __m512i zw[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (R > 1) prefetch_ahead<R>(rowp[r], ldw, kbs, 4 * c);
      else if constexpr (Far) prefetch_far(rowp[r] + 4 * c);
      if constexpr (!asym) {
        // Four 128-bit loads and inserts, and the four scales converted one by one and spread by
        // a dword permute: no word permute, which Zen 4 runs several times slower than Intel
        // cores do (bench/NOTES.md, 2026-12-06); the lanes hold the same values either way.
        F const* blk = rowp[r] + 4 * c;
        auto const codes = [&](int i) {
          return _mm_loadu_si128(reinterpret_cast<__m128i const*>(nibble_format<F>::codes(blk[i])));
        };
        __m512i v = _mm512_castsi128_si512(codes(0));
        v = _mm512_inserti32x4(v, codes(1), 1);
        v = _mm512_inserti32x4(v, codes(2), 2);
        v = _mm512_inserti32x4(v, codes(3), 3);
        wlo[r] = _mm512_and_si512(v, low);
        whi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        __m128 const d4 = _mm_setr_ps(f16_scale(nibble_format<F>::scale(blk[0])), f16_scale(nibble_format<F>::scale(blk[1])),
                                      f16_scale(nibble_format<F>::scale(blk[2])), f16_scale(nibble_format<F>::scale(blk[3])));
        dw[r] = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), _mm512_castps128_ps512(d4));
      } else {
        auto const* p = reinterpret_cast<std::uint8_t const*>(rowp[r] + 4 * c);
        __m512i const a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 4 * S - 64);
        __m512i const v = _mm512_permutex2var_epi16(a, cidx, b);
        wlo[r] = _mm512_and_si512(v, low);
        whi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        dw[r] = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(sidx, a)));
        zw[r] = _mm512_and_si512(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(_mm512_permutexvar_epi16(zidx, a))),
                                 _mm512_set1_epi32(0xFF));  // z, not the pad byte above it
      }
    }
    for (int t = 0; t < T; ++t) {
      std::int8_t const* x = za.q.data() + t * za.qcols + c * 128;
      __m512i const xlo = _mm512_loadu_si512(x), xhi = _mm512_loadu_si512(x + 64);
      __m512i const zs = _mm512_loadu_si512(za.zsum.data() + t * za.lanes + 16 * c);
      __m512 const dx = _mm512_loadu_ps(za.dx.data() + t * za.lanes + 16 * c);
      for (int r = 0; r < R; ++r) {
        __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wlo[r], xlo), whi[r], xhi);
        if constexpr (asym) isum = _mm512_sub_epi32(isum, _mm512_mullo_epi32(zw[r], zs));
        else isum = _mm512_sub_epi32(isum, zs);  // 8 sum(xq), premultiplied
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), dx), dw[r], acc[r][t]);
      }
    }
  }
  index_t const groups = cols / 32;
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float res = _mm512_reduce_add_ps(acc[r][t]);
      for (index_t kb = 4 * chunks; kb < kbs; ++kb) {  // tail blocks: K not a multiple of 128
        F const& blk = rowp[r][kb];
        std::uint8_t const* qs = nibble_format<F>::codes(blk);
        std::int8_t const* x = xq + t * cols + kb * 32;
        std::int32_t isum = 0;
        for (int i = 0; i < 16; ++i) isum += (qs[i] & 0x0F) * x[i] + (qs[i] >> 4) * x[16 + i];
        isum -= nibble_format<F>::zero(blk) * xsum[t * groups + kb];
        res += static_cast<float>(isum) * xscale[t * groups + kb] * f16_scale(nibble_format<F>::scale(blk));
      }
      out[r][t] = res;
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_INT8_GEMV_ZMM

}  // namespace detail
}  // namespace host
SWITCHYARD_NAMESPACE_END
