#pragma once
// Flash attention for prefill on the host (Dao et al. 2022, the online-softmax recurrence of
// Milakov & Gimelshein 2018): out = softmax(scale * q k^T + mask) v, tiled over queries and keys,
// f32 accumulation, memory linear in the sequence length (no T x S score matrix ever exists).
//
//   q   [T, Hq, D]    queries (any element-wise format; f32 after RoPE usually)
//   k   [S, Hkv, D]   keys at positions 0..S-1
//   v   [S, Hkv, Dv]  values (Dv may differ from D: MLA's 192/128 split)
//   out [T, Hq, Dv]   f32
// Query t sits at position first_query_position + t (default S - T: the queries are the last T
// tokens of the sequence, which covers plain prefill, T == S, and chunked prefill after a cache).
// Grouped-query attention: query head h reads key/value head h / (Hq / Hkv); MQA is Hkv == 1.
//
// How the work is laid out: keys are packed once per call into transposed tiles [d][2L keys]
// (f32, O(S D) memory) so that a score tile is an outer product with no horizontal sums. A work
// item is one key/value head and a block of query tokens, with the G = Hq/Hkv query heads of the
// group stacked as rows so every packed key tile is reused G times from cache. The mask policy
// (mask.hpp) classifies each (query block, key tile): skipped tiles cost nothing, full tiles run
// unmasked, partial tiles are masked element by element. A query row that no key may see yields 0
// (PyTorch's SDPA yields NaN there).
//
// Learned attention sinks (gpt-oss): optional, one logit per query head, sinks[Hq]. Each row's
// softmax then runs over its kept keys plus one extra logit sinks[h] that carries no value:
//   out = sum_k exp(s_k) v_k / (sum_k exp(s_k) + exp(sinks[h]))
// (transformers' GptOss eager_attention_forward: the sink is a column appended to the logits,
// softmaxed with them and dropped). It changes only the denominator, so the kernels add it once
// per row at the final normalization (finish_row below), never in the tile loop: attention
// without sinks does exactly the work it did before. A row that sees no key still yields 0.
// (mask.hpp's sink_window_mask is a different thing: StreamingLLM's kept first tokens.)
#include <atomic>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "switchyard/attention/host/tile_kernels.hpp"
#include "switchyard/attention/mask.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/core/concepts.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

template <class T>
using heads_view = tensor_view<T, dextents<3>>;

// What the tiling did: tiles of (query block x key tile) visited, skipped by the mask, and masked
// element-wise. kept_fraction() is the fraction of the work actually done.
struct attention_stats {
  index_t tiles = 0, skipped = 0, partial = 0;
  double kept_fraction() const noexcept { return tiles == 0 ? 0.0 : double(tiles - skipped) / double(tiles); }
};

namespace detail {

inline constexpr float log2e = 1.4426950408889634f;

template <class T>
float widen(T x) noexcept {
  if constexpr (std::is_same_v<T, float>) return x;
  else return format::to_float(x);
}

// Checks shared by prefill and decode: last dimension contiguous, grouped heads divide.
template <class Q, class O>
void check_heads(char const* where, Q const& q, O const& out, index_t hkv, index_t d, index_t dv) {
  require(q.extent(1) > 0 && hkv > 0 && q.extent(1) % hkv == 0, where, "query heads (", q.extent(1),
          ") must be a positive multiple of key/value heads (", hkv, ")");
  require(q.extent(2) == d, where, "queries have head dimension ", q.extent(2), " but keys have ", d);
  require(out.extent(0) == q.extent(0) && out.extent(1) == q.extent(1) && out.extent(2) == dv, where, "out is [",
          out.extent(0), ", ", out.extent(1), ", ", out.extent(2), "] but should be [", q.extent(0), ", ", q.extent(1),
          ", ", dv, "]");
  require(q.stride(2) == 1 && out.stride(2) == 1, where, "head vectors of q and out must be contiguous");
}

// Sinks per query head, empty for none: one per head, and no NaN or +inf (a sink of -inf is a
// sink that takes no weight, the same as none).
inline void check_sinks(char const* where, std::span<float const> sinks, index_t hq) {
  if (sinks.empty()) return;
  require(static_cast<index_t>(sinks.size()) == hq, where, "sinks has ", sinks.size(), " entries but there are ", hq,
          " query heads");
  for (std::size_t i = 0; i < sinks.size(); ++i)
    require(!std::isnan(sinks[i]) && sinks[i] != std::numeric_limits<float>::infinity(), where, "sink of head ", i,
            " is ", sinks[i]);
}

// The factor that normalizes a finished row: its unnormalized output (sum exp2(s - m) v) times
// this is the attention output. m is the row's running max and l its running sum, both in base 2
// (scores carry log2(e)); sink2 is the head's sink times log2(e), or -inf for none. The sink's
// term exp2(sink2 - m) joins the denominator after both are rescaled to top = max(m, sink2), so
// nothing overflows when the sink exceeds every logit (exp2(sink2 - m) alone would, past 128),
// as the reference's softmax subtracts the max over the row including the sink. (sink2 = -inf
// gives 1 / l; callers without sinks take 1 / l directly and skip the two exp2.) No visible key
// (m = -inf, l = 0, output 0): 0, sink or not.
inline float finish_row(float m, float l, float sink2) noexcept {
  if (m == -std::numeric_limits<float>::infinity()) return 0.0f;
  float const top = std::fmax(m, sink2);
  float const w = std::exp2(m - top);  // 1 unless the sink is the largest logit
  return w / (l * w + std::exp2(sink2 - top));
}

}  // namespace detail

