// The MoE layer on the device (kernels::moe) against the host layer (expert::moe) on fresh random
// inputs, for the router families, shared experts, biases, capacity and the weight formats:
//   decode path (GEMV, f32 activations): per element within tolerance::moe_output of the row's
//     largest |ref| (the same f32 arithmetic, summed in another order);
//   prefill path (tensor-core GEMM, bf16 activations): NMSE within tolerance::cuda_mma_nmse;
//     e4m3 weights on sm_89+ multiply in fp8 there (mma_bf16 forces the widening path):
//     tolerance::cuda_fp8_mma_nmse; bf16 weights on sm_90a also take the TMA + wgmma GEMM
//     (moe_path::wgmma), within tolerance::cuda_mma_nmse.
// Then: a token's output does not depend on its batch (bit for bit), a CUDA graph replays the
// call exactly, and bad shapes and workspaces are refused with messages.
#include <catch2/catch.hpp>

#include "cuda/moe_harness.cuh"

using namespace switchyard::test::moe_cuda;


TEST_CASE("device MoE layers equal the host layers: router families", "[cuda][moe]") {
  std::vector<index_t> const tokens{1, 5, 64, 200};
  harness<sy::route::mixtral<2>, sy::format::bf16>({.E = 8, .H = 256, .F = 512}).check(tokens);
  harness<sy::route::qwen_moe<8>, sy::format::bf16>({.E = 64, .H = 128, .F = 96}).check(tokens);
  // DeepSeek-V3: sigmoid, correction bias, 8 groups keep 4, scaling 2.5, one shared expert of 2F.
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16>(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f})
      .check(tokens);
  // Qwen2-MoE: a sigmoid-gated shared expert.
  harness<sy::route::qwen_moe<4, false>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .Fs = 256, .shared_gate = true})
      .check(tokens);
  // gpt-oss: gate bias, expert biases, clamped SwiGLU, softmax over the chosen.
  harness<sy::route::gpt_oss<4>, sy::format::bf16, sy::expert::gpt_oss_glu>({.E = 32, .H = 128, .F = 128, .biases = true})
      .check(tokens);
  // Dynamic k.
  harness<sy::route::cumulative_k<4, 1>, sy::format::bf16>({.E = 16, .H = 128, .F = 64, .p = 0.6f}).check(tokens);
  // Switch: top-1 with a capacity of 4 slots per expert (dropped tokens get y = 0).
  harness<sy::route::topk_router<sy::route::topk_config{.top_k = 1}>, sy::format::bf16>(
      {.E = 8, .H = 128, .F = 256, .capacity = 4})
      .check(tokens);
}

TEST_CASE("a token's device output does not depend on its batch", "[cuda][moe]") {
  harness<sy::route::qwen_moe<8>, sy::format::bf16> h({.E = 64, .H = 128, .F = 96});
  auto const layer = h.device();
  auto const x = normal(200 * 128, 1.0f);
  std::vector<float> const x3(x.begin(), x.begin() + 3 * 128);
  for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::wgmma}) {
    auto const all = h.run(layer, x, 200, path);
    auto const few = h.run(layer, x3, 3, path);
    REQUIRE(std::equal(few.begin(), few.end(), all.begin()));
  }
}

TEST_CASE("a CUDA graph replays the device MoE layer exactly", "[cuda][moe]") {
  harness<sy::route::deepseek_v3<6, 8, 4>, sy::format::bf16> h(
      {.E = 64, .H = 128, .F = 64, .Fs = 128, .selection_bias = true, .scaling = 2.5f});
  auto const layer = h.device();
  index_t const T = 77;
  auto const x = normal(static_cast<std::size_t>(T * 128), 1.0f);
  auto const direct = h.run(layer, x, T, moe_path::mma);

  cudaStream_t stream;
  SWITCHYARD_CUDA_CHECK(cudaStreamCreate(&stream));
  device_array<float> dx(x), dy(x.size());
  dy.poison();
  std::size_t const bytes = decltype(h)::device_layer::workspace_bytes(h.shape(), T);
  device_array<char> ws(bytes);
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
