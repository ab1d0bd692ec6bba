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
