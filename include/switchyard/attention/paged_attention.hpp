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
//
// Learned sinks (gpt-oss; flash_attention.hpp explains them) touch only the merge: a split knows
// neither the row's global max nor whether it is the only split, so the sink's exp(sink - max)
// joins the denominator once per row after the splits are rescaled to the common max, never once
// per split. The split kernel is the same with or without sinks.
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

// With learned sinks: sinks[Hq] logits, one per query head (empty: none, as the overload below).
template <simd::isa Isa = simd::native, attention_mask Mask, kv_element E, class QT>
void paged_attention(paged_kv_cache<E> const& cache, std::span<kv_sequence const* const> seqs, heads_view<QT> q,
                     heads_view<float> out, Mask const& mask, float scale, std::span<float const> sinks,
                     thread_pool& pool = thread_pool::shared()) {
  char const* const where = "attention::paged_attention";
  auto const& cfg = cache.config();
  index_t const B = static_cast<index_t>(seqs.size()), Hq = q.extent(1), Hkv = cfg.kv_heads;
  index_t const Dk = cfg.key_dim, Dv = cfg.value_dim, bs = cfg.block_size;
  detail::check_heads(where, q, out, Hkv, Dk, Dv);
  require(B > 0 && q.extent(0) % B == 0, where, "q has ", q.extent(0), " rows, not a multiple of the ", B,
          " sequences");
  require(std::isfinite(scale) && scale > 0.0f, where, "scale must be finite and > 0, got ", scale);
  detail::check_sinks(where, sinks, Hq);
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
  // A tile spans `group` consecutive blocks of a sequence (at least four key vectors), so small
  // blocks (16 tokens = one AVX-512 vector) still get wide tiles.
  constexpr index_t max_group = 4;
  index_t const group = std::clamp<index_t>(4 * L / bs, 1, max_group), tile = group * bs;
  std::size_t const block_bytes =
      static_cast<std::size_t>(Dk * bs + (cfg.value_is_key_prefix ? 0 : bs * dvs)) * sizeof(E);

  pool.parallel_for(0, items, 1, [&](index_t lo, index_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<std::size_t>(rows * (Dk + tile + 2) + tile + (cfg.value_is_key_prefix ? bs * dvs : 0)));
    float* const qp = scratch.data();
    float* const sb = qp + rows * Dk;    // scores / probabilities [rows][tile]
    float* const alpha = sb + rows * tile;
    float* const ones = alpha + rows;
    float* const scl = ones + rows;      // per-key scales of the tile
    float* const vt = scl + tile;        // value_is_key_prefix: V rows rebuilt from K^T
    std::fill(ones, ones + rows, 1.0f);
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
      for (index_t g0 = blk_lo; g0 < blk_hi; g0 += group) {
        index_t const gb = std::min(group, blk_hi - g0), width = gb * bs;  // blocks and key slots of this tile
        index_t const k_lo = g0 * bs, keys = std::min(width, seq.length - k_lo);
        tile_coverage const cov = mask.coverage(q_lo, q_hi, k_lo, k_lo + keys - 1);
        if (cov == tile_coverage::none) continue;
        index_t block[max_group];
        for (index_t i = 0; i < gb; ++i) block[i] = seq.block_table[static_cast<std::size_t>(g0 + i)];
        if (g0 + gb < blk_hi) {
          // Blocks are scattered over the pool, so hardware prefetchers restart at each one:
          // request the next tile's bytes while this one computes.
          for (index_t i = g0 + gb; i < std::min(blk_hi, g0 + gb + group); ++i) {
            char const* next = reinterpret_cast<char const*>(cache.key_block(seq.block_table[static_cast<std::size_t>(i)], h));
            for (std::size_t off = 0; off < block_bytes; off += 64) __builtin_prefetch(next + off);
          }
        }
        // Scores: key vector u of the tile lives in block u*L / bs at slot (u*L) % bs. Four vectors
        // per step when few rows share the tile (decode: the G query heads): fewer broadcasts of q
        // per FMA.
        auto kvec = [&](index_t u) { return cache.key_block(block[u * L / bs], h) + (u * L) % bs; };
        index_t const vecs = width / L;
        index_t u = 0;
        if (rows <= host::qk_rows_per_tile<Isa, 4>)
          for (; u + 4 <= vecs; u += 4) {
            E const* const p[4] = {kvec(u), kvec(u + 1), kvec(u + 2), kvec(u + 3)};
            host::qk_rows<Isa, 4>(rows, qp, Dk, Dk, p, bs, sb + u * L, tile);
          }
        for (; u + 2 <= vecs; u += 2) {
          E const* const p[2] = {kvec(u), kvec(u + 1)};
          host::qk_rows<Isa, 2>(rows, qp, Dk, Dk, p, bs, sb + u * L, tile);
        }
        for (; u < vecs; ++u) {
          E const* const p[1] = {kvec(u)};
          host::qk_rows<Isa, 1>(rows, qp, Dk, Dk, p, bs, sb + u * L, tile);
        }
        if constexpr (paged_kv_cache<E>::scaled) {
          for (index_t i = 0; i < gb; ++i) std::copy_n(cache.key_scales(block[i], h), bs, scl + i * bs);
          for (index_t r = 0; r < rows; ++r)
            for (index_t c = 0; c < width; c += L)
              Isa::store(sb + r * tile + c, Isa::mul(Isa::load(sb + r * tile + c), Isa::load(scl + c)));
        }
        if (cov == tile_coverage::partial || keys < width) {
          for (index_t r = 0; r < rows; ++r) {
            index_t const qpos = q_lo + r / G;
            for (index_t c = 0; c < width; ++c)
              if (c >= keys || !mask.keep(qpos, k_lo + c)) sb[r * tile + c] = -std::numeric_limits<float>::infinity();
          }
        }
        for (index_t r = 0; r < rows; ++r) alpha[r] = host::softmax_row<Isa>(sb + r * tile, width, m[r], l[r]);
        if constexpr (paged_kv_cache<E>::scaled) {
          for (index_t i = 0; i < gb; ++i) std::copy_n(cache.value_scales(block[i], h), bs, scl + i * bs);
          for (index_t r = 0; r < rows; ++r)
            for (index_t c = 0; c < width; c += L)
              Isa::store(sb + r * tile + c, Isa::mul(Isa::load(sb + r * tile + c), Isa::load(scl + c)));
        }
        // P.V block by block; the running-max rescale (alpha) applies once, with the first.
        for (index_t i = 0; i < gb && i * bs < keys; ++i) {
          index_t const kb = std::min(bs, keys - i * bs);
          float const* a = i == 0 ? alpha : ones;
          if (cfg.value_is_key_prefix) {
            E const* kt = cache.key_block(block[i], h);
            for (index_t c = 0; c < kb; ++c)
              for (index_t d = 0; d < dvs; ++d) vt[c * dvs + d] = d < Dv ? kv_to_float(kt[d * bs + c]) : 0.0f;
            host::pv_rows<Isa>(rows, sb + i * bs, tile, kb, static_cast<float const*>(vt), dvs, o, dvs, dvs, a);
          } else {
            host::pv_rows<Isa>(rows, sb + i * bs, tile, kb, cache.value_block(block[i], h), dvs, o, dvs, dvs, a);
          }
        }
      }
    }
  });

  // Merge the splits of each (sequence, KV head): rescale to the common max and normalize. With a
  // sink the common max also covers the sink's logit (top = max(mx, sink2)), as the reference
  // subtracts the row max including the sink, so a sink above every score cannot overflow; the
  // sink adds exp2(sink2 - top) to the sum once. Without one, top = mx and lsum starts at 0: the
  // same arithmetic as before sinks existed.
  pool.parallel_for(0, B * Hkv, 1, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      index_t const b = i / Hkv, h = i % Hkv;
      for (index_t r = 0; r < rows; ++r) {
        float mx = -std::numeric_limits<float>::infinity();
        for (index_t s = split_begin[b]; s < split_begin[b + 1]; ++s) mx = std::fmax(mx, partial[(s * Hkv + h) * part + r]);
        float* dst = &out(b * n + r / G, h * G + r % G, 0);
        std::fill(dst, dst + Dv, 0.0f);
        if (mx == -std::numeric_limits<float>::infinity()) continue;  // no key visible: 0, as in prefill (sink or not)
        float top = mx, lsum = 0.0f;
        if (!sinks.empty()) {
          float const sink2 = sinks[static_cast<std::size_t>(h * G + r % G)] * detail::log2e;
          top = std::fmax(mx, sink2);
          lsum = std::exp2(sink2 - top);
        }
        for (index_t s = split_begin[b]; s < split_begin[b + 1]; ++s) {
          float const* p = partial.data() + (s * Hkv + h) * part;
          float const w = std::exp2(p[r] - top);
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

// Without sinks: softmax over the cached keys alone.
template <simd::isa Isa = simd::native, attention_mask Mask, kv_element E, class QT>
void paged_attention(paged_kv_cache<E> const& cache, std::span<kv_sequence const* const> seqs, heads_view<QT> q,
                     heads_view<float> out, Mask const& mask, float scale, thread_pool& pool = thread_pool::shared()) {
  paged_attention<Isa>(cache, seqs, q, out, mask, scale, std::span<float const>{}, pool);
}

}  // namespace attention
SWITCHYARD_NAMESPACE_END
