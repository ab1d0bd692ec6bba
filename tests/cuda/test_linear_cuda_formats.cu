// The device dense layers (kernels/switchyard/kernels/linear/) on block formats (q8_0, q4_0, int4
// groups symmetric and asymmetric, 2:4 sparse bf16) and on int8 / fp8 codes with per-row or
// 128 x 128 block scales (against the host's scaled_linear), every path, both shapes, every T.
// A unit of its own so that nvcc builds it beside test_linear_cuda.cu. The harness and its
// rules: linear_harness.cuh.
#include <catch2/catch.hpp>

#include "cuda/linear_harness.cuh"

using namespace switchyard::test::linear_cuda;
namespace fmt = switchyard::format;

using switchyard::test::device_array;

using int4_g32 = fmt::int4_group<32, false>;
using int4_g128_zp = fmt::int4_group<128, true>;
using sparse_bf16 = fmt::sparse24<fmt::bf16>;

TEMPLATE_TEST_CASE("device dense layers equal the host's linear<W> for block formats on every path and shape",
                   "[cuda][linear][blocks]", SWITCHYARD_LINEAR_PATHS(fmt::q8_0), SWITCHYARD_LINEAR_PATHS(fmt::q4_0),
                   SWITCHYARD_LINEAR_PATHS(int4_g32), SWITCHYARD_LINEAR_PATHS(int4_g128_zp),
                   SWITCHYARD_LINEAR_PATHS(sparse_bf16)) {
  check_format<typename TestType::format>(scaling::none, TestType::path);
}

// Per-row scales (W8A16, fp8 per channel): applied once per output in the epilogue; the host
// scales its code product the same way (y s + b).
TEMPLATE_TEST_CASE("device dense layers take int8 and fp8 codes with per-row scales", "[cuda][linear][scales]",
                   paths::gemv, paths::mma, paths::automatic) {
  check_format<fmt::e4m3>(scaling::row, TestType::value);
  check_format<std::int8_t>(scaling::row, TestType::value);
}

// 128 x 128 block scales (DeepSeek-V3's weight_scale_inv), partial blocks on both axes in both
// shapes (1000 rows: 7.8 blocks; 77 rows; 200 cols: 1.56 blocks): applied to each weight as it
// is decoded, the host scales each 128-wide slice's partial sums.
TEMPLATE_TEST_CASE("device dense layers take int8 and fp8 codes with 128 x 128 block scales", "[cuda][linear][scales]",
                   paths::gemv, paths::mma, paths::automatic) {
  check_format<fmt::e4m3>(scaling::block, TestType::value);
  check_format<std::int8_t>(scaling::block, TestType::value);
}
