#pragma once
// Decode GEMV against int8 activations for the GGUF formats without a kernel of their own --
// q4_1, q5_0, q5_1, iq4_nl (blocks of 32) and q2_K, q3_K, iq4_xs (super-blocks of 256) -- as
// llama.cpp computes them (q8_0 / q8_K activations, integer dot products). Before this they took
// the generic f32 path (decode a block to floats, then FMAs): 0.4-9% of the read bandwidth
// against 60-90% for q4_0 / q4_K with int8 activations (bench/NOTES.md).
//
// Every one of these formats is, per sub-block g of 16 or 32 elements, value = d_g (u - Z) + m_g
// with byte codes u (0..255), a format constant Z and per-sub-block d_g, m_g (m_g = 0 without
// mins). So one kernel serves all: a format only says how to unpack 64 elements into one 512-bit
// vector of codes u and per-lane (4 elements) vectors of d and m (int8_unpack<F>). Then
//   sum_i value_i x_i  ~=  sum over lanes of dx (d (sum u xq - Z sum xq) + m sum xq)
// vpdpbusd takes u as its unsigned operand; -Z sum xq (per lane, a property of the activations
// alone) seeds the accumulator, as in q8_int8_gemv.hpp.
//
// The super-block formats (q2_K, q3_K, iq4_xs) take superblock_int8_gemv.hpp's kernel on 512-bit
// builds, which applies their integer sub-block scales in integers; int8_unpack<F>::scalar still
// defines their values for the portable path and the tests.
//
// AVX2 builds take int8_gemv_avx2.hpp's kernels (linear.hpp); without either, the same sums run
// in portable code from int8_unpack<F>::scalar.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/gemv.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"
#include "switchyard/linear/host/superblock_int8_gemv.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

// Per format: Z, whether there are mins, scalar(block, u[B], d[B/16], m[B/16]) -- the portable
// unpacking, per sub-block of 16 -- and (512-bit builds) zmm(row, step, u, d, m) for elements
// [64 step, 64 step + 64) of a row.
template <class F>
struct int8_unpack;

template <class F>
concept int8_unpackable = requires { int8_unpack<F>::Z; };

