// linear<W> against torch.nn.functional.linear (tests/data/linear.safetensors): f32 and bf16
// weights, with and without bias, GEMV (1..8 rows) and GEMM (more) paths, k across the GEMM's
// k-panel boundary, odd sizes; for every instruction set. Tolerance: tolerance::linear(K) times
// sum |x_k w_k| + |b|, per element.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/random.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/linear/linear.hpp"

namespace sy = switchyard;
namespace tol = sy::test::tolerance;

namespace {

// Checks y against want element-wise with the derived bound.
template <class W>
void check_against(std::vector<float> const& x, std::vector<W> const& w, std::vector<float> const& bias, float const* y,
                   std::vector<float> const& want, std::int64_t T, std::int64_t K, std::int64_t N, std::string const& what) {
  double const gamma = tol::linear(K);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t n = 0; n < N; ++n) {
      double mag = bias.empty() ? 0.0 : std::fabs(bias[n]);
      for (std::int64_t k = 0; k < K; ++k) mag += std::fabs(double(x[t * K + k]) * sy::format::to_float(w[n * K + k]));
      double const got = y[t * N + n], ref = want[t * N + n];
      INFO(what << " [" << T << "x" << K << "] x [" << N << "x" << K << "]^T: y(" << t << ", " << n << ") = " << got
                << ", reference " << ref << ", bound " << gamma * mag);
      REQUIRE(std::fabs(got - ref) <= gamma * mag);
    }
}

