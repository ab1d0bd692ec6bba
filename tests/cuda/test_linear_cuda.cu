// The device dense layers (kernels/switchyard/kernels/linear/) against the host: gemm for the
// scalar weight formats (f32, bf16, f16, fp8 e4m3 / e5m2, int8 codes) on every path, the
// embedding lookup for every format, silu_glu and add_inplace, refused inputs and a CUDA graph
// replay. Block formats and scaled codes: test_linear_cuda_formats.cu. The harness and its rules:
// linear_harness.cuh.
#include <catch2/catch.hpp>

#include "cuda/linear_harness.cuh"
#include "switchyard/expert/activation.hpp"
#include "switchyard/kernels/linear/elementwise.cuh"

using namespace switchyard::test::linear_cuda;
namespace fmt = switchyard::format;

using switchyard::test::device_array;


TEMPLATE_TEST_CASE("device dense layers equal the host's linear<W> for scalar formats on every path and shape",
                   "[cuda][linear]", SWITCHYARD_LINEAR_PATHS(float), SWITCHYARD_LINEAR_PATHS(fmt::bf16),
                   SWITCHYARD_LINEAR_PATHS(fmt::f16), SWITCHYARD_LINEAR_PATHS(fmt::e4m3),
                   SWITCHYARD_LINEAR_PATHS(fmt::e5m2), SWITCHYARD_LINEAR_PATHS(std::int8_t)) {
  check_format<typename TestType::format>(scaling::none, TestType::path);
}

// The embedding lookup: every element bit for bit the host's dequantization (the model's
// embed_row: format::traits<W>::dequantize per block; code x scale for scaled codes), repeated
// and boundary ids, and a NaN row for an id out of range.
template <class W>
void check_embedding(scaling kind, index_t cols) {
  weights<W> const table(300, cols, kind);
  std::vector<std::int32_t> tokens = {0, 299, 17, 17, 150, 0, 298};
  for (int i = 0; i < 193; ++i) tokens.push_back(static_cast<std::int32_t>((i * 7919) % 300));
  for (int T : {1, 7, static_cast<int>(tokens.size())}) {
    device_array<std::int32_t> d_tokens(std::vector<std::int32_t>(tokens.begin(), tokens.begin() + T));
    device_array<float> out(static_cast<std::size_t>(T) * cols);
    out.poison();
    kl::embed_rows(table.device(), d_tokens.get(), T, out.get(), nullptr);
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    auto const got = out.download();
    std::size_t differ = 0;
    for (int t = 0; t < T; ++t) {
      std::vector<float> ref(static_cast<std::size_t>(cols));
      constexpr index_t B = fmt::traits<W>::block_elems;
      W const* row = table.codes.data() + static_cast<std::size_t>(tokens[t]) * (cols / B);
      for (index_t b = 0; b < cols / B; ++b) fmt::traits<W>::dequantize(row + b, ref.data() + b * B);
      if (kind != scaling::none)  // the exact values are code x scale, computed the same way
        std::copy_n(table.exact.begin() + static_cast<std::ptrdiff_t>(tokens[t]) * cols, cols, ref.begin());
      differ += static_cast<std::size_t>(std::memcmp(got.data() + static_cast<std::size_t>(t) * cols, ref.data(),
                                                     ref.size() * sizeof(float)) != 0);
    }
    std::printf("switchyard-record: requested=embed ran=embed check=bitwise err=%zu bound=0 format=%s scales=%s cols=%lld T=%d\n",
                differ, fmt::traits<W>::name, scaling_name(kind), static_cast<long long>(cols), T);
    std::fflush(stdout);
    INFO(fmt::traits<W>::name << " scales " << scaling_name(kind) << ", cols " << cols << ", T " << T);
    REQUIRE(differ == 0);
  }
  // Ids out of range give NaN rows (and touch nothing else).
  device_array<std::int32_t> bad_ids(std::vector<std::int32_t>{-1, 300, 5});
  device_array<float> out(3 * static_cast<std::size_t>(cols));
  out.poison(0);
  kl::embed_rows(table.device(), bad_ids.get(), 3, out.get(), nullptr);
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  auto const got = out.download();
  REQUIRE(std::all_of(got.begin(), got.begin() + 2 * cols, [](float v) { return std::isnan(v); }));
  REQUIRE(std::none_of(got.begin() + 2 * cols, got.end(), [](float v) { return std::isnan(v); }));
}

