#pragma once
// Paged decode cases (test_attention_cuda_decode.cu, test_attention_cuda_mla.cu): a host
// paged_kv_cache filled by the host's own append (sequences interleaved, so block tables are
// scattered over the pool), uploaded byte for byte -- its pool and scales in the host layout --
// and the device split-K decode compared with the host's paged_attention on the same cache: every
// element within tolerance::cuda_decode_element of its (token, head) row's RMS, and the split
// count the device kernels record equal to the one asked for.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda/attention_harness.cuh"
#include "switchyard/attention/mask.hpp"
#include "switchyard/attention/paged_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/kernels/attention/paged_decode.cuh"

namespace switchyard::test::attention_cuda {

namespace ka = switchyard::kernels::attention;
namespace at = switchyard::attention;

// A host cache with sequences of the given lengths, appended in chunks of 13 tokens in turn, and
// its device copy.
template <class E>
struct cache_fixture {
  at::kv_cache_config cfg;
  at::paged_kv_cache<E> cache;
  std::vector<at::kv_sequence> seqs;
  device_array<E> data;
  device_array<float> scales;
  device_array<int> tables, lengths;
  int table_stride = 0, max_length = 0;

  cache_fixture(at::kv_cache_config const& c, std::vector<int> const& lens) : cfg(c), cache(c), seqs(lens.size()) {
    std::int64_t const Hkv = c.kv_heads, Dk = c.key_dim, Dv = c.value_dim;
    std::vector<int> done(lens.size(), 0);
    for (bool more = true; more;) {
      more = false;
      for (std::size_t b = 0; b < lens.size(); ++b) {
        int const n = std::min(13, lens[b] - done[b]);
        if (n <= 0) continue;
        more = true;
        auto const k = normal(static_cast<std::size_t>(n * Hkv * Dk));
        auto const v = normal(static_cast<std::size_t>(n * Hkv * Dv));
        if (c.value_is_key_prefix)
          cache.append(seqs[b], sy_view(k, n, Hkv, Dk));
        else
          cache.append(seqs[b], sy_view(k, n, Hkv, Dk), sy_view(v, n, Hkv, Dv));
        done[b] += n;
      }
    }
    ka::kv_layout const l = ka::layout_of<E>(c);
    REQUIRE(l.value_stride == cache.value_stride());
    auto const& host = std::as_const(cache);  // the public, const accessors of the pool
    REQUIRE(host.key_block(1, 0) - host.key_block(0, 0) == l.head_elems * c.kv_heads);
    E const* pool = host.key_block(0, 0);
    data = device_array<E>(std::vector<E>(pool, pool + l.data_elems));
    if constexpr (at::paged_kv_cache<E>::scaled) {
      float const* s = host.key_scales(0, 0);
      scales = device_array<float>(std::vector<float>(s, s + l.scale_elems));
    }
    for (int n : lens) max_length = std::max(max_length, n);
    table_stride = (max_length + static_cast<int>(c.block_size) - 1) / static_cast<int>(c.block_size);
    std::vector<int> t(lens.size() * static_cast<std::size_t>(table_stride), 0), L(lens.begin(), lens.end());
    for (std::size_t b = 0; b < lens.size(); ++b)
      std::copy(seqs[b].block_table.begin(), seqs[b].block_table.end(), t.begin() + static_cast<std::ptrdiff_t>(b * table_stride));
    tables = device_array<int>(t);
    lengths = device_array<int>(L);
  }

  ka::device_kv_cache<E> view() const {
    return ka::make_device_cache<E>(cfg, data.get(), at::paged_kv_cache<E>::scaled ? scales.get() : nullptr);
  }
  std::vector<at::kv_sequence const*> seq_ptrs() const {
    std::vector<at::kv_sequence const*> p;
    for (auto const& s : seqs) p.push_back(&s);
    return p;
  }
};

struct decode_case {
  at::kv_cache_config cache;
  std::vector<int> lengths;
  int q_heads = 0, queries = 1;
  bool sinks = false;
  int splits = 0;  // 0: the device's choice; also run with splits forced to 1 and to 7
};

template <class E, at::attention_mask HostMask>
void check_decode(decode_case const& c, HostMask const& host_mask) {
  cache_fixture<E> f(c.cache, c.lengths);
  int const B = static_cast<int>(c.lengths.size()), n = c.queries, Hq = c.q_heads;
  int const Dk = static_cast<int>(c.cache.key_dim), Dv = static_cast<int>(c.cache.value_dim);
  auto const q = normal(static_cast<std::size_t>(B) * n * Hq * Dk);
  auto const sinks = c.sinks ? normal(static_cast<std::size_t>(Hq), 2.0f) : std::vector<float>{};
  float const scale = 1.0f / std::sqrt(static_cast<float>(Dk));
  std::vector<float> ref(static_cast<std::size_t>(B) * n * Hq * Dv);
  auto const ptrs = f.seq_ptrs();
  at::paged_attention(f.cache, std::span<at::kv_sequence const* const>(ptrs), sy_view(q, B * n, Hq, Dk),
                      switchyard::make_view(ref.data(), std::int64_t{B} * n, std::int64_t{Hq}, std::int64_t{Dv}),
                      host_mask, scale, std::span<float const>(sinks));

  device_array<float> dq(q), dout(ref.size());
  std::optional<device_array<float>> dsinks;
  if (c.sinks) dsinks.emplace(sinks);
  auto const cache = f.view();
  device_array<int> stats(2);
  for (int forced : {c.splits, 1, 7}) {
    ka::decode_shape const s{.sequences = B, .queries = n, .q_heads = Hq, .max_length = f.max_length,
                             .table_stride = f.table_stride, .splits = forced};
    std::size_t const bytes = ka::decode_workspace_bytes(s, cache);
    device_array<char> ws(bytes);
    int returned = 0;
    auto const got = run_poisoned(dout, ws, [&] {
      stats.poison();  // -1 until the kernels write what they ran with
      returned = ka::paged_decode(cache, f.tables.get(), f.lengths.get(), dq.get(), dout.get(), s,
                                  ka::from_host(host_mask), scale, c.sinks ? dsinks->get() : nullptr, ws.get(), bytes,
                                  nullptr, stats.get());
    });
    auto const ran = stats.download();  // written on the device: [split kernel's grid, splits merged]
    INFO("sequences " << B << " (longest " << f.max_length << "), queries " << n << ", Hq " << Hq << ", Hkv "
                      << c.cache.kv_heads << ", key/value dim " << Dk << "/" << Dv << ", block " << c.cache.block_size
                      << ", splits asked " << forced << ", returned " << returned << ", run by the split kernel "
                      << ran[0] << ", merged " << ran[1]);
    REQUIRE(ran[0] >= 1);
    REQUIRE(ran[1] == ran[0]);    // the merge combined exactly the splits that were computed
    REQUIRE(returned == ran[0]);  // the launcher reports what the device ran
    if (forced > 0) REQUIRE(ran[0] == forced);  // the split count asked for is the one that ran
    std::size_t const W = static_cast<std::size_t>(Dv);
    require_close("split-K", "split-K x" + std::to_string(ran[0]), "row-rms", got, ref, W, [&](std::size_t row) {
      return row_bound{row_rms(ref, row, W), tolerance::cuda_decode_element};
    });
  }
}

}  // namespace switchyard::test::attention_cuda
