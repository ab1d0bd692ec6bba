// Appending to the paged KV cache on the device (kernels/switchyard/kernels/attention/
// cache_write.cuh) against the host's paged_kv_cache::append, byte for byte: every cache format
// (f32, bf16, f16, int8, fp8 e4m3), a plain cache (V rows padded to the value stride) and MLA's
// latent cache (value_is_key_prefix: K only), blocks of 16 and 64 tokens. Three sequences are
// appended in several calls -- a prompt (host appends interleaved in chunks of 3, so the block
// tables are scattered over the pool; the device gets the tokens in a shuffled order), single
// tokens per sequence with a padding row (position -1) among them, one sequence crossing into a
// new block, then a chunk straddling a block boundary. The host appends first (it owns the block
// allocation), its tables are uploaded, and the device appends the same tokens into a pool
// poisoned with 0xFF bytes. After every call: each element and scale the host wrote equals the
// device's byte for byte, and every one it did not write still holds 0xFF on the device. Inputs
// vary the scale per token, and plant a zero head vector (scale 1) and exact halves (int8 rounds
// half to even). Last, the device decode reads the device-written cache and must agree with the
// host's paged_attention over the host cache (a smoke check that the layout is the one it reads).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda/attention_harness.cuh"
#include "switchyard/attention/mask.hpp"
#include "switchyard/attention/paged_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/kernels/attention/cache_write.cuh"
#include "switchyard/kernels/attention/paged_decode.cuh"

using namespace switchyard::test::attention_cuda;
namespace ka = switchyard::kernels::attention;
namespace at = switchyard::attention;
namespace fmt = switchyard::format;
using switchyard::test::device_array;

namespace {

// One token to append: its sequence and its K / V head vectors.
struct token {
  int seq;
  std::vector<float> k, v;  // [kv_heads, key_dim], [kv_heads, value_dim]
};

template <class E>
struct cache_case {
  at::kv_cache_config cfg;
  at::paged_kv_cache<E> host;
  std::vector<at::kv_sequence> seqs = std::vector<at::kv_sequence>(3);
  ka::kv_layout layout;
  device_array<E> pool;
  device_array<float> scales;
  int table_stride;
  std::mt19937 gen{1234};
  int calls = 0;

  explicit cache_case(at::kv_cache_config const& c)
      : cfg(c), host(c), layout(ka::layout_of<E>(c)), pool(static_cast<std::size_t>(layout.data_elems)),
        scales(static_cast<std::size_t>(layout.scale_elems)), table_stride(static_cast<int>(c.blocks)) {
    REQUIRE(layout.value_stride == host.value_stride());
    pool.poison();  // 0xFF everywhere: a slot the device writes by mistake, or forgets, shows
    scales.poison();
  }

  ka::device_kv_cache_out<E> out() const {
    return ka::make_device_cache_out<E>(cfg, pool.get(), at::paged_kv_cache<E>::scaled ? scales.get() : nullptr);
  }

  // A token's head vectors: normal values times a per-token magnitude (so scales differ);
  // `special` 1 zeroes K's first head (scale 1 on the scaled formats), 2 makes it exact halves
  // whose absmax is 127 (scale 1 for int8, so the codes are x rounded half to even).
  token make(int seq, int special) {
    int const H = static_cast<int>(cfg.kv_heads), Dk = static_cast<int>(cfg.key_dim), Dv = static_cast<int>(cfg.value_dim);
    float const mag = std::exp2(static_cast<float>(static_cast<int>(gen() % 9)) - 4.0f);
    token t{seq, normal(static_cast<std::size_t>(H * Dk), mag), normal(static_cast<std::size_t>(H * Dv), mag)};
    if (special == 1) std::fill(t.k.begin(), t.k.begin() + Dk, 0.0f);
    if (special == 2) {
      for (int d = 0; d < Dk; ++d) t.k[static_cast<std::size_t>(d)] = 0.5f * static_cast<float>(d % 11) - 2.5f;
      t.k[0] = 127.0f;
    }
    return t;
  }

