#pragma once
// The int8 GEMM (int8_gemm.hpp) for the k-quants (q4_K, q5_K, q6_K) on AMX tiles: the same
// rounded activations and the same integer sums as the AVX512-VNNI tile (int8_gemm_tile.hpp),
// so the same results bit for bit, at several times the rate (bench/NOTES.md).
//
// Why a layout of its own: the VNNI tile scales every sub-block's int32 sums by the sub-block's
// integer scale (vpmulld per 32 or 16 elements). Done the same way on AMX, that per-step work
// bounds the tiles at the VNNI path's rate. Here the scale goes into the weights instead: per row
// and element, w = sc_s * code (q6_K: sc_s * (code - 32)) is split as w = 64 hi + lo with lo in
// 0..63 and hi in 0..30 (q6_K: -64..64), two int8 planes; a super block's integer sum is then
// 64 TDP(hi) + TDP(lo) over all 256 elements, and the only per-block work is the VNNI tile's
// per-super-block scaling (d x dx, and the mins for q4_K / q5_K).
//
// Tiles: A = weight planes (16 rows x 64 elements, the panel's rows), B = activations in the
// tiles' 4-byte-interleaved order (16 chunks of 4 elements x 16 tokens), C = int32 sums per row
// and token. Per step of 64 elements and 16 rows x 32 tokens: 2 A loads, 2 B loads, 4 TDPs.
// q4_0 and q8_0 keep the VNNI path: their f16 scale per 32 elements leaves a float scaling per
// 32 elements and token, which bounds AMX at the VNNI rate (measured: bench/NOTES.md).
//
// Linux grants the tile state per process on request (arch_prctl ARCH_REQ_XCOMP_PERM, asked
// once); where the CPU lacks AMX, the kernel refuses or the environment sets SWITCHYARD_AMX=0,
// amx_int8_ready() is false and the GEMM takes the VNNI path.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/block_gemv_common.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemm_pack.hpp"
#include "switchyard/linear/host/q4k_int8_gemv.hpp"