template <class Isa, class W>
void run_case(sy::test::reference_file const& ref, std::string const& c, sy::thread_pool& pool, sy::activations act,
              sy::summation sum = sy::summation::batch_invariant) {
  auto const xt = ref.get(c + ".x");
  auto const T = xt.shape[0], K = xt.shape[1];
  auto const x = xt.as<float>();
  auto const wt = ref.get(c + ".weight");
  auto const N = wt.shape[0];
  auto const w = wt.as<W>();
  std::vector<float> const bias = ref.contains(c + ".bias") ? ref.get(c + ".bias").as<float>() : std::vector<float>{};
  bool const rounded = act == sy::activations::bf16;
  auto const want = ref.get(c + (rounded ? ".y_bf16act" : ".y")).as<float>();

  sy::buffer<float> y(static_cast<std::size_t>(T * N));
  sy::test::poison({y.data(), y.size()});
  sy::vector_view<float const> bv = bias.empty() ? sy::vector_view<float const>() : sy::make_view(bias.data(), N);
  sy::linear<W> layer(sy::make_view(w.data(), N, K), bv, act, sum);
  CHECK(layer.in_features() == K);
  CHECK(layer.out_features() == N);
  layer.template operator()<Isa>(sy::make_view(x.data(), T, K), y.view(T, N), pool);
  // The bound is taken over the activations the products used (rounded for bf16).
  std::vector<float> xr = x;
  if (rounded)
    for (auto& v : xr) v = sy::format::bf16(v).to_float();
  check_against(xr, w, bias, y.data(), want, T, K, N,
                c + " " + Isa::name + (rounded ? " (bf16 activations)" : "") +
                    (sum == sy::summation::fastest ? " (summation::fastest)" : ""));
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("linear matches torch", "[linear]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::test::reference_file ref("linear.safetensors");
  sy::thread_pool pool(3);
  int cases = 0;
  for (int i = 0; ref.contains("case" + std::to_string(i) + ".x"); ++i, ++cases) {
    std::string const c = "case" + std::to_string(i);
    for (auto act : {sy::activations::f32, sy::activations::bf16}) {
      if (ref.get(c + ".weight").dtype == "BF16") {
        run_case<Isa, sy::format::bf16>(ref, c, pool, act);
        run_case<Isa, sy::format::bf16>(ref, c, pool, act, sy::summation::fastest);
      } else {
        run_case<Isa, float>(ref, c, pool, act);
      }
    }
  }
  CHECK(cases >= 9);
}

TEMPLATE_LIST_TEST_CASE("gemv and gemm agree on every row count around the switch", "[linear]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(2);
  std::int64_t const K = 131, N = 37;
  std::vector<float> w(static_cast<std::size_t>(N * K));
  sy::test::fill_normal<float>(w, 0.0f, 0.1f);
  for (std::int64_t T : {1, 2, 5, 8, 9, 12, 20}) {
    std::vector<float> x(static_cast<std::size_t>(T * K));
    sy::test::fill_normal<float>(x);
    sy::buffer<float> a(static_cast<std::size_t>(T * N)), b(static_cast<std::size_t>(T * N));
    sy::test::poison({a.data(), a.size()});
    sy::test::poison({b.data(), b.size()});
    auto xv = sy::make_view<float const>(x.data(), T, K);
    auto wv = sy::make_view<float const>(w.data(), N, K);
    // GEMV row by row (the decode path), GEMM on all rows (the prefill path).
    for (std::int64_t t = 0; t < T; ++t)
      sy::host::gemv<Isa>(sy::make_view<float const>(x.data() + t * K, 1, K), wv, nullptr,
                          sy::make_view(a.data() + t * N, 1, N), pool);
    sy::host::gemm<Isa>(xv, wv, nullptr, b.view(T, N), pool);
    std::vector<float> want(a.begin(), a.end());
    check_against(x, w, {}, b.data(), want, T, K, N, std::string("gemm vs gemv ") + Isa::name);
  }
}

// bf16 activations with rows longer than an 8-row activation tile fits in L1 (K > 2048): the GEMM
// walks weight groups outermost (linear/host/gemm.hpp); K = 4200 also spans two k panels.
TEMPLATE_LIST_TEST_CASE("bf16-activation GEMM with long rows matches a double reference", "[linear]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(2);
  std::int64_t const K = 4200, N = 37;
  std::vector<float> wf(static_cast<std::size_t>(N * K));
  sy::test::fill_normal<float>(wf, 0.0f, 0.05f);
  std::vector<sy::format::bf16> w(wf.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = sy::format::bf16(wf[i]);
  sy::linear<sy::format::bf16> layer(sy::make_view<sy::format::bf16 const>(w.data(), N, K), {}, sy::activations::bf16);
  for (std::int64_t T : {9, 21}) {
    std::vector<float> x(static_cast<std::size_t>(T * K));
    sy::test::fill_normal<float>(x);
    sy::buffer<float> y(static_cast<std::size_t>(T * N));
    sy::test::poison({y.data(), y.size()});
    layer.template operator()<Isa>(sy::make_view<float const>(x.data(), T, K), y.view(T, N), pool);
    std::vector<float> xr = x;
    for (auto& v : xr) v = sy::format::bf16(v).to_float();
    std::vector<float> want(static_cast<std::size_t>(T * N));
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (std::int64_t k = 0; k < K; ++k) acc += double(xr[t * K + k]) * w[n * K + k].to_float();
        want[t * N + n] = static_cast<float>(acc);
      }
    check_against(xr, w, {}, y.data(), want, T, K, N, std::string("bf16 activations, long rows ") + Isa::name);
  }
}

// summation::fastest: bf16 activations x bf16 weights in prefill take the outer-product GEMM
// (linear/host/bf16_outer_gemm.hpp) where AVX512-BF16 exists. Shapes cover its edges: token
// counts that end in every tail tile (8, 16, 24, 32, 40 tokens after the 48-token tiles), weight
// rows that leave 1 and 7 after the 8-row tiles (4 + 1 + 1 + 1 ... and 4 + 3), K = 4200 spanning
// several k panels (accumulators stored and reloaded) and ending in a partial 16-pair chunk of
// the packing, odd K (the batch-invariant tile serves it), and a bias. Then: a row's result does not depend on the other
// rows of its call (its lane and tile), bit for bit.
TEST_CASE("bf16 outer-product GEMM (summation::fastest) matches a double reference", "[linear]") {
  sy::thread_pool pool(2);
  for (std::int64_t const K : {4200, 96, 75}) {
    // N = 300: work items of 32 rows, whose sums leave the GEMM through the 16 x 16 register
    // transpose (and a last item of 12 rows through the scalar rest).
    for (std::int64_t const N : {std::int64_t{37}, std::int64_t{31}, std::int64_t{K == 4200 ? 0 : 300}}) {
      if (N == 0) continue;
      std::vector<float> wf(static_cast<std::size_t>(N * K)), bias(static_cast<std::size_t>(N));
      sy::test::fill_normal<float>(wf, 0.0f, 0.05f);
      sy::test::fill_normal<float>(bias);
      std::vector<sy::format::bf16> w(wf.size());
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = sy::format::bf16(wf[i]);
      sy::linear<sy::format::bf16> layer(sy::make_view<sy::format::bf16 const>(w.data(), N, K), sy::make_view<float const>(bias.data(), N),
                                         sy::activations::bf16, sy::summation::fastest);
      std::vector<float> first_rows, rows9;  // x and y of rows 0..8 in the first call (T = 50)
      for (std::int64_t T : {50, 9, 16, 17, 30, 33, 96, 105}) {
        std::vector<float> x(static_cast<std::size_t>(T * K));
        sy::test::fill_normal<float>(x);
        if (!first_rows.empty())  // the same first 9 rows in every call
          std::copy(first_rows.begin(), first_rows.end(), x.begin());
        else
          first_rows.assign(x.begin(), x.begin() + 9 * K);
        sy::buffer<float> y(static_cast<std::size_t>(T * N));
        sy::test::poison({y.data(), y.size()});
        layer(sy::make_view<float const>(x.data(), T, K), y.view(T, N), pool);
        std::vector<float> xr = x;
        for (auto& v : xr) v = sy::format::bf16(v).to_float();
        std::vector<float> want(static_cast<std::size_t>(T * N));
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t n = 0; n < N; ++n) {
            double acc = bias[n];
            for (std::int64_t k = 0; k < K; ++k) acc += double(xr[t * K + k]) * w[n * K + k].to_float();
            want[t * N + n] = static_cast<float>(acc);
          }
        check_against(xr, w, bias, y.data(), want, T, K, N, "bf16 outer-product GEMM, K = " + std::to_string(K));
        if (T == 50) rows9.assign(y.data(), y.data() + 9 * N);
        for (std::int64_t i = 0; i < 9 * N; ++i) {
          INFO("T = " << T << " K = " << K << " N = " << N << ": element " << i << " of the shared first rows");
          REQUIRE(y.data()[i] == rows9[static_cast<std::size_t>(i)]);
        }
      }
    }
  }
}

