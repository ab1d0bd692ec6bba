// Device split-K decode over the paged KV cache (kernels/switchyard/kernels/attention/
// paged_decode.cuh) against the host's paged_attention on the same cache bytes: one test case per
// cache format (f32, bf16, f16, int8, fp8 e4m3 with per-token scales), a sliding window, learned
// sinks with StreamingLLM's mask, several queries per sequence; each run with the device's split
// count and with 1 and 7 splits (attention_decode_harness.cuh).
#include <catch2/catch.hpp>

#include "cuda/attention_decode_harness.cuh"

using namespace switchyard::test::attention_cuda;
namespace fmt = switchyard::format;

namespace {
decode_case plain() {
  return {.cache = {.kv_heads = 2, .key_dim = 128, .value_dim = 128, .block_size = 16, .blocks = 256},
          .lengths = {37, 300, 1000},
          .q_heads = 8};
}
}  // namespace

TEST_CASE("device paged decode equals host: f32 cache", "[cuda][attention][decode]") {
  check_decode<float>(plain(), at::causal_mask{});
}
TEST_CASE("device paged decode equals host: bf16 cache", "[cuda][attention][decode]") {
  check_decode<fmt::bf16>(plain(), at::causal_mask{});
}
TEST_CASE("device paged decode equals host: f16 cache", "[cuda][attention][decode]") {
  check_decode<fmt::f16>(plain(), at::causal_mask{});
}
TEST_CASE("device paged decode equals host: int8 cache", "[cuda][attention][decode]") {
  check_decode<std::int8_t>(plain(), at::causal_mask{});
}
TEST_CASE("device paged decode equals host: fp8 e4m3 cache", "[cuda][attention][decode]") {
  check_decode<fmt::e4m3>(plain(), at::causal_mask{});
}
TEST_CASE("device paged decode equals host: sliding window, 64-token blocks, head dim 64", "[cuda][attention][decode]") {
  check_decode<fmt::bf16>({.cache = {.kv_heads = 4, .key_dim = 64, .value_dim = 64, .block_size = 64, .blocks = 64},
                           .lengths = {900, 129},
                           .q_heads = 16},
                          at::sliding_window_mask(200));
}
TEST_CASE("device paged decode equals host: learned sinks and StreamingLLM sinks + window", "[cuda][attention][decode]") {
  check_decode<fmt::bf16>({.cache = {.kv_heads = 2, .key_dim = 64, .value_dim = 64, .block_size = 32, .blocks = 64},
                           .lengths = {700, 40},
                           .q_heads = 4,
                           .sinks = true},
                          at::sink_window_mask(4, 100));
}
TEST_CASE("device paged decode equals host: three queries per sequence, MQA", "[cuda][attention][decode]") {
  check_decode<std::int8_t>({.cache = {.kv_heads = 1, .key_dim = 128, .value_dim = 128, .block_size = 16, .blocks = 128},
                             .lengths = {50, 513},
                             .q_heads = 6,
                             .queries = 3},
                            at::causal_mask{});
}
TEST_CASE("device paged decode equals host: four queries per sequence in a sliding window", "[cuda][attention][decode]") {
  // Each of the n = 4 rows of a sequence has its own window (positions len - 4 .. len - 1), so
  // the mask's edges fall inside one key tile and differ from row to row; a window of 3 is
  // shorter than the queries, so the first row's window ends three keys before the sequence does.
  decode_case const c{.cache = {.kv_heads = 2, .key_dim = 128, .value_dim = 128, .block_size = 16, .blocks = 256},
                      .lengths = {1000, 37, 300},
                      .q_heads = 8,
                      .queries = 4};
  check_decode<fmt::f16>(c, at::sliding_window_mask(100));
  check_decode<fmt::f16>(c, at::sliding_window_mask(3));
}
TEST_CASE("device paged decode refuses a grid past the device's limits", "[cuda][attention][decode]") {
  at::kv_cache_config const cfg{.kv_heads = 8, .key_dim = 64, .value_dim = 64, .block_size = 16, .blocks = 1};
  float const fake = 0.0f;  // never read: the launcher refuses before any launch
  auto const cache = ka::make_device_cache<float>(cfg, &fake, nullptr);
  int* none = nullptr;
  float* f = nullptr;
  auto const causal = ka::from_host(at::causal_mask{});
  // sequences x kv_heads = 8200 x 8 = 65600: past the grid's y limit (65535)
  ka::decode_shape s{.sequences = 8200, .queries = 1, .q_heads = 8, .max_length = 16, .table_stride = 1};
  CHECK_THROWS_AS(ka::paged_decode(cache, none, none, f, f, s, causal, 0.1f, nullptr, f, 0), switchyard::invalid_argument);
  // 65536 x 8 query rows of one KV head: 65536 groups of 8, past the grid's z limit
  s = {.sequences = 1, .queries = 65536 * 8, .q_heads = 8, .max_length = 16, .table_stride = 1};
  CHECK_THROWS_AS(ka::paged_decode(cache, none, none, f, f, s, causal, 0.1f, nullptr, f, 0), switchyard::invalid_argument);
}