#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(SWITCHYARD_INT8_GEMM_PACK_ZMM) && defined(__AVX512VNNI__) && \
    defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SWITCHYARD_INT8_GEMM_AMX 1
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace host {

// Whether this process may run AMX int8 tiles: the path is compiled, the CPU and OS have them
// (cpu_features::amx_int8) and Linux granted the tile data state (asked on the first call).
inline bool amx_int8_ready() {
#if defined(SWITCHYARD_INT8_GEMM_AMX)
  static bool const ready = [] {
    if (!detect_cpu_features().amx_int8) return false;
    // SWITCHYARD_AMX=0 keeps the VNNI path (to compare the two in one binary, or to rule AMX out).
    if (char const* env = std::getenv("SWITCHYARD_AMX"); env && std::string_view(env) == "0") return false;
    constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;  // asm/prctl.h, xstate
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
  }();
  return ready;
#else
  return false;
#endif
}

namespace detail {
// The formats the AMX path takes (the others take the VNNI path under int8_gemm_path::amx).
template <class F>
inline constexpr bool amx_k_format =
    std::is_same_v<F, format::q4_K> || std::is_same_v<F, format::q5_K> || std::is_same_v<F, format::q6_K>;
}  // namespace detail

#if defined(SWITCHYARD_INT8_GEMM_AMX)
namespace detail {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// LDTILECFG's 64-byte operand, palette 1: eight tiles of 16 rows x 64 bytes.
struct alignas(64) amx_tile_config {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

// Tile configuration is thread state: loaded at the start of each task.
inline void amx_configure() {
  amx_tile_config c;
  for (int t = 0; t < 8; ++t) c.colsb[t] = 64, c.rows[t] = 16;
  _tile_loadconfig(&c);
}

// 16 weight rows of a k-quant, per super block kb (block_bytes):
//   i8  lo[16][256], hi[16][256]   the planes, row-major (an A tile: 16 rows x 64 bytes, stride 256)
//   f32 d[16]
//   f32 dmin[16], i32 mins[16][4]  q4_K / q5_K: the mins as int16 pairs (m_{2p} low, m_{2p+1} high)
// Rows past the matrix's end are zero.
template <class F>
struct amx_panel {
  static constexpr bool q6 = std::is_same_v<F, format::q6_K>;
  static constexpr index_t plane = 16 * 256, d_off = 2 * plane, dmin_off = d_off + 64, mins_off = d_off + 128;
  static constexpr index_t block_bytes = q6 ? d_off + 64 : mins_off + 256;
  static index_t bytes(index_t kbs) noexcept { return kbs * block_bytes; }

  static void pack(F const* w, index_t ldw, index_t rows, index_t kbs, std::uint8_t* dst) noexcept {
    if (rows < 16)
      for (index_t kb = 0; kb < kbs; ++kb) {
        std::uint8_t* b = dst + kb * block_bytes;
        std::memset(b + rows * 256, 0, static_cast<std::size_t>((16 - rows) * 256));
        std::memset(b + plane + rows * 256, 0, static_cast<std::size_t>((16 - rows) * 256));
        std::memset(b + d_off, 0, static_cast<std::size_t>(block_bytes - d_off));
      }
    // Row by row: the weights are read in memory order, one stream the prefetchers follow (block
    // by block across the 16 rows, the reads waited on memory: a third of the GEMM's time at ~64
    // tokens per expert, where the expert weights come from DRAM).
    for (index_t r = 0; r < rows; ++r)
      for (index_t kb = 0; kb < kbs; ++kb) {
        if (r + 2 < rows) {  // two rows ahead (~1 KiB at K = 1024): the stream's latency hidden
          char const* ahead = reinterpret_cast<char const*>(&w[(r + 2) * ldw + kb]);
          for (std::size_t off = 0; off < sizeof(F); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
        }
        pack_row(w[r * ldw + kb], dst + kb * block_bytes, r);
      }
  }

 private:
  // 64 codes (bytes, element order; q6_K: code - 32, signed) times their sub-block scales (sc: the
  // scale of each byte pair's word) into 64 lo and 64 hi bytes. Even and odd bytes are multiplied
  // in place as words and recombined (one vpmovwb per 32 codes cost more on port 5).
  static SWITCHYARD_FORCE_INLINE void split(__m512i z, __m512i sc, std::uint8_t* lo, std::uint8_t* hi) noexcept {
    __m512i const m63 = _mm512_set1_epi16(63), m_low = _mm512_set1_epi16(0xFF);
    __m512i even, odd;
    if constexpr (q6) {
      even = _mm512_srai_epi16(_mm512_slli_epi16(z, 8), 8);
      odd = _mm512_srai_epi16(z, 8);
    } else {
      even = _mm512_and_si512(z, m_low);
      odd = _mm512_srli_epi16(z, 8);
    }
    __m512i const pe = _mm512_mullo_epi16(even, sc), po = _mm512_mullo_epi16(odd, sc);
    __m512i const l = _mm512_or_si512(_mm512_and_si512(pe, m63), _mm512_slli_epi16(_mm512_and_si512(po, m63), 8));
    __m512i const h = _mm512_or_si512(_mm512_and_si512(_mm512_srai_epi16(pe, 6), m_low), _mm512_slli_epi16(_mm512_srai_epi16(po, 6), 8));
    _mm512_storeu_si512(lo, l);
    _mm512_storeu_si512(hi, h);
  }

  static void pack_row(F const& blk, std::uint8_t* b, index_t r) noexcept {
    std::uint8_t* const lo = b + r * 256;
    std::uint8_t* const hi = b + plane + r * 256;
    float const d = f16_scale(blk.d);
    std::memcpy(b + d_off + 4 * r, &d, 4);
    if constexpr (!q6) {
      std::uint64_t sc, mn;
      q4_K_unpack_scales(blk, sc, mn);
      for (int p = 0; p < 4; ++p) {  // sub-blocks 2p and 2p + 1
        auto const s0 = static_cast<short>((sc >> (16 * p)) & 0xFF), s1 = static_cast<short>((sc >> (16 * p + 8)) & 0xFF);
        __m512i const scw = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(s0)), _mm256_set1_epi16(s1), 1);
        split(kmins_codes64(blk, p), scw, lo + 64 * p, hi + 64 * p);
      }
      float const dmin = f16_scale(blk.dmin);
      std::memcpy(b + dmin_off + 4 * r, &dmin, 4);
      for (int p = 0; p < 4; ++p) {
        auto const m = static_cast<std::int32_t>(((mn >> (16 * p)) & 0xFF) | (((mn >> (16 * p + 8)) & 0xFF) << 16));
        std::memcpy(b + mins_off + 16 * r + 4 * p, &m, 4);
      }
    } else {
      // Element 128 h + 32 k + i: low 4 bits in ql[64 h + 32 (k & 1) + i] (low nibble for k < 2),
      // high 2 bits at bit 2k of qh[32 h + i]: per half h, ql's low nibbles are elements 128 h +
      // 0..63 and its high nibbles 128 h + 64..127 (as int8_panel's q6_K packing builds them).
      __m512i const low = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03), thirty_two = _mm512_set1_epi8(32);
      __m512i const sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
      __m512i const sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
      // The 16 sub-block scales as words; word i of a 64-element group takes sub-block base + i / 8.
      __m512i const scales = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(blk.scales))));
      __m512i const eighth = _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15,
                                                                14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                               3);
      for (int h = 0; h < 2; ++h) {
        __m512i const ql = _mm512_loadu_si512(blk.ql + 64 * h);
        __m512i const qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(blk.qh + 32 * h)));
        __m512i const hi01 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh01), two), 4);
        __m512i const hi23 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh23), two), 4);
        __m512i const c[2] = {_mm512_or_si512(_mm512_and_si512(ql, low), hi01),
                              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low), hi23)};
        for (int u = 0; u < 2; ++u) {
          __m512i const scw = _mm512_permutexvar_epi16(_mm512_add_epi16(eighth, _mm512_set1_epi16(static_cast<short>(8 * h + 4 * u))), scales);
          split(_mm512_sub_epi8(c[u], thirty_two), scw, lo + 128 * h + 64 * u, hi + 128 * h + 64 * u);
        }
      }
    }
  }
};