#if defined(SWITCHYARD_BF16_OUTER_GEMM)
// The outer GEMM's packing rounds 16 pairs at a time in vector registers: every bit pattern class
// must round as format::bf16 does (ties to even, carries into the exponent and into inf, NaN kept
// quiet, subnormals kept), and a partial chunk (n pairs) must read nothing past its 2n floats.
TEST_CASE("bf16 pair packing rounds exactly as format::bf16", "[linear]") {
  std::vector<std::uint32_t> bits = {0x00000000u, 0x80000000u, 0x00000001u, 0x00008000u, 0x00018000u, 0x007FFFFFu,
                                     0x3F808000u, 0x3F818000u, 0x3F80FFFFu, 0x3F807FFFu, 0x7F7FFFFFu, 0x7F7F8000u,
                                     0x7F800000u, 0xFF800000u, 0x7F800001u, 0x7FC00000u, 0xFFFFFFFFu, 0x7F810000u,
                                     0xBF7FFFFFu, 0x80008000u};
  std::mt19937 g(5);
  while (bits.size() < 4096) bits.push_back(static_cast<std::uint32_t>(g()));
  std::vector<float> f(bits.size() + 32);
  for (std::size_t i = 0; i < bits.size(); ++i) f[i] = std::bit_cast<float>(bits[i]);
  for (std::size_t i = bits.size(); i < f.size(); ++i) f[i] = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t base = 0; base + 32 <= bits.size(); base += 32)
    for (sy::index_t n : {16, 11, 8, 3, 1}) {
      alignas(64) std::uint32_t words[16];
      _mm512_store_si512(words, sy::host::detail::bf16_pairs_from_floats(f.data() + base, n));
      for (sy::index_t p = 0; p < 16; ++p) {
        std::uint32_t want = 0;
        if (p < n)
          want = std::uint32_t{sy::format::bf16(f[base + 2 * p]).bits} | std::uint32_t{sy::format::bf16(f[base + 2 * p + 1]).bits} << 16;
        INFO("floats " << base + 2 * p << ", " << base + 2 * p + 1 << " (bits " << std::hex << bits[base + 2 * p] << ", "
                       << bits[base + 2 * p + 1] << std::dec << "), n = " << n);
        REQUIRE(words[p] == want);
      }
    }
}
#endif

TEST_CASE("linear rejects mismatched shapes with a clear message", "[linear]") {
  sy::buffer<float> w(6 * 4), x(2 * 5), y(2 * 6), b(5);
  CHECK_THROWS_WITH(sy::linear<float>(w.view(6, 4), b.view(5)),
                    "switchyard::linear: bias has 5 elements (stride 1) but the weight has 6 output features");
  sy::linear<float> layer(w.view(6, 4));
  CHECK_THROWS_WITH(layer(x.view(2, 5), y.view(2, 6)), "switchyard::linear: x has 5 columns but the layer takes 4 input features");
  CHECK_THROWS_WITH(layer(x.view(2, 4), y.view(2, 5)), Catch::Contains("y is [2, 5] but should be [2, 6]"));
}
