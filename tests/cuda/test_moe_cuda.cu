// The MoE layer on the device (kernels::moe) against the host layer (expert::moe) on fresh random
// inputs, for the router families, shared experts, biases and capacity, one test case per family
// and requested path (TEMPLATE_TEST_CASE over paths::*: each runs in its own process under
// bench/gpu/run.sh). moe_harness.cuh's checks, by the kernels that ran:
//   decode path (GEMV, f32 activations): every element within tolerance::moe_output of its
//     row's largest |ref| (the same f32 arithmetic, summed in another order);
//   prefill paths (tensor-core GEMM: mma.sync bf16, wgmma on sm_90a, fp8 for e4m3 on sm_89+):
//     every element within tolerance::cuda_mma_element (cuda_fp8_mma_element) of its row's RMS
//     and the NMSE within tolerance::cuda_mma_nmse (cuda_fp8_mma_nmse);
// and the kernels that ran must be the ones requested (a wgmma request that fell back fails).
// Then: the expected paths are available on this device, a token's output does not depend on its
// batch (bit for bit), a CUDA graph replays the call exactly, and bad shapes and workspaces are
// refused with messages.
#include <catch2/catch.hpp>

#include "cuda/moe_harness.cuh"

using namespace switchyard::test::moe_cuda;

namespace {
std::vector<index_t> const tokens{1, 5, 64, 200};
}

TEMPLATE_TEST_CASE("device MoE equals host: Mixtral (top-2 of 8)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::bf16>({.E = 8, .H = 256, .F = 512}).check(tokens, TestType::value);
}

TEMPLATE_TEST_CASE("device MoE equals host: Qwen-MoE (top-8 of 64)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::qwen_moe<8>, sy::format::bf16>({.E = 64, .H = 128, .F = 96}).check(tokens, TestType::value);
}

// DeepSeek-V3: sigmoid, correction bias, 8 groups keep 4, scaling 2.5, one shared expert of 2F.
TEMPLATE_TEST_CASE("device MoE equals host: DeepSeek-V3 (groups, shared expert)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16>(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f})
      .check(tokens, TestType::value);
}

// Qwen2-MoE: a sigmoid-gated shared expert.
TEMPLATE_TEST_CASE("device MoE equals host: Qwen2-MoE (gated shared expert)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::qwen_moe<4, false>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .Fs = 256, .shared_gate = true})
      .check(tokens, TestType::value);
}

// gpt-oss: gate bias, expert biases, clamped SwiGLU, softmax over the chosen.
TEMPLATE_TEST_CASE("device MoE equals host: gpt-oss (biases, clamped SwiGLU)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::gpt_oss<4>, sy::format::bf16, sy::expert::gpt_oss_glu>({.E = 32, .H = 128, .F = 128, .biases = true})
      .check(tokens, TestType::value);
}

TEMPLATE_TEST_CASE("device MoE equals host: dynamic k", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::cumulative_k<4, 1>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .p = 0.6f})
      .check(tokens, TestType::value);
}

// Switch: top-1 with a capacity of 4 slots per expert (dropped tokens get y = 0).
TEMPLATE_TEST_CASE("device MoE equals host: Switch (top-1, capacity 4)", "[cuda][moe]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::topk_router<sy::route::topk_config{.top_k = 1}>, sy::format::bf16>(
      {.E = 8, .H = 128, .F = 256, .capacity = 4})
      .check(tokens, TestType::value);
}

// The paths this device and build should have, said once and plainly: on sm_90a code a bf16 layer
// must take wgmma (a driver without the tensor-map encoder would silently leave it on mma), on
// sm_89+ code an e4m3 layer must multiply in fp8.
TEST_CASE("the device MoE layer has the paths this device and build should have", "[cuda][moe]") {
  int const arch = device_code_arch();
  harness<sy::route::mixtral<2>, sy::format::bf16> bf({.E = 8, .H = 256, .F = 512});
  harness<sy::route::mixtral<2>, sy::format::e4m3> f8({.E = 8, .H = 256, .F = 512});
  auto const bf_layer = bf.device();
  auto const f8_layer = f8.device();
  std::printf("switchyard-record: code for sm_%d: wgmma_available=%d fp8_products=%d\n", arch,
              int(bf_layer.wgmma_available()), int(f8_layer.fp8_products()));
  CHECK(bf_layer.wgmma_available() == (arch == 90));
  CHECK(f8_layer.fp8_products() == (arch >= 89));
  for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::mma_bf16, moe_path::wgmma, moe_path::automatic})
    for (index_t T : {1, 200}) {
      require_path(bf_layer, T, path);
      require_path(f8_layer, T, path);
    }
}

