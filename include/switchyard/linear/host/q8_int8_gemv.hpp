#pragma once
// Decode GEMV for q8_0 weights against int8 activations rounded per block of 32 -- the product
// ggml computes for q8_0 x q8_0 -- so that 32 weights cost one vpdpbusd instead of four
// conversions and four FMAs:
//   sum_i d w_i x_i  ~=  d dx sum_i w_i xq_i   over a block (w_i, xq_i signed int8)
//
// vpdpbusd multiplies unsigned by signed bytes. The weights enter as unsigned codes w + 128 (one
// xor with 0x80) and the extra 128 sum_i xq_i -- a property of the activations alone -- is
// precomputed per lane once per call and seeds the accumulator, so the correction costs nothing
// per weight. (The other way round, activations + 128, would need sum_i w_i per block: a second
// vpdpbusd per 64 weights.)
//
// 512-bit kernel: two blocks (68 bytes, 64 codes) per step. Their codes (bytes 2..33 and 36..67)
// come in as two 256-bit loads joined by one insert, their f16 scales as two scalar conversions
// broadcast over eight int32 lanes each -- no word permute, which Zen 4 runs several times slower
// than one insert (bench/NOTES.md, 2026-12-06). Lane l of the step covers elements
// 4l .. 4l + 3, i.e. block l / 8, whose activation scale is stored per lane.
//
// Without AVX512-VNNI and BW the same integer sums run in portable code (f32 sums in another
// order: equal within f32 rounding).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/gemv.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx512.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace host {
namespace detail {

// Per-lane activation data of the 512-bit q8_0 kernel, for T token rows of K elements: per step
// of 64 elements, 16 lanes; dx[lane] = the scale of the lane's block, seed[lane] = -128 times the
// sum of the lane's four xq (the accumulator's start: it cancels the + 128 on the weights).
struct q8_int8_lanes {
  index_t lanes = 0;  // per token row: 16 per full pair of blocks
  std::vector<float> dx;
  std::vector<std::int32_t> seed;

  // Bytes the kernel reads per token row besides the weights (codes, scales, seeds).
  index_t bytes_per_row(index_t cols) const noexcept { return cols + 8 * lanes; }

  void build(int8_activations const& xa) {
    index_t const cols = xa.cols, pairs = cols / 64, groups = cols / 32;
    lanes = 16 * pairs;
    dx.resize(static_cast<std::size_t>(xa.rows * lanes));
    seed.resize(static_cast<std::size_t>(xa.rows * lanes));
    for (index_t t = 0; t < xa.rows; ++t)
      for (index_t l = 0; l < lanes; ++l) {
        std::int8_t const* q = xa.q.data() + t * cols + 4 * l;
        std::size_t const i = static_cast<std::size_t>(t * lanes + l);
        dx[i] = xa.scale[static_cast<std::size_t>(t * groups + l / 8)];
        seed[i] = -128 * (q[0] + q[1] + q[2] + q[3]);
      }
  }
};

// One q8_0 block against 32 int8 activations: the integer dot product (tails and the portable path).
inline std::int32_t q8_block_dot(format::q8_0 const& blk, std::int8_t const* xq) noexcept {
  std::int32_t s = 0;
  for (int i = 0; i < 32; ++i) s += static_cast<std::int32_t>(blk.q[i]) * xq[i];
  return s;
}

// Rows [n0, n1), portable: the same integer sums, one block at a time.
template <int T>
void q8_int8_rows_portable(int8_activations const& xa, format::q8_0 const* w, index_t ldw, index_t kbs,
                           float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  for (index_t n = n0; n < n1; ++n) {
    format::q8_0 const* row = w + n * ldw;
    float res[T] = {};
    for (index_t kb = 0; kb < kbs; ++kb) {
      float const d = f16_scale(row[kb].d);
      for (int t = 0; t < T; ++t) {
        std::size_t const g = static_cast<std::size_t>(t * kbs + kb);
        res[t] += static_cast<float>(q8_block_dot(row[kb], xa.q.data() + t * xa.cols + kb * 32)) * (d * xa.scale[g]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + n] = res[t] + (bias ? bias[n] : 0.0f);
  }
}

#if defined(SWITCHYARD_INT8_GEMV_ZMM)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12's masked intrinsics: see int8_gemv_avx512.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

static_assert(sizeof(format::q8_0) == 34 && offsetof(format::q8_0, q) == 2, "q8_0: f16 scale, then 32 codes");

// R weight rows x T token rows; out: the dot products before the bias.
template <int T, int R, bool Far>
SWITCHYARD_FORCE_INLINE void q8_zmm_rows(format::q8_0 const* const (&rowp)[R], index_t ldw, index_t kbs,
                                         int8_activations const& xa, q8_int8_lanes const& xl, float (&out)[R][T]) {
  __m512i const flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  index_t const pairs = kbs / 2;
  for (index_t c = 0; c < pairs; ++c) {
    __m512i wu[R];
    __m512 dw[R];
    for (int r = 0; r < R; ++r) {
      if constexpr (R > 1) prefetch_ahead<R>(rowp[r], ldw, kbs, 2 * c);
      else if constexpr (Far) prefetch_far(rowp[r] + 2 * c);
      format::q8_0 const* blk = rowp[r] + 2 * c;
      __m512i const codes = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk[0].q))),
          _mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk[1].q)), 1);
      wu[r] = _mm512_xor_si512(codes, flip);
      dw[r] = _mm512_insertf32x8(_mm512_set1_ps(f16_scale(blk[0].d)), _mm256_set1_ps(f16_scale(blk[1].d)), 1);
    }
    for (int t = 0; t < T; ++t) {
      __m512i const xq = _mm512_loadu_si512(xa.q.data() + t * xa.cols + 64 * c);
      __m512i const seed = _mm512_loadu_si512(xl.seed.data() + t * xl.lanes + 16 * c);
      __m512 const dx = _mm512_loadu_ps(xl.dx.data() + t * xl.lanes + 16 * c);
      for (int r = 0; r < R; ++r) {
        __m512i const isum = _mm512_dpbusd_epi32(seed, wu[r], xq);
        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum), dx), dw[r], acc[r][t]);
      }
    }
  }
  index_t const groups = xa.cols / 32;
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float res = _mm512_reduce_add_ps(acc[r][t]);
      if (kbs % 2) {  // an odd block count: the last block alone
        index_t const kb = kbs - 1;
        res += static_cast<float>(q8_block_dot(rowp[r][kb], xa.q.data() + t * xa.cols + kb * 32)) *
               (f16_scale(rowp[r][kb].d) * xa.scale[static_cast<std::size_t>(t * groups + kb)]);
      }
      out[r][t] = res;
    }
}

