// Device flash attention prefill on the mma.sync path (kernels/switchyard/kernels/attention/
// flash_mma.cuh) against the host's flash_attention: one test case per mask kind (the cases and
// checks: attention_prefill_harness.cuh), plus the refusals of the launcher.
#include <catch2/catch.hpp>

#include "cuda/attention_prefill_harness.cuh"

using namespace switchyard::test::attention_cuda;
namespace {
constexpr auto path = ka::attention_path::mma;
}

TEST_CASE("device prefill equals host: mma, causal", "[cuda][attention][prefill]") { prefill_causal(path); }
TEST_CASE("device prefill equals host: mma, sliding window", "[cuda][attention][prefill]") {
  prefill_sliding_window(path);
}
TEST_CASE("device prefill equals host: mma, StreamingLLM sinks + window", "[cuda][attention][prefill]") {
  prefill_sink_window(path);
}
TEST_CASE("device prefill equals host: mma, block-sparse", "[cuda][attention][prefill]") { prefill_block_sparse(path); }
TEST_CASE("device prefill equals host: mma, no mask", "[cuda][attention][prefill]") { prefill_no_mask(path); }
TEST_CASE("device prefill equals host: mma, learned sinks", "[cuda][attention][prefill]") {
  prefill_learned_sinks(path);
}
TEST_CASE("device prefill equals host: automatic runs mma", "[cuda][attention][prefill]") {
  check_prefill({.T = 100, .S = 100, .Hq = 4, .Hkv = 2, .D = 128}, at::causal_mask{}, ka::attention_path::automatic);
}

TEST_CASE("device prefill refuses what it has no kernel for", "[cuda][attention][prefill]") {
  float* p = nullptr;
  ka::flash_shape s{.tokens = 4, .keys = 4, .q_heads = 4, .kv_heads = 2, .head_dim = 96};
  auto const causal = ka::from_host(at::causal_mask{});
  CHECK_THROWS_AS(ka::flash_attention(p, p, p, p, s, causal, 0.1f, nullptr, nullptr, 0), switchyard::invalid_argument);
  s.head_dim = 64, s.q_heads = 3;
  CHECK_THROWS_AS(ka::flash_attention(p, p, p, p, s, causal, 0.1f, nullptr, nullptr, 0), switchyard::invalid_argument);
  s.q_heads = 4, s.tokens = 5;  // more queries than keys, no first position
  CHECK_THROWS_AS(ka::flash_attention(p, p, p, p, s, causal, 0.1f, nullptr, nullptr, 0), switchyard::invalid_argument);
}
