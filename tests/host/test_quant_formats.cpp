// Block formats against the gguf package (tests/data/quant_gguf.safetensors): q8_0 and q4_0
// quantize to the package's bytes and dequantize to its floats bit for bit; q4_K and q6_K
// dequantize its blocks bit for bit, and so do q5_0, q5_K, q4_1 and q5_1 (q5_0, q4_1 and q5_1 also quantize to its
// bytes). Our round-to-nearest quantizers for q4_K, q6_K and int4
// groups (symmetric and asymmetric, G = 32/64/128) stay within their formats' noise.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/concepts.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/core/format/int4.hpp"
#include "switchyard/core/format/iq4.hpp"
#include "switchyard/core/format/q2_q3_K.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;

namespace {

template <class F>
std::vector<F> blocks_from(std::vector<std::uint8_t> const& bytes) {
  REQUIRE(bytes.size() % sizeof(F) == 0);
  std::vector<F> b(bytes.size() / sizeof(F));
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

template <class F>
void check_dequantize(sy::test::reference_file const& ref, std::string const& name) {
  auto const blocks = blocks_from<F>(ref.get(name + ".bytes").as<std::uint8_t>());
  auto const want = ref.get(name + ".y").as<float>();
  constexpr int B = fmt::traits<F>::block_elems;
  REQUIRE(want.size() == blocks.size() * B);
  std::vector<float> got(B);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    fmt::traits<F>::dequantize(&blocks[b], got.data());
    for (int i = 0; i < B; ++i)
      if (std::memcmp(&got[i], &want[b * B + i], 4) != 0)
        FAIL(name << " block " << b << " element " << i << ": " << got[i] << " but gguf gives " << want[b * B + i]);
  }
}

template <class F>
void check_quantize(sy::test::reference_file const& ref, std::string const& name) {
  auto const x = ref.get(name + ".x").as<float>();
  auto const want = ref.get(name + ".bytes").as<std::uint8_t>();
  constexpr int B = fmt::traits<F>::block_elems;
  REQUIRE(want.size() == x.size() / B * sizeof(F));
  for (std::size_t b = 0; b < x.size() / B; ++b) {
    F q;
    fmt::traits<F>::quantize(x.data() + b * B, &q);
    if (std::memcmp(&q, want.data() + b * sizeof(F), sizeof(F)) != 0) {
      auto const* p = reinterpret_cast<std::uint8_t const*>(&q);
      for (std::size_t i = 0; i < sizeof(F); ++i)
        if (p[i] != want[b * sizeof(F) + i])
          FAIL(name << " block " << b << " byte " << i << ": " << int(p[i]) << " but gguf writes " << int(want[b * sizeof(F) + i]));
    }
  }
}

template <class F>
double round_trip_nmse(std::vector<float> const& x) {
  constexpr int B = fmt::traits<F>::block_elems;
  double num = 0, den = 0;
  std::vector<float> y(B);
  for (std::size_t b = 0; b < x.size() / B; ++b) {
    F q;
    fmt::traits<F>::quantize(x.data() + b * B, &q);
    fmt::traits<F>::dequantize(&q, y.data());
    for (int i = 0; i < B; ++i) {
      double const e = double(y[i]) - x[b * B + i];
      num += e * e, den += double(x[b * B + i]) * x[b * B + i];
    }
  }
  return num / den;
}

}  // namespace

static_assert(sy::format_type<fmt::q8_0> && sy::format_type<fmt::q4_0> && sy::format_type<fmt::q4_K> &&
              sy::format_type<fmt::q6_K> && sy::format_type<fmt::int4_sym<128>> && sy::format_type<fmt::int4_asym<32>>);
static_assert(!sy::scalar_format<fmt::q4_0>);

TEST_CASE("q8_0 and q4_0 are byte-compatible with the gguf package both ways", "[quant][gguf]") {
  sy::test::reference_file ref("quant_gguf.safetensors");
  check_quantize<fmt::q8_0>(ref, "q8_0");
  check_quantize<fmt::q4_0>(ref, "q4_0");
  check_dequantize<fmt::q8_0>(ref, "q8_0");
  check_dequantize<fmt::q4_0>(ref, "q4_0");
}

TEST_CASE("q4_K and q6_K dequantize the gguf package's blocks bit for bit", "[quant][gguf]") {
  sy::test::reference_file ref("quant_gguf.safetensors");
  check_dequantize<fmt::q4_K>(ref, "q4_K");
  check_dequantize<fmt::q6_K>(ref, "q6_K");
}