// The activations as B tiles read them: per chunk of 4 elements (K / 4 of them), Tp tokens x 4
// bytes (Tp: T rounded up to 16, zero past T); per super block and token the scale dx and (q4_K /
// q5_K) the 4 int16 pairs of sub-block sums, token-major so that 16 tokens are one vector.
struct amx_activations {
  index_t T = 0, Tp = 0, kbs = 0;
  std::vector<std::uint8_t> b;        // [K / 4][Tp][4]
  std::vector<float> dx;              // [kbs][Tp]
  std::vector<std::int32_t> pairs;    // [kbs][4][Tp]

  // From the rounded activations, 16-token groups split among the pool's threads.
  template <bool Mins>
  void build(int8_activations const& xa, thread_pool& pool) {
    T = xa.rows, Tp = (T + 15) / 16 * 16, kbs = xa.cols / 256;
    b.resize(static_cast<std::size_t>(xa.cols / 4 * Tp * 4) + 64);
    dx.assign(static_cast<std::size_t>(kbs * Tp), 0.0f);
    if constexpr (Mins) pairs.assign(static_cast<std::size_t>(kbs * 4 * Tp), 0);
    pool.parallel_for(0, Tp / 16, 1, [&](index_t lo, index_t hi) {
      for (index_t g = lo; g < hi; ++g) build_group<Mins>(xa, 16 * g);
    });
  }

 private:
  template <bool Mins>
  void build_group(int8_activations const& xa, index_t t0) {
    index_t const chunks = xa.cols / 4;
    for (index_t c0 = 0; c0 < chunks; c0 += 16) {
      __m512i R[16];
      for (index_t i = 0; i < 16; ++i)
        R[i] = t0 + i < T ? _mm512_loadu_si512(xa.q.data() + (t0 + i) * xa.cols + 4 * c0) : _mm512_setzero_si512();
      transpose_dwords_16x16(R, b.data() + (c0 * Tp + t0) * 4, Tp * 4);
    }
    for (index_t t = t0; t < std::min(T, t0 + 16); ++t)
      for (index_t kb = 0; kb < kbs; ++kb) {
        dx[static_cast<std::size_t>(kb * Tp + t)] = xa.scale[static_cast<std::size_t>(t * kbs + kb)];
        if constexpr (Mins) {
          std::int8_t const* q = xa.q.data() + t * xa.cols + kb * 256;
          std::int32_t s[8] = {};
          for (int j = 0; j < 8; ++j)
            for (int i = 0; i < 32; ++i) s[j] += q[32 * j + i];
          for (int p = 0; p < 4; ++p)  // |s| <= 32 x 127: an int16 each
            pairs[static_cast<std::size_t>((kb * 4 + p) * Tp + t)] = static_cast<std::int32_t>(
                (static_cast<std::uint32_t>(s[2 * p]) & 0xFFFFu) | (static_cast<std::uint32_t>(s[2 * p + 1]) << 16));
        }
      }
  }
};

