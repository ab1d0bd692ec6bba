// Each instruction set's operations against scalar C++ on random inputs: element-wise results
// must be bit-identical (one rounding each; fma against std::fma), widened loads must equal the
// format's own conversion, and reduce_add must follow the documented pairwise tree exactly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "support/isas.hpp"
#include "support/random.hpp"
#include "switchyard/core/format/traits.hpp"

namespace sy = switchyard;

namespace {
template <class Isa>
std::vector<float> to_vec(typename Isa::vf v) {
  std::vector<float> out(Isa::lanes);
  Isa::store(out.data(), v);
  return out;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("simd operations match scalar arithmetic bit for bit", "[simd]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) {
    WARN(Isa::name << " is compiled in but this CPU lacks it; skipped");
    return;
  }
  constexpr int L = Isa::lanes;
  std::vector<float> a(L), b(L), c(L);
  for (int round = 0; round < 200; ++round) {
    sy::test::fill_normal<float>(a, 0.0f, 3.0f);
    sy::test::fill_normal<float>(b, 0.5f, 1.0f);
    sy::test::fill_normal<float>(c, -1.0f, 2.0f);
    auto const va = Isa::load(a.data()), vb = Isa::load(b.data()), vc = Isa::load(c.data());
    auto const add = to_vec<Isa>(Isa::add(va, vb)), mul = to_vec<Isa>(Isa::mul(va, vb));
    auto const fma = to_vec<Isa>(Isa::fma(va, vb, vc));
    for (int i = 0; i < L; ++i) {
      REQUIRE(add[i] == a[i] + b[i]);
      REQUIRE(mul[i] == a[i] * b[i]);
      // The scalar fallback may or may not contract a*b+c; the vector sets must fuse.
      if constexpr (!std::is_same_v<Isa, sy::simd::scalar>) REQUIRE(fma[i] == std::fma(a[i], b[i], c[i]));
      else REQUIRE(std::fabs(fma[i] - std::fma(a[i], b[i], c[i])) <= 1e-6f * (std::fabs(a[i] * b[i]) + std::fabs(c[i])));
    }
    // Pairwise tree: halves added first, as documented for every ISA.
    std::vector<float> t = a;
    for (int w = L / 2; w > 0; w /= 2)
      for (int i = 0; i < w; ++i) t[i] += t[i + w];
    REQUIRE(Isa::reduce_add(va) == t[0]);
    CHECK(to_vec<Isa>(Isa::set1(a[0]))[L - 1] == a[0]);
    CHECK(to_vec<Isa>(Isa::zero())[0] == 0.0f);
  }
}

TEMPLATE_LIST_TEST_CASE("widening loads equal the formats' conversions", "[simd]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  constexpr int L = Isa::lanes;
  std::vector<float> x(L);
  std::vector<sy::format::bf16> b(L);
  std::vector<sy::format::f16> h(L);
  std::vector<sy::format::e4m3> e(L);
  for (int round = 0; round < 100; ++round) {
    sy::test::fill_normal<float>(x, 0.0f, 10.0f);
    for (int i = 0; i < L; ++i) {
      b[i] = sy::format::bf16(x[i]);
      h[i] = sy::format::f16(x[i]);
      e[i] = sy::format::e4m3(x[i]);
    }
    auto const vb = to_vec<Isa>(Isa::load_as_f32(b.data()));
    auto const vh = to_vec<Isa>(Isa::load_as_f32(h.data()));
    auto const ve = to_vec<Isa>(Isa::load_as_f32(e.data()));
    auto const vx = to_vec<Isa>(Isa::load_as_f32(x.data()));
    for (int i = 0; i < L; ++i) {
      REQUIRE(vb[i] == b[i].to_float());
      REQUIRE(vh[i] == h[i].to_float());
      REQUIRE(ve[i] == e[i].to_float());
      REQUIRE(vx[i] == x[i]);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("sub, max, reduce_max exact; exp2 within 3 ulp; int8 loads exact", "[simd]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  constexpr int L = Isa::lanes;
  std::vector<float> a(L), b(L);
  std::vector<std::int8_t> q(L);
  double worst_ulps = 0;
  for (int round = 0; round < 2000; ++round) {
    sy::test::fill_normal<float>(a, 0.0f, 40.0f);  // reaches past the clamps at +-127 now and then
    sy::test::fill_normal<float>(b, 0.0f, 3.0f);
    for (int i = 0; i < L; ++i) q[i] = static_cast<std::int8_t>(static_cast<int>(b[i] * 40.0f) % 128);
    auto const va = Isa::load(a.data()), vb = Isa::load(b.data());
    auto const sub = to_vec<Isa>(Isa::sub(va, vb)), mx = to_vec<Isa>(Isa::max(va, vb));
    auto const ex = to_vec<Isa>(Isa::exp2(vb)), wide = to_vec<Isa>(Isa::exp2(va));
    auto const qi = to_vec<Isa>(Isa::load_as_f32(q.data()));
    float m = a[0];
    for (int i = 0; i < L; ++i) {
      REQUIRE(sub[i] == a[i] - b[i]);
      REQUIRE(mx[i] == std::max(a[i], b[i]));
      REQUIRE(qi[i] == static_cast<float>(q[i]));
      m = std::max(m, a[i]);
      double const want = std::exp2(static_cast<double>(b[i]));
      double const ulp = std::ldexp(1.0, std::ilogb(want) - 23);
      worst_ulps = std::max(worst_ulps, std::fabs(ex[i] - want) / ulp);
      // Far tails: below -127 flushes to 0 (documented); elsewhere within 3 ulp of a normal result.
      double const w = std::exp2(static_cast<double>(a[i]));
      if (a[i] < -127.0f) REQUIRE(wide[i] <= 1e-38f);
      else if (a[i] < -126.0f || a[i] > 127.0f) continue;
      else REQUIRE(std::fabs(wide[i] - w) <= 3.0 * std::ldexp(1.0, std::ilogb(w) - 23));
    }
    REQUIRE(Isa::reduce_max(va) == m);
  }
  CHECK(worst_ulps <= 3.0);
  float const specials[] = {-INFINITY, 0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -200.0f, 10.0f};
  std::vector<float> s(L);
  for (int i = 0; i < L; ++i) s[i] = specials[i % 8];
  auto const es = to_vec<Isa>(Isa::exp2(Isa::load(s.data())));
  for (int i = 0; i < L; ++i) {
    INFO("exp2(" << s[i] << ") = " << es[i]);
    if (std::isinf(s[i]) || s[i] < -150.0f) REQUIRE(es[i] == 0.0f);
    else REQUIRE(std::fabs(es[i] - std::exp2(s[i])) <= 2e-7f * std::exp2(s[i]));
  }
}

TEMPLATE_LIST_TEST_CASE("fp8 widening loads are exact on every code", "[simd]", sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  constexpr int L = Isa::lanes;
  std::vector<sy::format::e4m3> e(L);
  std::vector<sy::format::e5m2> f(L);
  for (int base = 0; base < 256; base += L) {
    for (int i = 0; i < L; ++i) {
      e[i] = sy::format::e4m3::from_bits(static_cast<std::uint8_t>((base + i) & 0xFF));
      f[i] = sy::format::e5m2::from_bits(static_cast<std::uint8_t>((base + i) & 0xFF));
    }
    auto const ve = to_vec<Isa>(Isa::load_as_f32(e.data())), vf = to_vec<Isa>(Isa::load_as_f32(f.data()));
    for (int i = 0; i < L; ++i) {
      INFO(Isa::name << " code " << (base + i));
      float const we = e[i].to_float(), wf = f[i].to_float();
      if (std::isnan(we)) REQUIRE(std::isnan(ve[i]));
      else REQUIRE(std::memcmp(&ve[i], &we, 4) == 0);
      if (std::isnan(wf)) REQUIRE(std::isnan(vf[i]));
      else REQUIRE(std::memcmp(&vf[i], &wf, 4) == 0);
    }
  }
}