TEST_CASE("device embedding lookup equals the host's dequantization bit for bit for every format",
          "[cuda][linear][embed]") {
  check_embedding<float>(scaling::none, 4096);
  check_embedding<fmt::bf16>(scaling::none, 4096);
  check_embedding<fmt::bf16>(scaling::none, 200);
  check_embedding<fmt::f16>(scaling::none, 4096);
  check_embedding<fmt::e4m3>(scaling::none, 4096);
  check_embedding<fmt::e5m2>(scaling::none, 4096);
  check_embedding<std::int8_t>(scaling::none, 4096);
  check_embedding<fmt::q8_0>(scaling::none, 4096);
  check_embedding<fmt::q4_0>(scaling::none, 4096);
  check_embedding<fmt::q4_0>(scaling::none, 96);
  check_embedding<fmt::int4_group<32, false>>(scaling::none, 4096);
  check_embedding<fmt::int4_group<128, true>>(scaling::none, 4096);
  check_embedding<fmt::e4m3>(scaling::row, 4096);
  check_embedding<fmt::e4m3>(scaling::block, 4096);
  check_embedding<std::int8_t>(scaling::row, 200);
  check_embedding<std::int8_t>(scaling::block, 200);
}

// silu_glu: the host's own expression (expert::silu_glu::apply) evaluated on the device; the
// exponentials differ (CUDA's expf against the C library's), hence tolerance::cuda_silu_glu
// relative to each element; exact where the host gives 0 or an infinity.
TEST_CASE("device silu_glu equals the host's SwiGLU over a fused [T, 2F] gate_up product", "[cuda][linear][glu]") {
  for (auto [T, F] : {std::pair{3, 1000}, std::pair{1, 5}, std::pair{200, 64}}) {
    auto gate_up = normal(static_cast<std::size_t>(T) * 2 * F, 4.0f);
    // Values at the ends of the exponential's range and signed zeros.
    float const specials[] = {0.0f, -0.0f, -87.0f, -100.0f, 80.0f, 100.0f, -20.0f, 1e-30f, -1e-30f, 30.0f};
    for (std::size_t i = 0; i < std::size(specials) && i < static_cast<std::size_t>(F); ++i) gate_up[i] = specials[i];
    device_array<float> d_gu(gate_up), h(static_cast<std::size_t>(T) * F);
    h.poison();
    kl::silu_glu(d_gu.get(), T, F, h.get(), nullptr);
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    auto const got = h.download();
    double worst = 0;
    std::size_t bad = 0, at = 0;
    for (int t = 0; t < T; ++t)
      for (int f = 0; f < F; ++f) {
        std::size_t const i = static_cast<std::size_t>(t) * F + f;
        float const* row = gate_up.data() + static_cast<std::size_t>(t) * 2 * F;
        float const ref = switchyard::expert::silu_glu::apply(row[f], row[F + f]);
        double const d = std::fabs(double(got[i]) - double(ref));
        double const e = (ref == 0.0f || std::isinf(ref)) ? (got[i] == ref ? 0.0 : std::numeric_limits<double>::infinity())
                                                          : d / std::fabs(double(ref));
        if (!(e <= tol::cuda_silu_glu)) ++bad, at = i;
        if (e > worst || std::isnan(e)) worst = e;
      }
    std::printf("switchyard-record: requested=silu_glu ran=silu_glu check=relative err=%.3g bound=%.3g T=%d F=%d\n", worst,
                tol::cuda_silu_glu, T, F);
    std::fflush(stdout);
    INFO("T " << T << ", F " << F << ": " << bad << " elements out of bounds, e.g. " << at << " (device " << got[at]
              << "); worst relative error " << worst);
    REQUIRE(bad == 0);
  }
}

