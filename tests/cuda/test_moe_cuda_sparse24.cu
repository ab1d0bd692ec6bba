// 2:4 sparse expert weights (format::sparse24) on the device, from the smallest unit up, so that a
// GPU run says where a fault is:
//   1. one mma.sp.m16n8k32 product on one warp, fragments and metadata loaded by the very helpers
//      the GEMM uses (grouped_mma_sparse24.cuh), against a plain loop, exactly (integer-valued
//      inputs: every product and sum is exact in f32). A wrong fragment or metadata layout fails
//      here, with the wrong elements listed;
//   2. the kernels a sparse layer launches for each requested path (mma.sp for the tensor-core
//      requests but mma_bf16);
//   3. the device layer against the host layer (expert::moe over glu_experts<sparse24<E>>) on
//      every path: the GEMV and mma_bf16 decode the blocks (device_format<sparse24<E>>), mma runs
//      mma.sp on the compressed blocks; Mixtral-like (E 8, H 256, F 384, top-2) at T = 3 and 100,
//      and a layer with biases, a gated shared expert and partial tiles (H 96, F 160);
//   4. the mma.sp GEMM against the dense bf16 mma.sync GEMM on the same pruned weights (a dense
//      bf16 layer holding the 2:4 zeros).
// Checks and tolerances of 3 and 4: moe_harness.cuh and support/tolerance.hpp (tensor-core paths:
// every element within cuda_mma_element of its row's RMS, NMSE within cuda_mma_nmse).
#include <catch2/catch.hpp>

#include <cstdio>
#include <random>
#include <vector>

#include "cuda/moe_harness.cuh"
#include "switchyard/kernels/expert/grouped_mma_sparse24.cuh"

using namespace switchyard::test::moe_cuda;
namespace kx = sy::kernels::expert;

namespace {
std::vector<index_t> const tokens{3, 100};
layer_case const mixtral_like{.E = 8, .H = 256, .F = 384};

template <class E>
using sparse = sy::format::sparse24<E>;

// D [16, 8] = A [16, 32] . B^T, A as 16 sparse24 blocks (row r = a[r]), B [8, 32] n-major as 16-bit
// operand bits; one warp. The same loads and product as the GEMM's inner step.
template <class E>
__global__ void one_sparse_product(sparse<E> const* a, std::uint16_t const* b, float* d) {
  int const lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  std::uint32_t af[4], e, bf[4];
  kx::load_sparse24_fragment<E>(a + g, a + g + 8, c, af, e);
  kx::load_sparse_b_fragment(b + g * 32, c, bf);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  kx::sparse_operands<E>::run_sparse(acc, af, bf, e);
  d[g * 8 + 2 * c] = acc[0];
  d[g * 8 + 2 * c + 1] = acc[1];
  d[(g + 8) * 8 + 2 * c] = acc[2];
  d[(g + 8) * 8 + 2 * c + 1] = acc[3];
}

template <class E>
std::uint16_t bits_of(float v) {
  return E(v).bits;
}
}  // namespace

// Every one of the six valid (ascending) position pairs appears in every chunk column and in both
// halves of the metadata word; values are small non-zero integers, so no kept value is zero and
// the dense product is exact.
TEMPLATE_TEST_CASE("one mma.sp m16n8k32 product equals a plain loop (fragment and metadata layout)",
                   "[cuda][moe][sparse24]", sy::format::bf16, sy::format::f16) {
  using E = TestType;
  using traits = sy::format::traits<sparse<E>>;
  constexpr int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  std::mt19937_64 rng(sy::test::seed());
  std::uniform_int_distribution<int> value(1, 8), sign(0, 1), small(-4, 4), pick(0, 5);
  std::vector<float> a(16 * 32, 0.0f), b(8 * 32);
  for (int r = 0; r < 16; ++r)
    for (int chunk = 0; chunk < 8; ++chunk) {
      int const p = (r + 3 * chunk + pick(rng)) % 6;
      for (int q : pairs[p]) a[r * 32 + 4 * chunk + q] = float(value(rng) * (sign(rng) ? 1 : -1));
    }
  for (auto& v : b) v = float(small(rng));
  std::vector<sparse<E>> blocks(16);
  for (int r = 0; r < 16; ++r) traits::quantize(&a[r * 32], &blocks[r]);  // keeps exactly the non-zeros
  for (int r = 0; r < 16; ++r) {
    float back[32];
    traits::dequantize(&blocks[r], back);
    for (int k = 0; k < 32; ++k) REQUIRE(back[k] == a[r * 32 + k]);
  }
  std::vector<std::uint16_t> b_bits(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) b_bits[i] = bits_of<E>(b[i]);

  device_array<sparse<E>> da(blocks);
  device_array<std::uint16_t> db(b_bits);
  device_array<float> dd(16 * 8);
  dd.poison();
  one_sparse_product<E><<<1, 32>>>(da.get(), db.get(), dd.get());
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  auto const d = dd.download();

  int wrong = 0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      float ref = 0.0f;
      for (int k = 0; k < 32; ++k) ref += a[m * 32 + k] * b[n * 32 + k];
      if (d[m * 8 + n] != ref && wrong++ < 16)
        std::printf("mma.sp m16n8k32 %s: D[%d][%d] = %g, expected %g\n", sy::format::traits<E>::name, m, n,
                    d[m * 8 + n], ref);
    }
  INFO("elements of D that differ from the loop: " << wrong << " of 128 (first ones printed above)");
  REQUIRE(wrong == 0);
}