  // Appends `chunks` (per sequence, in order) on the host, then all their tokens in `order` on the
  // device with `pad` padding rows (position -1) inserted at the front, middle and end, and checks.
  void append(std::vector<std::vector<token>> const& chunks, int pad, char const* what) {
    ++calls;
    int const H = static_cast<int>(cfg.kv_heads), Dk = static_cast<int>(cfg.key_dim), Dv = static_cast<int>(cfg.value_dim);
    // Host: every chunk in turn, split into pieces of 3 tokens taken round robin (scatters blocks).
    std::vector<int> start(3);
    for (int s = 0; s < 3; ++s) start[static_cast<std::size_t>(s)] = static_cast<int>(seqs[static_cast<std::size_t>(s)].length);
    std::vector<std::size_t> done(3, 0);
    for (bool more = true; more;) {
      more = false;
      for (std::size_t s = 0; s < 3; ++s) {
        std::size_t const n = std::min<std::size_t>(3, chunks[s].size() - done[s]);
        if (n == 0) continue;
        more = true;
        std::vector<float> k, v;
        for (std::size_t i = done[s]; i < done[s] + n; ++i) {
          k.insert(k.end(), chunks[s][i].k.begin(), chunks[s][i].k.end());
          v.insert(v.end(), chunks[s][i].v.begin(), chunks[s][i].v.end());
        }
        auto const N = static_cast<std::int64_t>(n);
        if (cfg.value_is_key_prefix)
          host.append(seqs[s], sy_view(k, N, H, Dk));
        else
          host.append(seqs[s], sy_view(k, N, H, Dk), sy_view(v, N, H, Dv));
        done[s] += n;
      }
    }
    // Device rows: (sequence, position, token), shuffled, with padding rows.
    struct row {
      int seq, pos;
      token const* t;
    };
    std::vector<row> rows;
    for (int s = 0; s < 3; ++s)
      for (std::size_t i = 0; i < chunks[static_cast<std::size_t>(s)].size(); ++i)
        rows.push_back({s, start[static_cast<std::size_t>(s)] + static_cast<int>(i), &chunks[static_cast<std::size_t>(s)][i]});
    std::shuffle(rows.begin(), rows.end(), gen);
    for (int p = 0; p < pad; ++p) {
      auto const at_ = p == 0 ? rows.begin() : (p == 1 ? rows.begin() + static_cast<std::ptrdiff_t>(rows.size() / 2) : rows.end());
      rows.insert(at_, row{p % 3, -1, nullptr});
    }
    int const T = static_cast<int>(rows.size());
    int const ldk = H * Dk + 5, ldv = H * Dv + 3;  // row strides wider than a row: ld is honoured
    std::vector<float> k(static_cast<std::size_t>(T) * ldk, 1e30f), v(static_cast<std::size_t>(T) * ldv, 1e30f);
    std::vector<int> seq_of(static_cast<std::size_t>(T)), pos(static_cast<std::size_t>(T));
    for (int i = 0; i < T; ++i) {
      auto const& r = rows[static_cast<std::size_t>(i)];
      seq_of[static_cast<std::size_t>(i)] = r.seq;
      pos[static_cast<std::size_t>(i)] = r.pos;
      if (r.t == nullptr) continue;  // padding: 1e30 would change a scale if it were written
      std::copy(r.t->k.begin(), r.t->k.end(), k.begin() + static_cast<std::ptrdiff_t>(i) * ldk);
      std::copy(r.t->v.begin(), r.t->v.end(), v.begin() + static_cast<std::ptrdiff_t>(i) * ldv);
    }
    std::vector<int> tables(static_cast<std::size_t>(3 * table_stride), -1);
    for (std::size_t s = 0; s < 3; ++s)
      std::copy(seqs[s].block_table.begin(), seqs[s].block_table.end(), tables.begin() + static_cast<std::ptrdiff_t>(s) * table_stride);
    device_array<int> dt(tables), ds(seq_of), dp(pos);
    device_array<float> dk(k), dv(v);
    ka::append_kv(out(), dt.get(), table_stride, ds.get(), dp.get(), dk.get(), ldk,
                  cfg.value_is_key_prefix ? nullptr : dv.get(), ldv, T, nullptr);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    compare(what, T);
  }