// acc[m][row][token] += super block kb of the panel's 16 rows x tokens t0 + 16 m .. (m < Mb).
template <class F, int Mb>
SWITCHYARD_FORCE_INLINE void int8_gemm_amx_block(std::uint8_t const* blk, amx_activations const& xa, index_t kb, index_t t0,
                                                 float (*acc)[16][16]) {
  using P = amx_panel<F>;
  alignas(64) std::int32_t c[2 * Mb][16][16];  // [2 m + plane][row][token]
  index_t const ldb = xa.Tp * 4;
  std::uint8_t const* const xb = xa.b.data() + (kb * 64 * xa.Tp + t0) * 4;
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (Mb == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int j = 0; j < 4; ++j) {  // 64 elements: 16 chunks
    _tile_loadd(4, blk + 64 * j, 256);
    _tile_loadd(5, blk + P::plane + 64 * j, 256);
    _tile_loadd(6, xb + 16 * j * ldb, ldb);
    if constexpr (P::q6) {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 5, 6);
    } else {
      _tile_dpbusd(0, 4, 6);
      _tile_dpbusd(1, 5, 6);
    }
    if constexpr (Mb == 2) {
      _tile_loadd(7, xb + 16 * j * ldb + 64, ldb);
      if constexpr (P::q6) {
        _tile_dpbssd(2, 4, 7);
        _tile_dpbssd(3, 5, 7);
      } else {
        _tile_dpbusd(2, 4, 7);
        _tile_dpbusd(3, 5, 7);
      }
    }
  }
  _tile_stored(0, c[0], 64);
  _tile_stored(1, c[1], 64);
  if constexpr (Mb == 2) {
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
  }
  // The VNNI tile's per-super-block scaling, in the same order (the same floats).
  float const* const d = reinterpret_cast<float const*>(blk + P::d_off);
  for (int m = 0; m < Mb; ++m) {
    __m512 const dxv = _mm512_loadu_ps(xa.dx.data() + kb * xa.Tp + t0 + 16 * m);
    for (int r = 0; r < 16; ++r) {
      __m512i const tot = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(c[2 * m + 1][r]), 6), _mm512_load_si512(c[2 * m][r]));
      __m512 a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot), _mm512_mul_ps(_mm512_set1_ps(d[r]), dxv), _mm512_load_ps(acc[m][r]));
      if constexpr (!P::q6) {
        float const dmin = reinterpret_cast<float const*>(blk + P::dmin_off)[r];
        std::int32_t const* mins = reinterpret_cast<std::int32_t const*>(blk + P::mins_off) + 4 * r;
        __m512i mm = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p)
          mm = _mm512_dpwssd_epi32(mm, _mm512_set1_epi32(mins[p]),
                                   _mm512_loadu_si512(xa.pairs.data() + (kb * 4 + p) * xa.Tp + t0 + 16 * m));
        a = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mm), _mm512_mul_ps(_mm512_set1_ps(dmin), dxv), a);
      }
      _mm512_store_ps(acc[m][r], a);
    }
  }
}