// One row at a time prefetches far ahead while x's data (3 bytes per element) stay within this:
// K = 4096 (12 KiB) gains from it as the nibble kernels' 8 KiB do (bench/NOTES.md).
inline constexpr index_t q8_int8_far_budget = int8_zmm_l1_budget;

// Rows [n0, n1) through the 512-bit kernel; the row grouping and prefetching of the nibble
// kernels (int8_activations.hpp: int8_zmm_rows), measured for q8_0 in bench/NOTES.md.
template <int T>
void q8_int8_rows_zmm(int8_activations const& xa, q8_int8_lanes const& xl, format::q8_0 const* w, index_t ldw,
                      index_t kbs, float const* bias, float* y, index_t ldy, index_t n0, index_t n1) {
  auto pass = [&]<int R, bool Far>(index_t n) {
    format::q8_0 const* rowp[R];
    for (int r = 0; r < R; ++r) rowp[r] = w + (n + r) * ldw;
    float out[R][T];
    q8_zmm_rows<T, R, Far>(rowp, ldw, kbs, xa, xl, out);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + n + r] = out[r][t] + (bias ? bias[n + r] : 0.0f);
  };
  constexpr int R = T == 1 ? 6 : rows_at_once<T>;
  index_t const x_bytes = xl.bytes_per_row(xa.cols) * T;
  row_passes<R>(n0, n1, x_bytes > int8_zmm_l1_budget, x_bytes <= q8_int8_far_budget, pass);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // SWITCHYARD_INT8_GEMV_ZMM

}  // namespace detail

// y [T, N] = x [T, K] W^T (+ bias) for q8_0 weights W [N, K / 32], T <= gemv_max_rows, the
// activations rounded to int8 per block of 32 (int8_activations).
inline void block_gemv_q8_int8(matrix_view<float const> x, matrix_view<format::q8_0 const> w, float const* bias,
                               matrix_view<float> y, thread_pool& pool) {
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  // The calling thread's scratch, named through references (see block_gemv_int8).
  thread_local int8_activations xa_scratch;
  int8_activations& xa = xa_scratch;
  xa.quantize(x, 32);
  index_t const grain = std::max<index_t>(4, (64 * 1024) / std::max<index_t>(1, kbs * index_t{sizeof(format::q8_0)}));
#if defined(SWITCHYARD_INT8_GEMV_ZMM)
  thread_local detail::q8_int8_lanes xl_scratch;
  detail::q8_int8_lanes& xl = xl_scratch;
  xl.build(xa);
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::q8_int8_rows_zmm<Tc>(xa, xl, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
    });
  };
#else
  auto run = [&]<int Tc>() {
    pool.parallel_for(0, N, grain, [&](index_t lo, index_t hi) {
      detail::q8_int8_rows_portable<Tc>(xa, w.data(), w.stride(0), kbs, bias, y.data(), y.stride(0), lo, hi);
    });
  };
#endif
  dispatch_rows(T, run);
}

}  // namespace host
SWITCHYARD_NAMESPACE_END