  // Every element and scale the host wrote so far equals the device's bytes; the rest are 0xFF.
  void compare(char const* what, int T) {
    std::int64_t const H = cfg.kv_heads, Dk = cfg.key_dim, Dv = cfg.value_dim, bs = cfg.block_size;
    std::vector<char> written(static_cast<std::size_t>(layout.data_elems), 0), swritten(static_cast<std::size_t>(layout.scale_elems), 0);
    for (auto const& s : seqs)
      for (std::int64_t t = 0; t < s.length; ++t) {
        std::int64_t const blk = s.block_table[static_cast<std::size_t>(t / bs)], slot = t % bs;
        for (std::int64_t h = 0; h < H; ++h) {
          std::int64_t const base = (blk * H + h) * layout.head_elems;
          for (std::int64_t d = 0; d < Dk; ++d) written[static_cast<std::size_t>(base + d * bs + slot)] = 1;
          if (!cfg.value_is_key_prefix)
            for (std::int64_t d = 0; d < layout.value_stride; ++d)
              written[static_cast<std::size_t>(base + Dk * bs + slot * layout.value_stride + d)] = 1;
          if constexpr (at::paged_kv_cache<E>::scaled) {
            swritten[static_cast<std::size_t>((blk * H + h) * 2 * bs + slot)] = 1;
            if (!cfg.value_is_key_prefix) swritten[static_cast<std::size_t>(((blk * H + h) * 2 + 1) * bs + slot)] = 1;
          }
        }
      }
    (void)Dv;
    auto const& h = std::as_const(host);
    E const* hp = h.key_block(0, 0);
    auto const dev = pool.download();
    std::size_t wrong = 0, stray = 0, nwritten = 0, first = SIZE_MAX;
    std::uint8_t ff[sizeof(E)];
    std::memset(ff, 0xFF, sizeof(E));
    for (std::size_t i = 0; i < dev.size(); ++i) {
      if (written[i]) {
        ++nwritten;
        if (std::memcmp(&dev[i], hp + i, sizeof(E)) != 0) wrong++, first = std::min(first, i);
      } else if (std::memcmp(&dev[i], ff, sizeof(E)) != 0) {
        stray++, first = std::min(first, i);
      }
    }
    std::size_t swrong = 0, sstray = 0;
    if constexpr (at::paged_kv_cache<E>::scaled) {
      float const* hs = h.key_scales(0, 0);
      auto const ds = scales.download();
      for (std::size_t i = 0; i < ds.size(); ++i) {
        std::uint32_t a, b;
        std::memcpy(&a, &ds[i], 4);
        std::memcpy(&b, hs + i, 4);
        if (swritten[i] ? a != b : a != 0xFFFFFFFFu) (swritten[i] ? swrong : sstray)++;
      }
    }
    std::printf("switchyard-record: requested=append_kv ran=append_kv check=%s/%s/block%d/call%d err=%zu bound=0 "
                "nmse=0 nmse_bound=0\n",
                what, cfg.value_is_key_prefix ? "latent" : "plain", static_cast<int>(bs), calls,
                wrong + stray + swrong + sstray);
    std::fflush(stdout);
    INFO(what << " (" << (cfg.value_is_key_prefix ? "latent" : "plain") << " cache, block " << bs << ", call " << calls
              << ", " << T << " rows): " << nwritten << " elements written by the host; " << wrong
              << " differ on the device, " << stray << " unwritten ones are not 0xFF (first bad element " << first
              << "); scales: " << swrong << " differ, " << sstray << " unwritten ones are not 0xFF");
    REQUIRE(nwritten > 0);
    REQUIRE(wrong == 0);
    REQUIRE(stray == 0);
    REQUIRE(swrong == 0);
    REQUIRE(sstray == 0);
  }