// acc[g][row][token]: the panel's 16 rows x tokens 16 g .. 16 g + 15, every token group, over all
// of K. Super blocks outermost: the panel's 8 KiB of a super block and the activations' slab of it
// (T x 256 bytes) stay in L1 while every token tile reads them (token tiles outermost re-read
// both from L2: one tile load per TDP, which bounded the TDPs at a tenth of their rate).
template <class F>
void int8_gemm_amx_panel(std::uint8_t const* panel, amx_activations const& xa, float (*acc)[16][16]) {
  using P = amx_panel<F>;
  std::fill_n(&acc[0][0][0], xa.Tp * 16, 0.0f);
  for (index_t kb = 0; kb < xa.kbs; ++kb) {
    std::uint8_t const* const blk = panel + kb * P::block_bytes;
    index_t t0 = 0;
    for (; t0 + 32 <= xa.Tp; t0 += 32) int8_gemm_amx_block<F, 2>(blk, xa, kb, t0, acc + t0 / 16);
    if (t0 < xa.Tp) int8_gemm_amx_block<F, 1>(blk, xa, kb, t0, acc + t0 / 16);
  }
}

// block_gemm_int8 on AMX for a k-quant (the caller checked amx_int8_ready()): threads split
// groups of 32 rows (two 16-row panels, packed one at a time), each runs every token against them.
template <class F>
void block_gemm_int8_amx(matrix_view<float const> x, matrix_view<F const> w, float const* bias, matrix_view<float> y,
                         thread_pool& pool) {
  static_assert(amx_k_format<F>);
  using P = amx_panel<F>;
  constexpr index_t unit = 32;
  index_t const T = x.extent(0), N = w.extent(0), kbs = w.extent(1);
  if (T == 0 || N == 0) return;
  thread_local int8_activations xa_scratch;
  thread_local amx_activations xb_scratch;
  int8_activations& xa = xa_scratch;
  amx_activations& xb = xb_scratch;
  xa.quantize(x, 256, pool);
  xb.build<!P::q6>(xa, pool);
  index_t const units = (N + unit - 1) / unit;
  float* const yp = y.data();
  index_t const ldy = y.stride(0);
  pool.parallel_for(0, units, 1, [&](index_t lo, index_t hi) {
    thread_local std::vector<std::uint8_t> panel_scratch;
    thread_local std::vector<float> acc_scratch;
    std::vector<std::uint8_t>& panels = panel_scratch;
    panels.resize(static_cast<std::size_t>(2 * P::bytes(kbs) + 64));
    std::uint8_t* const base = panels.data() + (64 - reinterpret_cast<std::uintptr_t>(panels.data()) % 64) % 64;
    std::vector<float>& accs = acc_scratch;
    accs.resize(static_cast<std::size_t>(xb.Tp * 16 + 16));
    auto* const acc = reinterpret_cast<float (*)[16][16]>(accs.data() + (16 - reinterpret_cast<std::uintptr_t>(accs.data()) / 4 % 16) % 16);
    alignas(64) float tr[16][16];
    amx_configure();
    for (index_t u = lo; u < hi; ++u) {
      index_t const n0 = u * unit, rows = std::min(unit, N - n0);
      for (int q = 0; q < 2 && 16 * q < rows; ++q) {
        index_t const nq = n0 + 16 * q, rr = std::min<index_t>(16, rows - 16 * q);
        std::uint8_t* const panel = base + q * P::bytes(kbs);
        P::pack(&w(nq, 0), w.stride(0), rr, kbs, panel);
        int8_gemm_amx_panel<F>(panel, xb, acc);
        // acc[g][row][token] to y[token][row]: a 16 x 16 transpose per token group, then one
        // masked store per token (with the bias) of the panel's rows.
        auto const mask = static_cast<__mmask16>((1u << rr) - 1u);
        __m512 const bv = bias ? _mm512_maskz_loadu_ps(mask, bias + nq) : _mm512_setzero_ps();
        for (index_t g = 0; 16 * g < T; ++g) {
          __m512i R[16];
          for (int r = 0; r < 16; ++r) R[r] = _mm512_castps_si512(_mm512_load_ps(acc[g][r]));
          transpose_dwords_16x16(R, reinterpret_cast<std::uint8_t*>(tr), 64);
          index_t const tn = std::min<index_t>(16, T - 16 * g);
          for (index_t i = 0; i < tn; ++i) {
            __m512 v = _mm512_load_ps(tr[i]);
            if (bias) v = _mm512_add_ps(v, bv);
            _mm512_mask_storeu_ps(yp + (16 * g + i) * ldy + nq, mask, v);
          }
        }
      }
    }
    _tile_release();
  });
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail
#endif

}  // namespace host
SWITCHYARD_NAMESPACE_END