// Nibbles of a 32-element group as q4_0 stores them: element i < 16 in the low nibble of qs[i],
// element i + 16 in the high one.
inline void unpack_nibbles(std::uint8_t const* qs, std::uint8_t* u) noexcept {
  for (int i = 0; i < 16; ++i) u[i] = qs[i] & 0x0F, u[i + 16] = qs[i] >> 4;
}
inline std::uint32_t load_u32(std::uint8_t const* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <>
struct int8_unpack<format::q4_1> {
  static constexpr int Z = 0;
  static constexpr bool mins = true;
  static void scalar(format::q4_1 const& b, std::uint8_t* u, float* d, float* m) noexcept {
    unpack_nibbles(b.qs, u);
    d[0] = d[1] = b.d.to_float(), m[0] = m[1] = b.m.to_float();
  }
};
template <>
struct int8_unpack<format::q5_0> {
  static constexpr int Z = 16;
  static constexpr bool mins = false;
  static void scalar(format::q5_0 const& b, std::uint8_t* u, float* d, float* m) noexcept {
    unpack_nibbles(b.qs, u);
    std::uint32_t const qh = load_u32(b.qh);
    for (int i = 0; i < 32; ++i) u[i] = static_cast<std::uint8_t>(u[i] | (((qh >> i) & 1) << 4));
    d[0] = d[1] = b.d.to_float(), m[0] = m[1] = 0.0f;
  }
};
template <>
struct int8_unpack<format::q5_1> {
  static constexpr int Z = 0;
  static constexpr bool mins = true;
  static void scalar(format::q5_1 const& b, std::uint8_t* u, float* d, float* m) noexcept {
    unpack_nibbles(b.qs, u);
    std::uint32_t const qh = load_u32(b.qh);
    for (int i = 0; i < 32; ++i) u[i] = static_cast<std::uint8_t>(u[i] | (((qh >> i) & 1) << 4));
    d[0] = d[1] = b.d.to_float(), m[0] = m[1] = b.m.to_float();
  }
};
// iq4: the code book entry + 128 as the unsigned code (Z = 128).
inline std::uint8_t iq4_u(int code) noexcept { return static_cast<std::uint8_t>(format::detail::iq4_values[code] + 128); }
template <>
struct int8_unpack<format::iq4_nl> {
  static constexpr int Z = 128;
  static constexpr bool mins = false;
  static void scalar(format::iq4_nl const& b, std::uint8_t* u, float* d, float* m) noexcept {
    unpack_nibbles(b.qs, u);
    for (int i = 0; i < 32; ++i) u[i] = iq4_u(u[i]);
    d[0] = d[1] = b.d.to_float(), m[0] = m[1] = 0.0f;
  }
};
// iq4_xs sub-block j's 6-bit scale (before the -32).
inline int iq4_xs_scale(format::iq4_xs const& b, int j) noexcept {
  return ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F) | (((b.scales_h >> (2 * j)) & 3) << 4);
}
template <>
struct int8_unpack<format::iq4_xs> {
  static constexpr int Z = 128;
  static constexpr bool mins = false;
  static void scalar(format::iq4_xs const& b, std::uint8_t* u, float* d, float* m) noexcept {
    float const db = b.d.to_float();
    for (int j = 0; j < 8; ++j) {
      unpack_nibbles(b.qs + 16 * j, u + 32 * j);
      for (int i = 0; i < 32; ++i) u[32 * j + i] = iq4_u(u[32 * j + i]);
      d[2 * j] = d[2 * j + 1] = db * static_cast<float>(iq4_xs_scale(b, j) - 32);
      m[2 * j] = m[2 * j + 1] = 0.0f;
    }
  }
};
template <>
struct int8_unpack<format::q2_K> {
  static constexpr int Z = 0;
  static constexpr bool mins = true;
  static void scalar(format::q2_K const& b, std::uint8_t* u, float* d, float* m) noexcept {
    for (int e = 0; e < 256; ++e) u[e] = static_cast<std::uint8_t>(format::detail::low2(b.qs, e));
    float const db = b.d.to_float(), dm = b.dmin.to_float();
    for (int j = 0; j < 16; ++j)
      d[j] = db * static_cast<float>(b.scales[j] & 0x0F), m[j] = -(dm * static_cast<float>(b.scales[j] >> 4));
  }
};
template <>
struct int8_unpack<format::q3_K> {
  static constexpr int Z = 4;
  static constexpr bool mins = false;
  static void scalar(format::q3_K const& b, std::uint8_t* u, float* d, float* m) noexcept {
    for (int e = 0; e < 256; ++e)
      u[e] = static_cast<std::uint8_t>(format::detail::low2(b.qs, e) + 4 * ((b.hmask[e % 32] >> (e / 32)) & 1));
    float const db = b.d.to_float();
    for (int j = 0; j < 16; ++j) d[j] = db * static_cast<float>(format::detail::q3_K_scale(b.scales, j) - 32), m[j] = 0.0f;
  }
};

// Per-lane activation data for T token rows of K elements (16 lanes of 4 elements per 64): dx =
// the scale of the lane's activation group, seed = -Z sum xq over the lane, xs = sum xq (mins only).
template <int Z>
struct unpacked_int8_lanes {
  index_t lanes = 0;  // per token row: K / 4
  std::vector<float> dx, xs;
  std::vector<std::int32_t> seed;

  void build(int8_activations const& xa, bool mins) {
    index_t const cols = xa.cols, groups = cols / xa.group;
    lanes = cols / 4;
    dx.resize(static_cast<std::size_t>(xa.rows * lanes));
    seed.resize(static_cast<std::size_t>(xa.rows * lanes));
    xs.resize(mins ? static_cast<std::size_t>(xa.rows * lanes) : 0);
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t l = 0; l < lanes; ++l) {
        std::int8_t const* q = xa.q.data() + t * cols + 4 * l;
        std::size_t const i = static_cast<std::size_t>(t * lanes + l);
        std::int32_t const s = q[0] + q[1] + q[2] + q[3];
        dx[i] = xa.scale[static_cast<std::size_t>(t * groups + 4 * l / xa.group)];
        seed[i] = -Z * s;
        if (mins) xs[i] = static_cast<float>(s);
      }
  }
};

