// Device flash attention prefill on the sm_90a path (wgmma + TMA, kernels/switchyard/kernels/
// attention/flash_wgmma.cuh) against the host's flash_attention, one test case per mask kind (the
// cases and checks: attention_prefill_harness.cuh). On sm_90a code the wgmma kernel must be the
// one that ran (the kernel's own tag, written on the device); on other code the request runs mma
// and the cases check that instead. A unit of
// its own so that nvcc builds it beside the mma one (and bench/gpu/run.sh runs it last).
#include <catch2/catch.hpp>

#include "cuda/attention_prefill_harness.cuh"

using namespace switchyard::test::attention_cuda;
namespace {
constexpr auto path = ka::attention_path::wgmma;
}

TEST_CASE("device prefill equals host: wgmma, causal", "[cuda][attention][prefill][wgmma]") { prefill_causal(path); }
TEST_CASE("device prefill equals host: wgmma, sliding window", "[cuda][attention][prefill][wgmma]") {
  prefill_sliding_window(path);
}
TEST_CASE("device prefill equals host: wgmma, StreamingLLM sinks + window", "[cuda][attention][prefill][wgmma]") {
  prefill_sink_window(path);
}
TEST_CASE("device prefill equals host: wgmma, block-sparse", "[cuda][attention][prefill][wgmma]") {
  prefill_block_sparse(path);
}
TEST_CASE("device prefill equals host: wgmma, no mask", "[cuda][attention][prefill][wgmma]") { prefill_no_mask(path); }
TEST_CASE("device prefill equals host: wgmma, learned sinks", "[cuda][attention][prefill][wgmma]") {
  prefill_learned_sinks(path);
}
TEST_CASE("device prefill: wgmma is available exactly on sm_90a code", "[cuda][attention][prefill][wgmma]") {
  int const arch = device_code_arch();
  bool const sm90a = device_runs_sm90a_code();
  std::printf("switchyard-record: attention code for sm_%d%s: flash_wgmma_available=%d\n", arch, sm90a ? "a" : "",
              static_cast<int>(ka::flash_wgmma_available()));
  CHECK(switchyard::kernels::sm90::sm90a_code_available() == sm90a);  // the library's probe against the test's
  CHECK(ka::flash_wgmma_available() == sm90a);  // and the tensor-map encoder there
  CHECK(ka::flash_path_for(ka::attention_path::wgmma) == expected_prefill_path(ka::attention_path::wgmma));
  CHECK(ka::flash_path_for(ka::attention_path::automatic) == ka::attention_path::mma);
}