TEST_CASE("q5_0, q5_K, q4_1, q5_1, q2_K, q3_K, iq4_nl, iq4_xs (llama-quantize's types) match the gguf package", "[quant][gguf]") {
  sy::test::reference_file ref("quant_gguf_read.safetensors");
  check_dequantize<fmt::q5_0>(ref, "q5_0");
  check_dequantize<fmt::q5_K>(ref, "q5_K");
  check_dequantize<fmt::q4_1>(ref, "q4_1");
  check_dequantize<fmt::q5_1>(ref, "q5_1");
  check_dequantize<fmt::q2_K>(ref, "q2_K");
  check_dequantize<fmt::q3_K>(ref, "q3_K");
  check_dequantize<fmt::iq4_nl>(ref, "iq4_nl");
  check_dequantize<fmt::iq4_xs>(ref, "iq4_xs");
  // quantize: the package's bytes (q5_K's quantizer is our own, like q4_K's).
  auto check_q = [&]<class F>(std::string const& name) {
    auto const x = ref.get(name + ".x").as<float>();
    auto const want = ref.get(name + ".qbytes").as<std::uint8_t>();
    REQUIRE(want.size() == x.size() / F::elems * sizeof(F));
    for (std::size_t b = 0; b < x.size() / F::elems; ++b) {
      F q;
      fmt::traits<F>::quantize(x.data() + b * F::elems, &q);
      INFO(name << " block " << b);
      REQUIRE(std::memcmp(&q, want.data() + b * sizeof(q), sizeof(q)) == 0);
    }
  };
  check_q.template operator()<fmt::q5_0>("q5_0");
  check_q.template operator()<fmt::q4_1>("q4_1");
  check_q.template operator()<fmt::q5_1>("q5_1");
}

TEST_CASE("the kernels' decode gives dequantize's values (up to contraction)", "[quant]") {
  std::mt19937 g(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  auto check = [&]<class F>() {
    constexpr int B = fmt::traits<F>::block_elems;
    std::vector<float> x(B * 8), a(B), b(B);
    for (auto& v : x) v = d(g);
    for (int k = 0; k < 8; ++k) {
      F q;
      fmt::traits<F>::quantize(x.data() + k * B, &q);
      fmt::traits<F>::dequantize(&q, a.data());
      fmt::traits<F>::decode(&q, b.data());
      for (int i = 0; i < B; ++i) REQUIRE(std::fabs(a[i] - b[i]) <= 1e-6f * (1.0f + std::fabs(a[i])));
    }
  };
  check.template operator()<fmt::q5_0>();
  check.template operator()<fmt::q5_K>();
  check.template operator()<fmt::q4_1>();
  check.template operator()<fmt::q5_1>();
  check.template operator()<fmt::q4_K>();
  check.template operator()<fmt::q6_K>();
}

TEST_CASE("round-to-nearest quantizers stay within their formats' noise", "[quant]") {
  std::mt19937 g(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(256 * 64);
  for (auto& v : x) v = d(g);
  CHECK(round_trip_nmse<fmt::q8_0>(x) < tol::quant_nmse::q8_0);
  CHECK(round_trip_nmse<fmt::q4_0>(x) < tol::quant_nmse::q4_0);
  CHECK(round_trip_nmse<fmt::q4_K>(x) < tol::quant_nmse::q4_K);
  CHECK(round_trip_nmse<fmt::q6_K>(x) < tol::quant_nmse::q6_K);
  CHECK(round_trip_nmse<fmt::q5_0>(x) < tol::quant_nmse::q5_0);
  CHECK(round_trip_nmse<fmt::q5_K>(x) < tol::quant_nmse::q5_K);
  CHECK(round_trip_nmse<fmt::q4_1>(x) < tol::quant_nmse::q4_1);
  CHECK(round_trip_nmse<fmt::q5_1>(x) < tol::quant_nmse::q5_1);
  CHECK(round_trip_nmse<fmt::q2_K>(x) < tol::quant_nmse::q2_K);
  CHECK(round_trip_nmse<fmt::q3_K>(x) < tol::quant_nmse::q3_K);
  CHECK(round_trip_nmse<fmt::iq4_nl>(x) < tol::quant_nmse::iq4_nl);
  CHECK(round_trip_nmse<fmt::iq4_xs>(x) < tol::quant_nmse::iq4_xs);
  CHECK(round_trip_nmse<fmt::int4_sym<128>>(x) < tol::quant_nmse::int4_sym_g128);
  CHECK(round_trip_nmse<fmt::int4_asym<128>>(x) < tol::quant_nmse::int4_asym_g128);
  // Smaller groups are finer.
  CHECK(round_trip_nmse<fmt::int4_sym<32>>(x) < round_trip_nmse<fmt::int4_sym<128>>(x));
  CHECK(round_trip_nmse<fmt::int4_asym<64>>(x) < round_trip_nmse<fmt::int4_asym<128>>(x));
  // Shifted data: the asymmetric form uses its zero point.
  for (auto& v : x) v = 2.0f + 0.5f * v;
  CHECK(round_trip_nmse<fmt::int4_asym<128>>(x) < round_trip_nmse<fmt::int4_sym<128>>(x));
  CHECK(round_trip_nmse<fmt::q4_K>(x) < 0.25 * round_trip_nmse<fmt::q4_0>(x) + 1e-3);
  // All-zero blocks round-trip to zeros.
  std::vector<float> z(256, 0.0f), y(256);
  fmt::q4_K qk;
  fmt::traits<fmt::q4_K>::quantize(z.data(), &qk);
  fmt::traits<fmt::q4_K>::dequantize(&qk, y.data());
  for (float v : y) REQUIRE(v == 0.0f);
  fmt::q6_K q6;
  fmt::traits<fmt::q6_K>::quantize(z.data(), &q6);
  fmt::traits<fmt::q6_K>::dequantize(&q6, y.data());
  for (float v : y) REQUIRE(v == 0.0f);
}