// Rows [n0, n1), portable: the same integer sums, one sub-block of 16 at a time. Also the tail of
// the 512-bit kernel (a block count that is not whole steps: from block kb0 on).
template <int T, class F>
void unpacked_int8_rows_portable(int8_activations const& xa, F const* w, index_t ldw, index_t kbs, float const* bias,
                                 float* y, index_t ldy, index_t n0, index_t n1, index_t kb0 = 0, bool add = false) {
  using U = int8_unpack<F>;
  constexpr int B = format::traits<F>::block_elems;
  index_t const groups = xa.cols / xa.group;
  std::uint8_t u[B];
  float d[B / 16], m[B / 16];
  for (index_t n = n0; n < n1; ++n) {
    F const* row = w + n * ldw;
    float res[T] = {};
    for (index_t kb = kb0; kb < kbs; ++kb) {
      U::scalar(row[kb], u, d, m);
      for (int t = 0; t < T; ++t) {
        std::int8_t const* xq = xa.q.data() + t * xa.cols + kb * B;
        for (int g = 0; g < B / 16; ++g) {
          std::int32_t dot = 0, sum = 0;
          for (int i = 0; i < 16; ++i) dot += static_cast<std::int32_t>(u[16 * g + i]) * xq[16 * g + i], sum += xq[16 * g + i];
          index_t const e = kb * B + 16 * g;
          float const dx = xa.scale[static_cast<std::size_t>(t * groups + e / xa.group)];
          res[t] += (d[g] * static_cast<float>(dot - U::Z * sum) + m[g] * static_cast<float>(sum)) * dx;
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      float& out = y[t * ldy + n];
      out = add ? out + res[t] : res[t] + (bias ? bias[n] : 0.0f);
    }
  }
}

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Two 32-element nibble groups (16 bytes each) as 64 codes in element order.
SWITCHYARD_FORCE_INLINE __m512i nibble_pair(std::uint8_t const* qs0, std::uint8_t const* qs1) {
  __m256i const q = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<__m128i const*>(qs0))),
      _mm_loadu_si128(reinterpret_cast<__m128i const*>(qs1)), 1);
  __m256i const mask = _mm256_set1_epi8(0x0F);
  __m256i const lo = _mm256_and_si256(q, mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
  // [lo0 lo1 hi0 hi1] in 128-bit lanes -> [lo0 hi0 lo1 hi1]
  __m512i const v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
}
// Per-lane vector: a over lanes 0..7, b over 8..15 (two groups of 32).
SWITCHYARD_FORCE_INLINE __m512 halves(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}
SWITCHYARD_FORCE_INLINE __m512i iq4_lookup(__m512i codes) {
  alignas(16) static constexpr std::uint8_t table[16] = {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241};
  return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<__m128i const*>(table))), codes);
}

template <class F>
SWITCHYARD_FORCE_INLINE void zmm_unpack(F const* row, index_t s, __m512i& u, __m512& d, __m512& m);

template <>
SWITCHYARD_FORCE_INLINE void zmm_unpack(format::q4_1 const* row, index_t s, __m512i& u, __m512& d, __m512& m) {
  format::q4_1 const* b = row + 2 * s;
  u = nibble_pair(b[0].qs, b[1].qs);
  d = halves(f16_scale(b[0].d), f16_scale(b[1].d));
  m = halves(f16_scale(b[0].m), f16_scale(b[1].m));
}
SWITCHYARD_FORCE_INLINE __m512i add_fifth_bits(__m512i u, std::uint8_t const* qh0, std::uint8_t const* qh1) {
  __mmask64 const hb = static_cast<__mmask64>(load_u32(qh0)) | (static_cast<__mmask64>(load_u32(qh1)) << 32);
  return _mm512_mask_add_epi8(u, hb, u, _mm512_set1_epi8(16));
}
template <>
SWITCHYARD_FORCE_INLINE void zmm_unpack(format::q5_0 const* row, index_t s, __m512i& u, __m512& d, __m512&) {
  format::q5_0 const* b = row + 2 * s;
  u = add_fifth_bits(nibble_pair(b[0].qs, b[1].qs), b[0].qh, b[1].qh);
  d = halves(f16_scale(b[0].d), f16_scale(b[1].d));
}
template <>
SWITCHYARD_FORCE_INLINE void zmm_unpack(format::q5_1 const* row, index_t s, __m512i& u, __m512& d, __m512& m) {
  format::q5_1 const* b = row + 2 * s;
  u = add_fifth_bits(nibble_pair(b[0].qs, b[1].qs), b[0].qh, b[1].qh);
  d = halves(f16_scale(b[0].d), f16_scale(b[1].d));
  m = halves(f16_scale(b[0].m), f16_scale(b[1].m));
}
template <>
SWITCHYARD_FORCE_INLINE void zmm_unpack(format::iq4_nl const* row, index_t s, __m512i& u, __m512& d, __m512&) {
  format::iq4_nl const* b = row + 2 * s;
  u = iq4_lookup(nibble_pair(b[0].qs, b[1].qs));
  d = halves(f16_scale(b[0].d), f16_scale(b[1].d));
}
// 64-element steps in a row of kbs blocks of 32: whole pairs; the odd block is a tail. (The
// super-block formats take superblock_int8_gemv.hpp's kernel.)
constexpr index_t unpacked_steps(index_t kbs) noexcept { return kbs / 2; }

