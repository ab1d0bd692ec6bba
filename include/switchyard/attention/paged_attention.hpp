#pragma once
// Decode attention against the paged KV cache, split along the keys (flash-decoding, Dao et al.
// 2023): each sequence's blocks are cut into chunks, every (sequence, KV head, chunk) is an
// independent work item that leaves a partial result (running max m, sum l, unnormalized output),
// and a merge rescales the partials to the common max and adds them. One long sequence thereby
// uses every thread, and a batch of short ones still does.
//
//   q   [B * n, Hq, key_dim]    n new query tokens per sequence (1 for decode, a few for
//                               speculative decoding, more for chunked prefill), already appended
//                               to the cache: sequence b's queries are its last n tokens.
//   out [B * n, Hq, value_dim]  f32
// The mask policy applies as in prefill (a sliding window skips whole blocks outside it).
//
// Bandwidth is the limit: per token and KV head the kernel streams the cached K^T and V blocks
// once, widening bf16/f16/int8/fp8 in registers; the G = Hq / Hkv query heads (times n tokens)
// sharing the KV head are the rows of each tile, so the bytes are read once per group. Scales of
// int8/fp8 caches multiply the score rows (K) and the probabilities (V), never the elements.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/host/tile_kernels.hpp"
#include "switchyard/attention/mask.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/thread_pool.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

// Keys per split below which splitting a sequence further stops paying for the merge.
inline constexpr index_t min_keys_per_split = 256;

