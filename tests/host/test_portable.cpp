// Built with SWITCHYARD_SIMD_SCALAR and without -march flags: the public entry points run on the
// portable path (simd::native is the scalar fallback), which must compile anywhere and give the
// same results as the reference within the same tolerances.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/norm/rms_norm.hpp"

namespace sy = switchyard;

static_assert(std::is_same_v<sy::simd::native, sy::simd::scalar>, "SWITCHYARD_SIMD_SCALAR must force the fallback");

TEST_CASE("the scalar build's linear matches torch", "[portable]") {
  sy::test::reference_file ref("linear.safetensors");
  auto const xt = ref.get("case5.x");  // f32 weights with bias, GEMM path (9 rows)
  auto const T = xt.shape[0], K = xt.shape[1];
  auto const x = xt.as<float>();
  auto const wt = ref.get("case5.weight");
  auto const N = wt.shape[0];
  auto const w = wt.as<float>();
  auto const b = ref.get("case5.bias").as<float>();
  auto const want = ref.get("case5.y").as<float>();
  sy::buffer<float> y(static_cast<std::size_t>(T * N));
  sy::linear<float>(sy::make_view(w.data(), N, K), sy::make_view(b.data(), N))(sy::make_view(x.data(), T, K), y.view(T, N));
  for (std::int64_t i = 0; i < T * N; ++i) {
    double mag = std::fabs(b[i % N]);
    for (std::int64_t k = 0; k < K; ++k) mag += std::fabs(x[(i / N) * K + k] * w[(i % N) * K + k]);
    REQUIRE(std::fabs(y[i] - want[i]) <= sy::test::tolerance::linear(K) * mag);
  }
}

TEST_CASE("the scalar build's rms_norm matches torch", "[portable]") {
  sy::test::reference_file ref("rms_norm.safetensors");
  auto const xt = ref.get("case1.x");
  auto const rows = xt.shape[0], n = xt.shape[1];
  auto const x = xt.as<float>();
  auto const w = ref.get("case1.weight").as<float>();
  auto const want = ref.get("case1.y").as<float>();
  sy::buffer<float> y(static_cast<std::size_t>(rows * n));
  sy::norm::rms_norm(sy::make_view(x.data(), rows, n), sy::make_view(w.data(), n), y.view(rows, n),
                     ref.get("case1.eps").as<float>()[0]);
  for (std::int64_t i = 0; i < rows * n; ++i)
    REQUIRE(std::fabs(y[i] - want[i]) <= sy::test::tolerance::rms_norm(n) * std::fabs(want[i]));
}