// R weight rows x T token rows; out: the dot products of the whole steps.
template <class F, int T, int R, bool Far>
SWITCHYARD_FORCE_INLINE void unpacked_zmm_rows(F const* const (&rowp)[R], index_t ldw, index_t kbs, int8_activations const& xa,
                                               unpacked_int8_lanes<int8_unpack<F>::Z> const& xl, float (&out)[R][T]) {
  constexpr bool mins = int8_unpack<F>::mins;
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  index_t const steps = unpacked_steps(kbs);
  for (index_t c = 0; c < steps; ++c) {
    __m512i u[R];
    __m512 dw[R], mw[R];
    for (int r = 0; r < R; ++r) {
      index_t const kb = 2 * c;
      if constexpr (R > 1) prefetch_ahead<R>(rowp[r], ldw, kbs, kb);
      else if constexpr (Far) prefetch_far(rowp[r] + kb);
      zmm_unpack<F>(rowp[r], c, u[r], dw[r], mw[r]);
    }
    for (int t = 0; t < T; ++t) {
      __m512i const xq = _mm512_loadu_si512(xa.q.data() + t * xa.cols + 64 * c);
      __m512i const seed = _mm512_loadu_si512(xl.seed.data() + t * xl.lanes + 16 * c);
      __m512 const dx = _mm512_loadu_ps(xl.dx.data() + t * xl.lanes + 16 * c);
      [[maybe_unused]] __m512 xs;
      if constexpr (mins) xs = _mm512_loadu_ps(xl.xs.data() + t * xl.lanes + 16 * c);
      for (int r = 0; r < R; ++r) {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(seed, u[r], xq)), dw[r]);
        if constexpr (mins) v = _mm512_fmadd_ps(mw[r], xs, v);
        acc[r][t] = _mm512_fmadd_ps(v, dx, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int T, class F>
void unpacked_int8_rows_zmm(int8_activations const& xa, unpacked_int8_lanes<int8_unpack<F>::Z> const& xl, F const* w,
                            index_t ldw, index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  index_t const done_blocks = 2 * (kbs / 2);
  auto pass = [&]<int R, bool Far>(index_t n) {
    F const* rowp[R];
    for (int r = 0; r < R; ++r) rowp[r] = w + (n + r) * ldw;
    float out[R][T];
    unpacked_zmm_rows<F, T, R, Far>(rowp, ldw, kbs, xa, xl, out);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + n + r] = out[r][t] + (bias ? bias[n + r] : 0.0f);
    if (done_blocks < kbs) unpacked_int8_rows_portable<T>(xa, w, ldw, kbs, nullptr, y, ldy, n, n + R, done_blocks, true);
  };
  constexpr int R = T == 1 ? 6 : rows_at_once<T>;
  // x's data per token row: codes, and dx, seed (and xs) per lane of 4.
  index_t const x_bytes = (xa.cols + xl.lanes * (int8_unpack<F>::mins ? 12 : 8)) * T;
  row_passes<R>(n0, n1, x_bytes > int8_zmm_l1_budget, x_bytes <= int8_zmm_l1_budget, pass);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_INT8_GEMV_ZMM

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for the formats of int8_unpack, T <= gemv_max_rows, the
// activations rounded to int8 per block (32) or super-block (256), as ggml's q8_0 / q8_K.
template <detail::int8_unpackable F>
void block_gemv_unpacked_int8(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                              thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  thread_local int8_activations xa_scratch;  // the calling thread's, named through a reference (see block_gemv_int8)
  int8_activations& xa = xa_scratch;
  xa.quantize(x, format::traits<F>::block_elems);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(F)}));
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
  if constexpr (detail::superblock_int8_computable<F>) {
    thread_local detail::superblock_int8_x xp_scratch;
    auto& xp = xp_scratch;
    xp.build<detail::superblock_int8_format<F>::layout>(xa);
    auto run = [&]<int Tc>() {
      pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
        detail::superblock_int8_zmm_rows<F, Tc>(xa, xp, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
      });
    };
    dispatch_rows(T, run);
  } else {
    thread_local detail::unpacked_int8_lanes<detail::int8_unpack<F>::Z> xl_scratch;
    auto& xl = xl_scratch;
    xl.build(xa, detail::int8_unpack<F>::mins);
    auto run = [&]<int Tc>() {
      pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
        detail::unpacked_int8_rows_zmm<Tc>(xa, xl, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
      });
    };
    dispatch_rows(T, run);
  }
#else
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::unpacked_int8_rows_portable<Tc>(xa, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
    });
  };
  dispatch_rows(T, run);
#endif
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