TEST_CASE("a sparse24 layer takes mma.sp for the tensor-core paths", "[cuda][moe][sparse24]") {
  harness<sy::route::mixtral<2>, sparse<sy::format::bf16>> h(mixtral_like);
  auto const layer = h.device();
  using kind = decltype(h)::device_layer::kernel_kind;
  CHECK(layer.kernels_for(200, moe_path::mma).routed == kind::mma_sp);
  CHECK(layer.kernels_for(200, moe_path::wgmma).routed == kind::mma_sp);
  CHECK(layer.kernels_for(200, moe_path::automatic).routed == kind::mma_sp);
  CHECK(layer.kernels_for(200, moe_path::mma_bf16).routed == kind::mma);
  CHECK(layer.kernels_for(1, moe_path::automatic).routed == kind::gemv);
  for (moe_path path : {moe_path::gemv, moe_path::mma, moe_path::mma_bf16, moe_path::wgmma, moe_path::automatic})
    for (index_t T : {1, 200}) require_path(layer, T, path);
}

TEMPLATE_TEST_CASE("device MoE equals host: sparse24 bf16 weights", "[cuda][moe][sparse24]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sparse<sy::format::bf16>>(mixtral_like).check(tokens, TestType::value);
}

TEMPLATE_TEST_CASE("device MoE equals host: sparse24 f16 weights", "[cuda][moe][sparse24]", paths::gemv, paths::mma,
                   paths::mma_bf16) {
  harness<sy::route::mixtral<2>, sparse<sy::format::f16>>(mixtral_like).check(tokens, TestType::value);
}

// Biases in both epilogues, a sigmoid-gated shared expert (the identity plan through the same
// kernels), and partial tiles everywhere: H = 96 leaves half of down's second 64-row tile past the
// matrix, F = 160 is five 32-channel gate_up columns, and no expert's slot count is a multiple of 64.
TEMPLATE_TEST_CASE("device MoE equals host: sparse24 bf16 weights, biases, shared expert, partial tiles",
                   "[cuda][moe][sparse24]", paths::gemv, paths::mma, paths::mma_bf16) {
  harness<sy::route::mixtral<2>, sparse<sy::format::bf16>>(
      {.E = 8, .H = 96, .F = 160, .Fs = 96, .biases = true, .shared_gate = true})
      .check({1, 7, 65, 130}, TestType::value);
}

// The same pruned weights, stored dense (bf16 with the 2:4 zeros) and compressed: the mma.sp GEMM
// and the dense mma.sync GEMM compute the same products (bf16 activations, f32 accumulation) in
// another order, so they agree within the tensor-core tolerance; each also matches the host.
TEST_CASE("the mma.sp GEMM equals the dense bf16 mma GEMM on the same pruned weights", "[cuda][moe][sparse24]") {
  using R = sy::route::mixtral<2>;
  harness<R, sparse<sy::format::bf16>> sp(mixtral_like);
  harness<R, sy::format::bf16> dn(mixtral_like);
  auto to_dense = [](std::vector<sparse<sy::format::bf16>> const& blocks) {
    std::vector<sy::format::bf16> w(blocks.size() * 32);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      float v[32];
      sy::format::traits<sparse<sy::format::bf16>>::dequantize(&blocks[i], v);
      for (int k = 0; k < 32; ++k) w[i * 32 + static_cast<std::size_t>(k)] = sy::format::bf16(v[k]);  // exact
    }
    return w;
  };
  dn.gate = sp.gate;
  dn.gate_up = to_dense(sp.gate_up);
  dn.down = to_dense(sp.down);
  dn.d_gate = device_array<float>(dn.gate);
  dn.d_gate_up = device_array<sy::format::bf16>(dn.gate_up);
  dn.d_down = device_array<sy::format::bf16>(dn.down);
  auto const sp_layer = sp.device();
  auto const dn_layer = dn.device();

  index_t const T = 100, H = mixtral_like.H;
  auto const x = normal(static_cast<std::size_t>(T * H), 1.0f);
  require_path(sp_layer, T, moe_path::mma);
  require_path(dn_layer, T, moe_path::mma);
  REQUIRE(sp_layer.kernels_for(T, moe_path::mma).routed == decltype(sp)::device_layer::kernel_kind::mma_sp);
  auto const y_sp = sp.run(sp_layer, x, T, moe_path::mma);
  auto const y_dn = dn.run(dn_layer, x, T, moe_path::mma);
  auto const w = find_worst(y_sp, y_dn, T, H, row_scale::rms);
  double const e = nmse(y_sp, y_dn);
  std::printf("switchyard-record: requested=mma ran=mma_sp-vs-dense-mma check=row-rms err=%.3g bound=%.3g nmse=%.3g "
              "nmse_bound=%.3g T=%lld\n",
              w.err, tol::cuda_mma_element, e, tol::cuda_mma_nmse, static_cast<long long>(T));
  std::fflush(stdout);
  INFO("worst element: token " << w.token << ", element " << w.index << ": mma.sp " << w.y << ", dense mma " << w.ref
                               << ", |difference| / row RMS = " << w.err << "; NMSE " << e);
  REQUIRE(std::any_of(y_dn.begin(), y_dn.end(), [](float v) { return v != 0.0f; }));
  REQUIRE(w.err <= tol::cuda_mma_element);
  REQUIRE(e <= tol::cuda_mma_nmse);
  // And both against the host layer on the pruned weights.
  require_close(sp_layer, y_sp, sp.host(x, T), T, moe_path::mma, 0.0);
  require_close(dn_layer, y_dn, dn.host(x, T), T, moe_path::mma, 0.0);
}