template <simd::isa Isa = simd::native, attention_mask Mask, kv_element E, class QT>
void paged_attention(paged_kv_cache<E> const& cache, std::span<kv_sequence const* const> seqs, heads_view<QT> q,
                     heads_view<float> out, Mask const& mask, float scale, thread_pool& pool = thread_pool::shared()) {
  char const* const where = "attention::paged_attention";
  auto const& cfg = cache.config();
  index_t const B = static_cast<index_t>(seqs.size()), Hq = q.extent(1), Hkv = cfg.kv_heads;
  index_t const Dk = cfg.key_dim, Dv = cfg.value_dim, bs = cfg.block_size;
  detail::check_heads(where, q, out, Hkv, Dk, Dv);
  require(B > 0 && q.extent(0) % B == 0, where, "q has ", q.extent(0), " rows, not a multiple of the ", B,
          " sequences");
  require(std::isfinite(scale) && scale > 0.0f, where, "scale must be finite and > 0, got ", scale);
  constexpr index_t L = Isa::lanes;
  static_assert(16 % L == 0, "block sizes are multiples of 16, so of every ISA's lanes");
  index_t const n = q.extent(0) / B, G = Hq / Hkv, rows = n * G, dvs = cache.value_stride();
  for (index_t b = 0; b < B; ++b) {
    require(seqs[b] != nullptr && seqs[b]->length >= n, where, "sequence ", b, " holds ",
            seqs[b] ? seqs[b]->length : 0, " tokens but has ", n, " queries (append them to the cache first)");
    require(static_cast<index_t>(seqs[b]->block_table.size()) == (seqs[b]->length + bs - 1) / bs, where,
            "sequence ", b, "'s block table does not match its length");
    for (auto blk : seqs[b]->block_table)
      require(blk >= 0 && blk < cfg.blocks, where, "sequence ", b, " names block ", blk, ", outside the pool of ",
              cfg.blocks);
  }
  if (n == 0) return;

  // Splits per sequence: enough items to feed every thread about four times over, no split
  // shorter than min_keys_per_split keys (or one block).
  index_t const want_items = 4 * static_cast<index_t>(pool.size());
  std::vector<index_t> split_begin(static_cast<std::size_t>(B + 1), 0), splits(static_cast<std::size_t>(B));
  for (index_t b = 0; b < B; ++b) {
    index_t const nb = (seqs[b]->length + bs - 1) / bs;
    index_t const by_work = (want_items + B * Hkv - 1) / (B * Hkv);
    index_t const by_size = std::max<index_t>(1, nb * bs / min_keys_per_split);
    splits[b] = std::clamp<index_t>(std::min(by_work, by_size), 1, std::max<index_t>(nb, 1));
    split_begin[b + 1] = split_begin[b] + splits[b];
  }
  index_t const total_splits = split_begin[B], items = total_splits * Hkv;
  // Partials: per item, rows x (m, l, O[dvs]).
  index_t const part = rows * (dvs + 2);
  buffer<float> partial(static_cast<std::size_t>(items * part));
  float const qscale = scale * detail::log2e;

  pool.parallel_for(0, items, 1, [&](index_t lo, index_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<std::size_t>(rows * (Dk + bs + 1) + (cfg.value_is_key_prefix ? bs * dvs : 0)));
    float* const qp = scratch.data();
    float* const sb = qp + rows * Dk;
    float* const alpha = sb + rows * bs;
    float* const vt = alpha + rows;  // value_is_key_prefix: V rows rebuilt from K^T
    for (index_t item = lo; item < hi; ++item) {
      index_t const h = item % Hkv, gs = item / Hkv;
      index_t const b = static_cast<index_t>(std::upper_bound(split_begin.begin(), split_begin.end(), gs) -
                                             split_begin.begin()) - 1;
      kv_sequence const& seq = *seqs[b];
      index_t const nb = (seq.length + bs - 1) / bs, s = gs - split_begin[b];
      index_t const blk_lo = nb * s / splits[b], blk_hi = nb * (s + 1) / splits[b];
      float* const m = partial.data() + item * part;
      float* const l = m + rows;
      float* const o = l + rows;
      index_t const q_lo = seq.length - n, q_hi = seq.length - 1;
      for (index_t r = 0; r < rows; ++r) {
        QT const* src = &q(b * n + r / G, h * G + r % G, 0);
        for (index_t d = 0; d < Dk; ++d) qp[r * Dk + d] = detail::widen(src[d]) * qscale;
        m[r] = -std::numeric_limits<float>::infinity();
        l[r] = 0.0f;
      }
      std::fill(o, o + rows * dvs, 0.0f);
      for (index_t blk = blk_lo; blk < blk_hi; ++blk) {
        index_t const k_lo = blk * bs, keys = std::min(bs, seq.length - k_lo);
        tile_coverage const cov = mask.coverage(q_lo, q_hi, k_lo, k_lo + keys - 1);
        if (cov == tile_coverage::none) continue;
        index_t const block = seq.block_table[static_cast<std::size_t>(blk)];
        E const* kt = cache.key_block(block, h);
        index_t j = 0;
        for (; j + 2 * L <= bs; j += 2 * L) host::qk_rows<Isa, 2>(rows, qp, Dk, Dk, kt + j, bs, sb + j, bs);
        for (; j < bs; j += L) host::qk_rows<Isa, 1>(rows, qp, Dk, Dk, kt + j, bs, sb + j, bs);
        if constexpr (paged_kv_cache<E>::scaled) {
          float const* scl = cache.key_scales(block, h);
          for (index_t r = 0; r < rows; ++r)
            for (index_t c = 0; c < bs; c += L)
              Isa::store(sb + r * bs + c, Isa::mul(Isa::load(sb + r * bs + c), Isa::load(scl + c)));
        }
        if (cov == tile_coverage::partial || keys < bs) {
          for (index_t r = 0; r < rows; ++r) {
            index_t const qpos = q_lo + r / G;
            for (index_t c = 0; c < bs; ++c)
              if (c >= keys || !mask.keep(qpos, k_lo + c)) sb[r * bs + c] = -std::numeric_limits<float>::infinity();
          }
        }
        for (index_t r = 0; r < rows; ++r) alpha[r] = host::softmax_row<Isa>(sb + r * bs, bs, m[r], l[r]);
        if constexpr (paged_kv_cache<E>::scaled) {
          float const* scl = cache.value_scales(block, h);
          for (index_t r = 0; r < rows; ++r)
            for (index_t c = 0; c < bs; c += L)
              Isa::store(sb + r * bs + c, Isa::mul(Isa::load(sb + r * bs + c), Isa::load(scl + c)));
        }
        if (cfg.value_is_key_prefix) {
          for (index_t c = 0; c < keys; ++c)
            for (index_t d = 0; d < dvs; ++d) vt[c * dvs + d] = d < Dv ? kv_to_float(kt[d * bs + c]) : 0.0f;
          host::pv_rows<Isa>(rows, sb, bs, keys, static_cast<float const*>(vt), dvs, o, dvs, dvs, alpha);
        } else {
          host::pv_rows<Isa>(rows, sb, bs, keys, cache.value_block(block, h), dvs, o, dvs, dvs, alpha);
        }
      }
    }
  });

  // Merge the splits of each (sequence, KV head): rescale to the common max and normalize.
  pool.parallel_for(0, B * Hkv, 1, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      index_t const b = i / Hkv, h = i % Hkv;
      for (index_t r = 0; r < rows; ++r) {
        float mx = -std::numeric_limits<float>::infinity();
        for (index_t s = split_begin[b]; s < split_begin[b + 1]; ++s) mx = std::fmax(mx, partial[(s * Hkv + h) * part + r]);
        float* dst = &out(b * n + r / G, h * G + r % G, 0);
        std::fill(dst, dst + Dv, 0.0f);
        if (mx == -std::numeric_limits<float>::infinity()) continue;  // no key visible: 0, as in prefill
        float lsum = 0.0f;
        for (index_t s = split_begin[b]; s < split_begin[b + 1]; ++s) {
          float const* p = partial.data() + (s * Hkv + h) * part;
          float const w = std::exp2(p[r] - mx);
          if (w == 0.0f) continue;
          lsum += p[rows + r] * w;
          float const* o = p + 2 * rows + r * dvs;
          for (index_t d = 0; d < Dv; ++d) dst[d] += o[d] * w;
        }
        float const inv = 1.0f / lsum;
        for (index_t d = 0; d < Dv; ++d) dst[d] *= inv;
      }
    }
  });
}

}  // namespace attention
SWITCHYARD_NAMESPACE_END
