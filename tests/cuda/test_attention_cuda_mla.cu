// DeepSeek MLA absorbed decode on the device (kernels/switchyard/kernels/attention/mla_decode.cuh)
// against the host's three stages of mla_attention's decode: q_lat = W_uk^T q_nope per head,
// paged_attention over the latent cache (one KV head, key [c, k_pe], value = the key's first rank
// entries), and W_uv per head. DeepSeek-V3's latent sizes (rank 512, rope 64, nope 128, v 128),
// 16 heads, a bf16 and an e4m3 latent cache; every output element within
// tolerance::cuda_mla_decode of its row's RMS. Also the latent cache's layout on its own
// (value_is_key_prefix) through the generic decode.
#include <catch2/catch.hpp>

#include "cuda/attention_decode_harness.cuh"
#include "switchyard/kernels/attention/mla_decode.cuh"

using namespace switchyard::test::attention_cuda;
namespace fmt = switchyard::format;
namespace tolerance = switchyard::test::tolerance;
using switchyard::test::device_array;

namespace {

template <class E>
void check_mla(std::vector<int> const& lengths) {
  int const H = 16, R = 512, rd = 64, nope = 128, vd = 128;
  at::kv_cache_config const cc{.kv_heads = 1, .key_dim = R + rd, .value_dim = R, .block_size = 64, .blocks = 64,
                               .value_is_key_prefix = true};
  cache_fixture<E> f(cc, lengths);
  int const B = static_cast<int>(lengths.size());
  auto const q = normal(static_cast<std::size_t>(B) * H * (nope + rd));
  auto const kv_b = normal(static_cast<std::size_t>(H) * (nope + vd) * R, 1.0f / std::sqrt(static_cast<float>(R)));
  float const scale = 1.0f / std::sqrt(static_cast<float>(nope + rd));

  // Host: the decode branch of mla_attention::forward, stage by stage.
  std::vector<float> qa(static_cast<std::size_t>(B) * H * (R + rd));
  for (int t = 0; t < B; ++t)
    for (int h = 0; h < H; ++h) {
      float const* qn = q.data() + (static_cast<std::size_t>(t) * H + h) * (nope + rd);
      float* dst = qa.data() + (static_cast<std::size_t>(t) * H + h) * (R + rd);
      for (int r = 0; r < R; ++r) {
        float acc = 0.0f;
        for (int i = 0; i < nope; ++i) acc += kv_b[(static_cast<std::size_t>(h) * (nope + vd) + i) * R + r] * qn[i];
        dst[r] = acc;
      }
      for (int i = 0; i < rd; ++i) dst[R + i] = qn[nope + i];
    }
  std::vector<float> lat(static_cast<std::size_t>(B) * H * R);
  auto const ptrs = f.seq_ptrs();
  at::paged_attention(f.cache, std::span<at::kv_sequence const* const>(ptrs), sy_view(qa, B, H, R + rd),
                      switchyard::make_view(lat.data(), std::int64_t{B}, std::int64_t{H}, std::int64_t{R}),
                      at::causal_mask{}, scale);
  std::vector<float> ref(static_cast<std::size_t>(B) * H * vd);
  for (int t = 0; t < B; ++t)
    for (int h = 0; h < H; ++h)
      for (int v = 0; v < vd; ++v) {
        float acc = 0.0f;
        for (int r = 0; r < R; ++r)
          acc += kv_b[(static_cast<std::size_t>(h) * (nope + vd) + nope + v) * R + r] *
                 lat[(static_cast<std::size_t>(t) * H + h) * R + r];
        ref[(static_cast<std::size_t>(t) * H + h) * vd + v] = acc;
      }

  ka::mla_decode_shape const s{.sequences = B, .queries = 1, .heads = H, .rank = R, .rope_dim = rd, .nope_dim = nope,
                               .v_head_dim = vd, .max_length = f.max_length, .table_stride = f.table_stride};
  auto const cache = f.view();
  std::size_t const bytes = ka::mla_decode_workspace_bytes(s, cache);
  device_array<float> dq(q), dkv(kv_b), dout(ref.size());
  device_array<char> ws(bytes);
  auto const got = run_poisoned(dout, ws, [&] {
    ka::mla_decode(cache, f.tables.get(), f.lengths.get(), dq.get(), dkv.get(), dout.get(), s, scale, ws.get(), bytes);
  });
  INFO("sequences " << B << ", longest " << f.max_length);
  require_close("mla-absorbed", "mla-absorbed", "row-rms", got, ref, static_cast<std::size_t>(vd), [&](std::size_t row) {
    return row_bound{row_rms(ref, row, static_cast<std::size_t>(vd)), tolerance::cuda_mla_decode};
  });
}

}  // namespace

TEST_CASE("device MLA decode equals host: bf16 latent cache", "[cuda][attention][mla]") {
  check_mla<fmt::bf16>({130, 700, 1});
}
TEST_CASE("device MLA decode equals host: e4m3 latent cache", "[cuda][attention][mla]") {
  check_mla<fmt::e4m3>({300, 64});
}
TEST_CASE("device paged decode equals host: latent cache layout (value is the key's prefix)", "[cuda][attention][mla]") {
  check_decode<fmt::bf16>({.cache = {.kv_heads = 1, .key_dim = 576, .value_dim = 512, .block_size = 64, .blocks = 32,
                                     .value_is_key_prefix = true},
                           .lengths = {400, 77},
                           .q_heads = 16},
                          at::causal_mask{});
}