  // The device decode over the device-written cache against the host's over the host cache.
  void decode_smoke() {
    int const B = 3, Hq = 4 * static_cast<int>(cfg.kv_heads), Dk = static_cast<int>(cfg.key_dim), Dv = static_cast<int>(cfg.value_dim);
    auto const q = normal(static_cast<std::size_t>(B) * Hq * Dk);
    float const scale = 1.0f / std::sqrt(static_cast<float>(Dk));
    std::vector<float> ref(static_cast<std::size_t>(B) * Hq * Dv);
    std::vector<at::kv_sequence const*> ptrs;
    for (auto const& s : seqs) ptrs.push_back(&s);
    at::paged_attention(host, std::span<at::kv_sequence const* const>(ptrs), sy_view(q, B, Hq, Dk),
                        switchyard::make_view(ref.data(), std::int64_t{B}, std::int64_t{Hq}, std::int64_t{Dv}),
                        at::causal_mask{}, scale, std::span<float const>());
    std::vector<int> tables(static_cast<std::size_t>(B * table_stride), 0), lens;
    int max_length = 0;
    for (std::size_t s = 0; s < 3; ++s) {
      std::copy(seqs[s].block_table.begin(), seqs[s].block_table.end(), tables.begin() + static_cast<std::ptrdiff_t>(s) * table_stride);
      lens.push_back(static_cast<int>(seqs[s].length));
      max_length = std::max(max_length, lens.back());
    }
    device_array<int> dt(tables), dl(lens);
    device_array<float> dq(q), dout(ref.size());
    auto const in = ka::as_input(out());
    ka::decode_shape const sh{.sequences = B, .queries = 1, .q_heads = Hq, .max_length = max_length,
                              .table_stride = table_stride, .splits = 0};
    std::size_t const bytes = ka::decode_workspace_bytes(sh, in);
    device_array<char> ws(bytes);
    auto const got = run_poisoned(dout, ws, [&] {
      ka::paged_decode(in, dt.get(), dl.get(), dq.get(), dout.get(), sh, ka::from_host(at::causal_mask{}), scale, nullptr,
                       ws.get(), bytes);
    });
    std::size_t const W = static_cast<std::size_t>(Dv);
    require_close("decode on a device-written cache", "paged_decode", "row-rms", got, ref, W, [&](std::size_t r) {
      return row_bound{row_rms(ref, r, W), switchyard::test::tolerance::cuda_decode_element};
    });
  }
};

template <class E>
void check_appends(at::kv_cache_config const& cfg, char const* what) {
  cache_case<E> c(cfg);
  int const bs = static_cast<int>(cfg.block_size);
  // The prompt: sequence 0 stops two tokens short of a block, 1 is short, 2 spans two blocks.
  std::vector<std::vector<token>> prompt(3);
  int const plen[3] = {bs - 2, 5, bs + 3};
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < plen[s]; ++i)
      prompt[static_cast<std::size_t>(s)].push_back(c.make(s, s == 1 && i == 2 ? 1 : (s == 2 && i == 7 ? 2 : 0)));
  c.append(prompt, 0, what);
  // Decode steps: one token per sequence and padding rows; sequence 0 enters a new block at step 2.
  for (int step = 0; step < 4; ++step) {
    std::vector<std::vector<token>> one(3);
    for (int s = 0; s < 3; ++s) one[static_cast<std::size_t>(s)].push_back(c.make(s, step == 1 && s == 0 ? 1 : 0));
    c.append(one, step == 0 ? 1 : 3, what);
  }
  REQUIRE(c.seqs[0].block_table.size() == 2);  // the crossing happened
  // A chunk straddling a block boundary: sequence 1 (9 tokens) gets bs more, and one padding row.
  std::vector<std::vector<token>> chunk(3);
  for (int i = 0; i < bs; ++i) chunk[1].push_back(c.make(1, i == bs - 8 ? 2 : 0));
  c.append(chunk, 1, what);
  REQUIRE(c.seqs[1].length == bs + 9);
  c.decode_smoke();
}

at::kv_cache_config plain(int bs) {
  return {.kv_heads = 2, .key_dim = 40, .value_dim = 24, .block_size = bs, .blocks = 12};  // V padded 24 -> 32
}
at::kv_cache_config latent(int bs) {  // MLA: [rank 64, rope 16], value = the first 64
  return {.kv_heads = 1, .key_dim = 80, .value_dim = 64, .block_size = bs, .blocks = 12, .value_is_key_prefix = true};
}

template <class E>
void check_format(char const* what) {
  for (int bs : {16, 64}) {
    check_appends<E>(plain(bs), what);
    check_appends<E>(latent(bs), what);
  }
}

}  // namespace

TEST_CASE("device KV cache append equals host byte for byte: f32", "[cuda][attention][cache]") {
  check_format<float>("f32");
}
TEST_CASE("device KV cache append equals host byte for byte: bf16", "[cuda][attention][cache]") {
  check_format<fmt::bf16>("bf16");
}
TEST_CASE("device KV cache append equals host byte for byte: f16", "[cuda][attention][cache]") {
  check_format<fmt::f16>("f16");
}
TEST_CASE("device KV cache append equals host byte for byte: int8 with per-token scales", "[cuda][attention][cache]") {
  check_format<std::int8_t>("int8");
}
TEST_CASE("device KV cache append equals host byte for byte: fp8 e4m3 with per-token scales", "[cuda][attention][cache]") {
  check_format<fmt::e4m3>("e4m3");
}
TEST_CASE("device KV cache append rejects a view without scales for a scaled format", "[cuda][attention][cache]") {
  at::kv_cache_config const cfg = plain(16);
  device_array<std::int8_t> pool(static_cast<std::size_t>(ka::layout_of<std::int8_t>(cfg).data_elems));
  device_array<int> ints(4);
  device_array<float> k(static_cast<std::size_t>(80));
  auto const view = ka::make_device_cache_out<std::int8_t>(cfg, pool.get(), nullptr);
  REQUIRE_THROWS_WITH(ka::append_kv(view, ints.get(), 1, ints.get(), ints.get(), k.get(), 80, k.get(), 48, 1, nullptr),
                      Catch::Contains("append_kv") && Catch::Contains("scales"));
}
