// RMSNorm against torch.nn.functional.rms_norm (tests/data/rms_norm.safetensors), for every
// instruction set, f32 and bf16 weights, odd widths; in-place use; errors on bad shapes.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/norm/rms_norm.hpp"

namespace sy = switchyard;
namespace tol = sy::test::tolerance;

namespace {

template <class Isa, class W>
void run_case(sy::test::reference_file const& ref, std::string const& c, sy::thread_pool& pool, bool in_place) {
  auto const xt = ref.get(c + ".x");
  auto const rows = xt.shape[0], n = xt.shape[1];
  auto const x = xt.as<float>();
  auto const want = ref.get(c + ".y").as<float>();
  float const eps = ref.get(c + ".eps").as<float>()[0];
  auto const w = ref.get(c + ".weight").as<W>();
  double norm = 0;
  for (float v : x) norm += std::fabs(v);
  REQUIRE(norm > 0);  // never all zeros

  sy::buffer<float> y(static_cast<std::size_t>(rows * n));
  if (in_place) {
    std::copy(x.begin(), x.end(), y.begin());
  } else {
    sy::test::poison({y.data(), y.size()});
  }
  sy::matrix_view<float const> xv = in_place ? sy::matrix_view<float const>(y.view(rows, n)) : sy::make_view(x.data(), rows, n);
  sy::norm::rms_norm<W, Isa>(xv, sy::make_view(w.data(), n), y.view(rows, n), eps, pool);

  double const bound = tol::rms_norm(n);
  for (std::int64_t i = 0; i < rows * n; ++i) {
    double const err = std::fabs(double(y[i]) - double(want[i]));
    INFO(c << " (" << rows << "x" << n << ") element " << i << ": got " << y[i] << ", torch " << want[i]);
    REQUIRE(err <= bound * std::fabs(want[i]) + 1e-30);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("rms_norm matches torch", "[rms_norm]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::test::reference_file ref("rms_norm.safetensors");
  sy::thread_pool pool(3);
  int cases = 0;
  for (int i = 0; ref.contains("case" + std::to_string(i) + ".x"); ++i, ++cases) {
    std::string const c = "case" + std::to_string(i);
    bool const bf16 = ref.get(c + ".weight").dtype == "BF16";
    for (bool in_place : {false, true}) {
      if (bf16) run_case<Isa, sy::format::bf16>(ref, c, pool, in_place);
      else run_case<Isa, float>(ref, c, pool, in_place);
    }
  }
  CHECK(cases >= 6);
}

TEST_CASE("rms_norm rejects mismatched shapes with a clear message", "[rms_norm]") {
  sy::buffer<float> x(12), y(12), w(5);
  CHECK_THROWS_WITH(sy::norm::rms_norm(x.view(3, 4), sy::vector_view<float const>(w.view(5)), y.view(3, 4), 1e-6f),
                    "switchyard::norm::rms_norm: weight has 5 elements but x has 4 columns");
  CHECK_THROWS_WITH(sy::norm::rms_norm(x.view(3, 4), sy::vector_view<float const>(w.view(4)), y.view(4, 3), 1e-6f),
                    Catch::Contains("y is [4, 3] but x is [3, 4]"));
  CHECK_THROWS_WITH(sy::norm::rms_norm(x.view(3, 4), sy::vector_view<float const>(w.view(4)), y.view(3, 4), -1.0f),
                    Catch::Contains("eps must be finite and >= 0"));
}