// add_inplace: one f32 addition per element on both sides: bit for bit.
TEST_CASE("device add_inplace adds bit for bit, in place and onto itself", "[cuda][linear][add]") {
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{1} << 24 | 3}) {
    auto const y0 = normal(static_cast<std::size_t>(n), 1.0f);
    auto const x = normal(static_cast<std::size_t>(n), 3.0f);
    device_array<float> dy(y0), dx(x);
    kl::add_inplace(dy.get(), dx.get(), n, nullptr);
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    auto const got = dy.download();
    std::vector<float> ref(y0);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += x[i];
    std::size_t const first_difference = static_cast<std::size_t>(std::mismatch(got.begin(), got.end(), ref.begin(), [](float a, float b) {
                                 return std::memcmp(&a, &b, sizeof a) == 0;
                               }).first - got.begin());
    std::printf("switchyard-record: requested=add_inplace ran=add_inplace check=bitwise err=%zu bound=0 n=%lld\n",
                got.size() - first_difference, static_cast<long long>(n));
    std::fflush(stdout);
    REQUIRE(first_difference == got.size());
    // y += y (x the same array): doubling, exact.
    kl::add_inplace(dy.get(), dy.get(), n, nullptr);
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    auto const twice = dy.download();
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += ref[i];
    REQUIRE(std::memcmp(twice.data(), ref.data(), ref.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("device dense layers refuse bad shapes, alignments and scales", "[cuda][linear][errors]") {
  device_array<fmt::q4_0> q(64);
  device_array<fmt::bf16> b(64 * 64);
  device_array<float> x(64 * 64 + 4), y(64 * 64), s(64);
  device_array<std::int32_t> ids(4);
  using sy::error;
  // cols not a multiple of the block (q4_0: 32) or of 8.
  CHECK_THROWS_AS(kl::gemm(x.get(), 48, 1, kl::device_matrix<fmt::q4_0>{q.get(), 2, 48}, nullptr, y.get(), 2, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, kl::device_matrix<fmt::bf16>{b.get(), 2, 60}, nullptr, y.get(), 2, false, nullptr), error);
  CHECK_THROWS_AS(kl::embed_rows(kl::device_matrix<fmt::q4_0>{q.get(), 2, 48}, ids.get(), 1, y.get(), nullptr), error);
  // Null weights, null x, misaligned x, ldx not a multiple of 4, short strides.
  kl::device_matrix<fmt::bf16> const w{b.get(), 64, 64};
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, kl::device_matrix<fmt::bf16>{nullptr, 64, 64}, nullptr, y.get(), 64, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(nullptr, 64, 1, w, nullptr, y.get(), 64, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get() + 1, 64, 1, w, nullptr, y.get(), 64, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get(), 66, 1, w, nullptr, y.get(), 64, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get(), 32, 1, w, nullptr, y.get(), 64, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, w, nullptr, y.get(), 63, false, nullptr), error);
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, -1, w, nullptr, y.get(), 64, false, nullptr), error);
  // Misaligned weights (bf16 rows are read 16 bytes at a time).
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, kl::device_matrix<fmt::bf16>{b.get() + 1, 8, 64}, nullptr, y.get(), 8, false, nullptr), error);
  // Scales on a format that carries its own, and both kinds of scales at once.
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, kl::device_matrix<fmt::bf16>{b.get(), 64, 64, s.get()}, nullptr, y.get(), 64, false, nullptr), error);
  device_array<fmt::e4m3> e(64 * 64);
  CHECK_THROWS_AS(kl::gemm(x.get(), 64, 1, kl::device_matrix<fmt::e4m3>{e.get(), 64, 64, s.get(), s.get()}, nullptr, y.get(), 64, false, nullptr), error);
  // Elementwise: null pointers and negative sizes.
  CHECK_THROWS_AS(kl::silu_glu(nullptr, 1, 4, y.get(), nullptr), error);
  CHECK_THROWS_AS(kl::silu_glu(x.get(), -1, 4, y.get(), nullptr), error);
  CHECK_THROWS_AS(kl::add_inplace(y.get(), nullptr, 4, nullptr), error);
  CHECK_THROWS_AS(kl::add_inplace(y.get(), x.get(), -4, nullptr), error);
  // T = 0 launches nothing and is not an error; it still reports the path.
  CHECK(kl::gemm(x.get(), 64, 0, w, nullptr, y.get(), 64, false, nullptr) == linear_path::gemv);
  CHECK(kl::gemm<fmt::bf16>(nullptr, 64, 0, w, nullptr, nullptr, 64, false, nullptr, linear_path::mma) == linear_path::mma);
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
}