TEMPLATE_TEST_CASE("a token's device output does not depend on its batch", "[cuda][moe]", paths::gemv, paths::mma,
                   paths::wgmma) {
  harness<sy::route::qwen_moe<8>, sy::format::bf16> h({.E = 64, .H = 128, .F = 96});
  auto const layer = h.device();
  auto const x = normal(200 * 128, 1.0f);
  std::vector<float> const x3(x.begin(), x.begin() + 3 * 128);
  moe_path const path = TestType::value;
  require_path(layer, 200, path);
  require_path(layer, 3, path);
  auto const all = h.run(layer, x, 200, path);
  auto const few = h.run(layer, x3, 3, path);
  REQUIRE(std::equal(few.begin(), few.end(), all.begin()));
}

TEST_CASE("a CUDA graph replays the device MoE layer exactly", "[cuda][moe]") {
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16> h(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f});
  auto const layer = h.device();
  index_t const T = 77;
  auto const x = normal(static_cast<std::size_t>(T * 128), 1.0f);
  require_path(layer, T, moe_path::mma);
  auto const direct = h.run(layer, x, T, moe_path::mma);

  cudaStream_t stream;
  SWITCHYARD_CUDA_CHECK(cudaStreamCreate(&stream));
  device_array<float> dx(x), dy(x.size());
  dy.poison();
  std::size_t const bytes = decltype(h)::device_layer::workspace_bytes(h.shape(), T);
  device_array<char> ws(bytes);
  ws.poison();
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  SWITCHYARD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  layer(dx.get(), dy.get(), T, ws.get(), bytes, stream, h.device_params(), moe_path::mma);
  SWITCHYARD_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  SWITCHYARD_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  SWITCHYARD_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  REQUIRE(dy.download() == direct);
  SWITCHYARD_CUDA_CHECK(cudaGraphExecDestroy(exec));
  SWITCHYARD_CUDA_CHECK(cudaGraphDestroy(graph));
  SWITCHYARD_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST_CASE("the device MoE layer refuses bad shapes and workspaces", "[cuda][moe]") {
  harness<sy::route::mixtral<2>, sy::format::bf16> h({.E = 8, .H = 256, .F = 512});
  auto const layer = h.device();
  device_array<float> x(256 * 4), y(256 * 4);
  std::size_t const need = decltype(h)::device_layer::workspace_bytes(h.shape(), 4);
  device_array<char> ws(need);
  REQUIRE_THROWS_WITH(layer(x.get(), y.get(), 4, ws.get(), need - 1, nullptr), Catch::Contains("workspace_bytes"));
  REQUIRE_THROWS_WITH(layer(x.get(), y.get(), 5, ws.get(), need, nullptr), Catch::Contains("needs"));
  sy::kernels::moe_weights<sy::format::bf16> w;
  w.gate = h.d_gate.get();
  w.gate_up = h.d_gate_up.get();
  w.down = h.d_down.get();
  using layer_t = decltype(h)::device_layer;
  REQUIRE_THROWS_WITH(layer_t({8, 100, 512}, w), Catch::Contains("multiples of 32"));
  REQUIRE_THROWS_WITH(layer_t({300, 256, 512}, w), Catch::Contains("256 experts"));
  REQUIRE_THROWS_WITH(layer_t({8, 256, 512}, {}), Catch::Contains("required"));
  sy::kernels::moe_weights<sy::format::q4_0> wq;
  wq.gate = h.d_gate.get();
  wq.gate_up = reinterpret_cast<sy::format::q4_0 const*>(h.d_gate_up.get());
  wq.down = reinterpret_cast<sy::format::q4_0 const*>(h.d_down.get());
  wq.down_scales = h.d_gate.get();
  using q_layer = sy::kernels::moe<sy::route::mixtral<2>, sy::format::q4_0>;
  REQUIRE_THROWS_WITH(q_layer({8, 256, 512}, wq), Catch::Contains("blocks carry their own"));
  wq.down_scales = nullptr;
  wq.gate_up_block_scales = wq.down_block_scales = h.d_gate.get();
  REQUIRE_THROWS_WITH(q_layer({8, 256, 512}, wq), Catch::Contains("block scales are for int8 and fp8 codes"));
  sy::kernels::moe_weights<sy::format::e4m3> w8;
  w8.gate = h.d_gate.get();
  w8.gate_up = reinterpret_cast<sy::format::e4m3 const*>(h.d_gate_up.get());
  w8.down = reinterpret_cast<sy::format::e4m3 const*>(h.d_down.get());
  w8.gate_up_block_scales = h.d_gate.get();
  using f8_layer = sy::kernels::moe<sy::route::mixtral<2>, sy::format::e4m3>;
  REQUIRE_THROWS_WITH(f8_layer({8, 256, 512}, w8), Catch::Contains("both gate_up_block_scales and down_block_scales"));
  w8.down_block_scales = h.d_gate.get();
  w8.down_scales = h.d_gate.get();
  REQUIRE_THROWS_WITH(f8_layer({8, 256, 512}, w8), Catch::Contains("give one kind"));
}