// With learned sinks (gpt-oss): sinks[Hq] logits, one per query head, that join each row's
// softmax denominator (see the top of this file); empty: none, the same as the overload below.
template <simd::isa Isa = simd::native, attention_mask Mask, class QT, class KT, class VT>
attention_stats flash_attention(heads_view<QT> q, heads_view<KT> k, heads_view<VT> v, heads_view<float> out,
                                Mask const& mask, float scale, std::span<float const> sinks,
                                index_t first_query_position = -1, thread_pool& pool = thread_pool::shared()) {
  using KE = std::remove_const_t<KT>;
  using VE = std::remove_const_t<VT>;
  static_assert(check_scalar_format<std::remove_const_t<QT>>() && check_scalar_format<KE>() &&
                check_scalar_format<VE>());
  char const* const where = "attention::flash_attention";
  index_t const T = q.extent(0), Hq = q.extent(1), D = q.extent(2);
  index_t const S = k.extent(0), Hkv = k.extent(1), Dv = v.extent(2);
  detail::check_heads(where, q, out, Hkv, k.extent(2), Dv);
  require(v.extent(0) == S && v.extent(1) == Hkv, where, "v is [", v.extent(0), ", ", v.extent(1),
          ", ...] but k is [", S, ", ", Hkv, ", ...]");
  require(k.stride(2) == 1 && v.stride(2) == 1, where, "head vectors of k and v must be contiguous");
  require(D > 0 && Dv > 0, where, "head dimensions must be positive");
  require(std::isfinite(scale) && scale > 0.0f, where, "scale must be finite and > 0, got ", scale);
  detail::check_sinks(where, sinks, Hq);
  index_t const q0 = first_query_position < 0 ? S - T : first_query_position;
  require(q0 >= 0, where, "more queries (", T, ") than keys (", S,
          ") and no first_query_position: the queries' positions are unknown");
  attention_stats stats;
  if (T == 0) return stats;

  constexpr index_t L = Isa::lanes, Bc = host::keys_per_tile<Isa>;
  index_t const G = Hq / Hkv, tiles = (S + Bc - 1) / Bc;

  // K^T packed: [Hkv][tiles][D][Bc] f32, keys past S zero (their scores are masked anyway).
  buffer<float> kp(static_cast<std::size_t>(Hkv * tiles * D * Bc));
  pool.parallel_for(0, Hkv * tiles, 4, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      index_t const h = i / tiles, kt = i % tiles;
      float* dst = kp.data() + i * D * Bc;
      for (index_t j = 0; j < Bc; ++j) {
        index_t const s = kt * Bc + j;
        if (s < S) {
          KT const* src = &k(s, h, 0);
          for (index_t d = 0; d < D; ++d) dst[d * Bc + j] = detail::widen(src[d]);
        } else {
          for (index_t d = 0; d < D; ++d) dst[d * Bc + j] = 0.0f;
        }
      }
    }
  });

  // V is read in place when its rows are whole multiples of the 2L-lane chunk; otherwise packed
  // to f32 with zero padding.
  index_t const dvp = (Dv + 2 * L - 1) / (2 * L) * (2 * L);
  bool const v_direct = dvp == Dv;
  buffer<float> vp(v_direct ? 0 : static_cast<std::size_t>(Hkv * S * dvp));
  if (!v_direct) {
    for (index_t h = 0; h < Hkv; ++h)
      for (index_t s = 0; s < S; ++s)
        for (index_t d = 0; d < dvp; ++d) vp[(h * S + s) * dvp + d] = d < Dv ? detail::widen(v(s, h, d)) : 0.0f;
  }

  index_t const tq = std::min<index_t>(T, std::max<index_t>(1, 64 / G));  // ~64 rows per item
  index_t const rows_max = tq * G, blocks = (T + tq - 1) / tq;
  float const qscale = scale * detail::log2e;
  std::atomic<index_t> n_tiles{0}, n_skipped{0}, n_partial{0};

  pool.parallel_for(0, blocks * Hkv, 1, [&](index_t lo, index_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<std::size_t>(rows_max * (D + Bc + dvp + 3)));
    float* const qp = scratch.data();
    float* const sb = qp + rows_max * D;
    float* const ob = sb + rows_max * Bc;
    float* const m = ob + rows_max * dvp;
    float* const l = m + rows_max;
    float* const alpha = l + rows_max;
    index_t my_tiles = 0, my_skipped = 0, my_partial = 0;
    for (index_t item = lo; item < hi; ++item) {
      index_t const h = item % Hkv, t0 = (item / Hkv) * tq, nt = std::min(tq, T - t0), rows = nt * G;
      for (index_t r = 0; r < rows; ++r) {
        QT const* src = &q(t0 + r / G, h * G + r % G, 0);
        for (index_t d = 0; d < D; ++d) qp[r * D + d] = detail::widen(src[d]) * qscale;
        m[r] = -std::numeric_limits<float>::infinity();
        l[r] = 0.0f;
      }
      std::fill(ob, ob + rows * dvp, 0.0f);
      index_t const q_lo = q0 + t0, q_hi = q0 + t0 + nt - 1;
      for (index_t kt = 0; kt < tiles; ++kt) {
        index_t const k_lo = kt * Bc, keys = std::min(Bc, S - k_lo);
        ++my_tiles;
        tile_coverage const cov = mask.coverage(q_lo, q_hi, k_lo, k_lo + keys - 1);
        if (cov == tile_coverage::none) {
          ++my_skipped;
          continue;
        }
        float const* const ktile = kp.data() + (h * tiles + kt) * D * Bc;
        float const* const kvecs[2] = {ktile, ktile + L};
        host::qk_rows<Isa, 2>(rows, qp, D, D, kvecs, Bc, sb, Bc);
        if (cov == tile_coverage::partial || keys < Bc) {
          my_partial += cov == tile_coverage::partial;
          for (index_t r = 0; r < rows; ++r) {
            index_t const qpos = q_lo + r / G;
            for (index_t j = 0; j < Bc; ++j)
              if (j >= keys || !mask.keep(qpos, k_lo + j)) sb[r * Bc + j] = -std::numeric_limits<float>::infinity();
          }
        }
        for (index_t r = 0; r < rows; ++r) alpha[r] = host::softmax_row<Isa>(sb + r * Bc, Bc, m[r], l[r]);
        if (v_direct) {
          host::pv_rows<Isa>(rows, sb, Bc, keys, &v(k_lo, h, 0), v.stride(0), ob, dvp, dvp, alpha);
        } else {
          host::pv_rows<Isa>(rows, sb, Bc, keys, vp.data() + (h * S + k_lo) * dvp, dvp, ob, dvp, dvp, alpha);
        }
      }
      for (index_t r = 0; r < rows; ++r) {
        float const inv = sinks.empty() ? (l[r] > 0.0f ? 1.0f / l[r] : 0.0f)
                                        : detail::finish_row(m[r], l[r], sinks[static_cast<std::size_t>(h * G + r % G)] *
                                                                             detail::log2e);
        float* dst = &out(t0 + r / G, h * G + r % G, 0);
        for (index_t d = 0; d < Dv; ++d) dst[d] = ob[r * dvp + d] * inv;
      }
    }
    n_tiles += my_tiles, n_skipped += my_skipped, n_partial += my_partial;
  });
  stats.tiles = n_tiles.load(), stats.skipped = n_skipped.load(), stats.partial = n_partial.load();
  return stats;
}

// Without sinks: softmax over the kept keys alone.
template <simd::isa Isa = simd::native, attention_mask Mask, class QT, class KT, class VT>
attention_stats flash_attention(heads_view<QT> q, heads_view<KT> k, heads_view<VT> v, heads_view<float> out,
                                Mask const& mask, float scale, index_t first_query_position = -1,
                                thread_pool& pool = thread_pool::shared()) {
  return flash_attention<Isa>(q, k, v, out, mask, scale, std::span<float const>{}, first_query_position, pool);
}

}  // namespace attention
SWITCHYARD_NAMESPACE_END