// A decode step's dense part as a CUDA graph: embedding, the GEMV and the GEMM (both accumulate
// and overwrite), silu_glu and add_inplace captured once and replayed; the replay must equal the
// direct calls bit for bit (no host synchronization or allocation inside any of them).
TEST_CASE("device dense layers are captured in a CUDA graph and replay bit for bit", "[cuda][linear][graph]") {
  weights<fmt::bf16> const w(512, 256, scaling::none);
  weights<fmt::bf16> const table(100, 256, scaling::none);
  int const T = 40;
  device_array<std::int32_t> ids(std::vector<std::int32_t>(T, 7));
  auto const h_ids = [&] {
    std::vector<std::int32_t> v(T);
    for (int t = 0; t < T; ++t) v[static_cast<std::size_t>(t)] = (t * 37) % 100;
    return v;
  }();
  ids.upload(h_ids);
  device_array<float> x(static_cast<std::size_t>(T) * 256), y(static_cast<std::size_t>(T) * 512), h(static_cast<std::size_t>(T) * 256);
  auto run = [&](cudaStream_t stream) {
    kl::embed_rows(table.device(), ids.get(), T, x.get(), stream);
    kl::gemm(x.get(), 256, 4, w.device(), nullptr, y.get(), 512, false, stream, linear_path::automatic);  // gemv
    kl::gemm(x.get(), 256, T, w.device(), nullptr, y.get(), 512, true, stream, linear_path::automatic);   // mma
    kl::silu_glu(y.get(), T, 256, h.get(), stream);
    kl::add_inplace(h.get(), x.get(), std::int64_t{T} * 256, stream);
  };
  cudaStream_t stream;
  SWITCHYARD_CUDA_CHECK(cudaStreamCreate(&stream));
  y.poison(0);
  run(stream);
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  auto const direct_h = h.download();
  auto const direct_y = y.download();

  cudaGraph_t graph;
  cudaGraphExec_t exec;
  SWITCHYARD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  run(stream);
  SWITCHYARD_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  SWITCHYARD_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  x.poison();
  h.poison();
  y.poison(0);
  SWITCHYARD_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  auto const replay_h = h.download();
  auto const replay_y = y.download();
  SWITCHYARD_CUDA_CHECK(cudaGraphExecDestroy(exec));
  SWITCHYARD_CUDA_CHECK(cudaGraphDestroy(graph));
  SWITCHYARD_CUDA_CHECK(cudaStreamDestroy(stream));
  REQUIRE(std::none_of(direct_h.begin(), direct_h.end(), [](float v) { return std::isnan(v); }));
  REQUIRE(std::memcmp(direct_h.data(), replay_h.data(), direct_h.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(direct_y.data(), replay_y.data(), direct_y.size() * sizeof(float)) == 0);
}
