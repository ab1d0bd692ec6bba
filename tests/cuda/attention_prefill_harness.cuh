#pragma once
// Prefill cases shared by test_attention_cuda_prefill.cu (mma.sync path) and
// test_attention_cuda_wgmma.cu (wgmma + TMA path): the device flash attention against the host's
// attention::flash_attention on the same f32 q / k / v, for each mask kind, GQA / MQA, head dims 64
// and 128, chunked prefill and learned sinks. Beyond the element checks (harness), each call must
//   - run the kernel this device and build should run for the requested path (wgmma on sm_90a code
//     when asked for, mma otherwise: a fallback fails the case), as the kernel itself records it
//     (a tag in the stats array, written on the device), and
//   - visit, skip and mask exactly the 64 x 64 tiles the host mask's coverage() names for that
//     tiling (the device's own counters), so masked tiles are provably skipped whole.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "cuda/attention_harness.cuh"
#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/mask.hpp"
#include "switchyard/kernels/attention/flash_attention.cuh"

namespace switchyard::test::attention_cuda {

namespace ka = switchyard::kernels::attention;
namespace at = switchyard::attention;

struct prefill_case {
  int T, S, Hq, Hkv, D;
  bool sinks = false;
  int first_query_position = -1;
};

// What this device and build run for a request: wgmma when asked for on sm_90a code.
inline ka::attention_path expected_prefill_path(ka::attention_path requested) {
  return requested == ka::attention_path::wgmma && device_runs_sm90a_code() ? ka::attention_path::wgmma
                                                                            : ka::attention_path::mma;
}
// The tag the kernel of a path writes into stats[3].
inline unsigned long long path_tag(ka::attention_path p) {
  return p == ka::attention_path::wgmma ? ka::flash_tag_wgmma : ka::flash_tag_mma;
}

template <at::attention_mask HostMask>
void check_prefill(prefill_case const& c, HostMask const& host_mask, ka::attention_path requested) {
  std::size_t const nq = static_cast<std::size_t>(c.T) * c.Hq * c.D, nk = static_cast<std::size_t>(c.S) * c.Hkv * c.D;
  auto const q = normal(nq), k = normal(nk), v = normal(nk);
  auto const sinks = c.sinks ? normal(static_cast<std::size_t>(c.Hq), 2.0f) : std::vector<float>{};
  float const scale = 1.0f / std::sqrt(static_cast<float>(c.D));

  std::vector<float> ref(nq);
  at::flash_attention(sy_view(q, c.T, c.Hq, c.D), sy_view(k, c.S, c.Hkv, c.D), sy_view(v, c.S, c.Hkv, c.D),
                      switchyard::make_view(ref.data(), std::int64_t{c.T}, std::int64_t{c.Hq}, std::int64_t{c.D}),
                      host_mask, scale, std::span<float const>(sinks), c.first_query_position);

  ka::flash_shape const shape{.tokens = c.T, .keys = c.S, .q_heads = c.Hq, .kv_heads = c.Hkv, .head_dim = c.D,
                              .first_query_position = c.first_query_position};
  ka::device_mask const mask = ka::from_host(host_mask);
  device_array<float> dq(q), dk(k), dv(v), dout(nq);
  std::optional<device_array<float>> dsinks;
  if (c.sinks) dsinks.emplace(sinks);
  std::size_t const bytes = ka::flash_workspace_bytes(shape, requested);
  device_array<char> ws(std::max<std::size_t>(bytes, 1));
  device_array<unsigned long long> stats(4);
  ka::attention_path ran{};
  auto const got = run_poisoned(dout, ws, [&] {
    SWITCHYARD_CUDA_CHECK(cudaMemset(stats.get(), 0, 4 * sizeof(unsigned long long)));
    ran = ka::flash_attention(dq.get(), dk.get(), dv.get(), dout.get(), shape, mask, scale,
                              c.sinks ? dsinks->get() : nullptr, ws.get(), bytes, nullptr, requested, stats.get());
  });

  ka::attention_path const expected = expected_prefill_path(requested);
  auto const counted = stats.download();
  INFO("T " << c.T << ", S " << c.S << ", Hq " << c.Hq << ", Hkv " << c.Hkv << ", D " << c.D << ", mask "
            << ka::name(mask.kind) << ", sinks " << c.sinks << ", first query " << c.first_query_position
            << "; requested " << ka::name(requested) << ", ran " << ka::name(ran) << ", expected "
            << ka::name(expected) << " on code for sm_" << device_code_arch() << "; kernel tag written on the device "
            << counted[3] << " (mma " << ka::flash_tag_mma << ", wgmma " << ka::flash_tag_wgmma << ")");
  REQUIRE(counted[3] == path_tag(expected));  // what the device ran, as the kernel recorded it
  REQUIRE(ran == expected);                   // what the launcher says it launched

  // The tiles the host mask's coverage() names for the device's 64 x 64 tiling, per query head.
  int const q0 = c.first_query_position < 0 ? c.S - c.T : c.first_query_position;
  unsigned long long tiles = 0, skipped = 0, partial = 0;
  for (int t0 = 0; t0 < c.T; t0 += ka::flash_bq)
    for (int k0 = 0; k0 < c.S; k0 += ka::flash_bk) {
      auto const cov = host_mask.coverage(q0 + t0, q0 + std::min(t0 + ka::flash_bq, c.T) - 1, k0,
                                          std::min(k0 + ka::flash_bk, c.S) - 1);
      ++tiles;
      skipped += cov == at::tile_coverage::none;
      partial += cov == at::tile_coverage::partial;
    }
  INFO("tiles visited / skipped / partial: device " << counted[0] << " / " << counted[1] << " / " << counted[2]
                                                    << ", host mask " << tiles * c.Hq << " / " << skipped * c.Hq
                                                    << " / " << partial * c.Hq);
  CHECK(counted[0] == tiles * c.Hq);
  CHECK(counted[1] == skipped * c.Hq);
  CHECK(counted[2] == partial * c.Hq);

  std::size_t const D = static_cast<std::size_t>(c.D);
  require_close(ka::name(requested), ka::name(ran), "row-rms", got, ref, D,
                [&](std::size_t row) { return row_bound{row_rms(ref, row, D), tolerance::cuda_attention_element}; },
                tolerance::cuda_attention_nmse);
}

// The cases, one function per mask kind: each test file runs them for its path, one TEST_CASE
// each, so every mask kind of every path runs in its own process on a GPU machine.
inline void prefill_causal(ka::attention_path path) {
  check_prefill({.T = 300, .S = 300, .Hq = 8, .Hkv = 2, .D = 128}, at::causal_mask{}, path);  // GQA 4:1
  check_prefill({.T = 130, .S = 130, .Hq = 6, .Hkv = 1, .D = 64}, at::causal_mask{}, path);   // MQA
  check_prefill({.T = 100, .S = 260, .Hq = 4, .Hkv = 4, .D = 64}, at::causal_mask{}, path);   // chunk after a cache
  check_prefill({.T = 1, .S = 77, .Hq = 4, .Hkv = 2, .D = 128}, at::causal_mask{}, path);     // one query
  check_prefill({.T = 50, .S = 200, .Hq = 4, .Hkv = 2, .D = 64, .first_query_position = 100}, at::causal_mask{},
                path);  // queries in the middle: the keys after them are masked
}
inline void prefill_sliding_window(ka::attention_path path) {
  check_prefill({.T = 400, .S = 400, .Hq = 4, .Hkv = 2, .D = 128}, at::sliding_window_mask(100), path);
  check_prefill({.T = 90, .S = 333, .Hq = 4, .Hkv = 1, .D = 64}, at::sliding_window_mask(64), path);
  // Queries at positions 110-239 over 100 keys, window 16: rows 0-4 see keys 95-99, every later
  // row sees none (whole query tiles with every key tile skipped) and must be exactly 0.
  check_prefill({.T = 130, .S = 100, .Hq = 4, .Hkv = 2, .D = 64, .first_query_position = 110},
                at::sliding_window_mask(16), path);
}
inline void prefill_sink_window(ka::attention_path path) {
  check_prefill({.T = 350, .S = 350, .Hq = 4, .Hkv = 2, .D = 64}, at::sink_window_mask(4, 90), path);
  check_prefill({.T = 200, .S = 200, .Hq = 2, .Hkv = 1, .D = 128}, at::sink_window_mask(70, 64), path);
  // No sinks, window 32, queries at 150-249 over 120 keys: only the query at 150 sees a key (119).
  check_prefill({.T = 100, .S = 120, .Hq = 2, .Hkv = 1, .D = 128, .first_query_position = 150},
                at::sink_window_mask(0, 32), path);
}
inline void prefill_block_sparse(ka::attention_path path) {
  check_prefill({.T = 333, .S = 333, .Hq = 4, .Hkv = 2, .D = 128}, at::block_sparse_mask(16, 2, 1, 4), path);
  check_prefill({.T = 512, .S = 512, .Hq = 2, .Hkv = 1, .D = 64}, at::block_sparse_mask(64, 1, 1, 3), path);
}
inline void prefill_no_mask(ka::attention_path path) {
  check_prefill({.T = 77, .S = 150, .Hq = 4, .Hkv = 2, .D = 64}, at::no_mask{}, path);
  check_prefill({.T = 65, .S = 65, .Hq = 2, .Hkv = 2, .D = 128}, at::no_mask{}, path);
}
inline void prefill_learned_sinks(ka::attention_path path) {
  check_prefill({.T = 150, .S = 150, .Hq = 8, .Hkv = 2, .D = 64, .sinks = true}, at::causal_mask{}, path);
  check_prefill({.T = 200, .S = 200, .Hq = 4, .Hkv = 1, .D = 128, .sinks = true}, at::sliding_window_mask(8), path);
}

}  // namespace switchyard::test::attention_cuda
