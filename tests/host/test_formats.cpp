// bf16, f16, fp8 e4m3/e5m2 <-> f32 against PyTorch's casts: every bit pattern of each narrow
// format widened, and ~148k f32 values (all exponents, exact ties, specials) narrowed.
// Tolerance: exact (tolerance::format_conversion); NaN must map to NaN, payloads aside.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "support/reference_file.hpp"
#include "switchyard/core/format/traits.hpp"

namespace sy = switchyard;
using sy::format::bf16;
using sy::format::e4m3;
using sy::format::e5m2;
using sy::format::f16;

namespace {

bool is_nan_bits(std::uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }

// Widening: pattern i of the format must give the reference f32 bits.
template <class F, class Bits>
void check_widening(std::string const& name, int patterns) {
  sy::test::reference_file ref("formats.safetensors");
  auto const expected = ref.get(name).as<std::int32_t>();
  REQUIRE(static_cast<int>(expected.size()) == patterns);
  int mismatches = 0;
  for (int i = 0; i < patterns; ++i) {
    float const got = F::from_bits(static_cast<Bits>(i)).to_float();
    std::uint32_t const g = sy::detail::float_bits(got), e = static_cast<std::uint32_t>(expected[static_cast<std::size_t>(i)]);
    bool const ok = is_nan_bits(e) ? is_nan_bits(g) : g == e;
    if (!ok && mismatches++ < 5) FAIL_CHECK(name << ": pattern 0x" << std::hex << i << " gave 0x" << g << ", torch 0x" << e);
  }
  CHECK(mismatches == 0);
}

// Narrowing: each sample value must give the reference bits of the format.
template <class F, class Ref>
void check_narrowing(std::string const& name, bool (*is_nan)(unsigned)) {
  sy::test::reference_file ref("formats.safetensors");
  auto const input = ref.get("f32_sample").as<std::int32_t>();
  auto const expected = ref.get(name).as<Ref>();
  REQUIRE(input.size() == expected.size());
  REQUIRE(input.size() > 140000);
  int mismatches = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    float const x = sy::detail::float_from_bits(static_cast<std::uint32_t>(input[i]));
    unsigned const got = F(x).bits;
    unsigned const want = static_cast<std::make_unsigned_t<Ref>>(expected[i]);
    bool const ok = is_nan(want) ? is_nan(got) : got == want;
    if (!ok && mismatches++ < 5)
      FAIL_CHECK(name << ": f32 0x" << std::hex << static_cast<std::uint32_t>(input[i]) << " (" << x << ") gave 0x" << got
                      << ", torch 0x" << want);
  }
  CHECK(mismatches == 0);
}

bool bf16_nan(unsigned b) { return (b & 0x7FFFu) > 0x7F80u; }
bool f16_nan(unsigned b) { return (b & 0x7FFFu) > 0x7C00u; }
bool e4m3_nan(unsigned b) { return (b & 0x7Fu) == 0x7Fu; }
bool e5m2_nan(unsigned b) { return (b & 0x7Fu) > 0x7Cu; }

}  // namespace

TEST_CASE("bf16 -> f32 matches torch for all 65536 patterns", "[format]") { check_widening<bf16, std::uint16_t>("bf16_to_f32", 65536); }
TEST_CASE("f16 -> f32 matches torch for all 65536 patterns", "[format]") { check_widening<f16, std::uint16_t>("f16_to_f32", 65536); }
TEST_CASE("e4m3 -> f32 matches torch for all 256 patterns", "[format]") { check_widening<e4m3, std::uint8_t>("e4m3_to_f32", 256); }
TEST_CASE("e5m2 -> f32 matches torch for all 256 patterns", "[format]") { check_widening<e5m2, std::uint8_t>("e5m2_to_f32", 256); }

TEST_CASE("f32 -> bf16 matches torch", "[format]") { check_narrowing<bf16, std::int16_t>("f32_to_bf16", bf16_nan); }
TEST_CASE("f32 -> f16 matches torch", "[format]") { check_narrowing<f16, std::int16_t>("f32_to_f16", f16_nan); }
TEST_CASE("f32 -> e4m3 matches torch", "[format]") { check_narrowing<e4m3, std::uint8_t>("f32_to_e4m3", e4m3_nan); }
TEST_CASE("f32 -> e5m2 matches torch", "[format]") { check_narrowing<e5m2, std::uint8_t>("f32_to_e5m2", e5m2_nan); }

TEST_CASE("every non-NaN pattern survives widening and narrowing unchanged", "[format]") {
  for (unsigned i = 0; i < 65536; ++i) {
    auto const b = static_cast<std::uint16_t>(i);
    if (!bf16_nan(b)) REQUIRE(bf16(bf16::from_bits(b).to_float()).bits == b);
    if (!f16_nan(b)) REQUIRE(f16(f16::from_bits(b).to_float()).bits == b);
  }
  for (unsigned i = 0; i < 256; ++i) {
    auto const b = static_cast<std::uint8_t>(i);
    if (!e4m3_nan(b)) REQUIRE(e4m3(e4m3::from_bits(b).to_float()).bits == b);
    if (!e5m2_nan(b)) REQUIRE(e5m2(e5m2::from_bits(b).to_float()).bits == b);
  }
}

TEST_CASE("conversions are constant expressions", "[format]") {
  static_assert(bf16(1.0f).bits == 0x3F80 && bf16::from_bits(0xC000).to_float() == -2.0f);
  static_assert(f16(65504.0f).bits == 0x7BFF && f16(65520.0f).bits == 0x7C00);
  static_assert(f16(0x1p-24f).bits == 0x0001 && f16(0x1p-25f).bits == 0x0000);
  static_assert(e4m3(448.0f).bits == 0x7E && e4m3(464.0f).bits == 0x7E && e4m3(470.0f).bits == 0x7E);
  static_assert(e4m3(-1e30f).bits == 0xFE && e5m2(-1e30f).bits == 0xFC);
  static_assert(e5m2(57344.0f).bits == 0x7B && e5m2(61440.0f).bits == 0x7C);
  static_assert(e4m3::from_bits(0x01).to_float() == 0x1p-9f && e5m2::from_bits(0x01).to_float() == 0x1p-16f);
  SUCCEED();
}

TEST_CASE("saturating fp8 conversion clamps to the largest finite value", "[format]") {
  CHECK(e4m3::saturate(1e6f).to_float() == 448.0f);
  CHECK(e4m3::saturate(-INFINITY).to_float() == -448.0f);
  CHECK(e4m3::saturate(470.0f).to_float() == 448.0f);
  CHECK(std::isnan(e4m3::saturate(NAN).to_float()));
  CHECK(e5m2::saturate(1e9f).to_float() == 57344.0f);
  CHECK(e5m2::saturate(-INFINITY).to_float() == -57344.0f);
  CHECK(e5m2::saturate(3.0f).to_float() == 3.0f);
}
