// The device MoE layer (kernels::moe) against the host layer on every weight format: element-wise
// (f16, e4m3) and blocks (q8_0, q4_0, int4 groups), one test case per format and requested path
// (the checks and tolerances of each path: moe_harness.cuh, test_moe_cuda.cu); int8 / fp8 codes
// with scales are test_moe_cuda_scaled.cu. Units of their own so that nvcc builds them in parallel.
#include <catch2/catch.hpp>

#include "cuda/moe_harness.cuh"

using namespace switchyard::test::moe_cuda;

namespace {
std::vector<index_t> const tokens{3, 100};
layer_case const mixtral_like{.E = 8, .H = 256, .F = 384};
}  // namespace

TEMPLATE_TEST_CASE("device MoE equals host: f16 weights", "[cuda][moe][quant]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::f16>(mixtral_like).check(tokens, TestType::value);
}
TEMPLATE_TEST_CASE("device MoE equals host: e4m3 weights", "[cuda][moe][quant]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::e4m3>(mixtral_like).check(tokens, TestType::value);
}
TEMPLATE_TEST_CASE("device MoE equals host: q8_0 weights", "[cuda][moe][quant]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::q8_0>(mixtral_like).check(tokens, TestType::value);
}
TEMPLATE_TEST_CASE("device MoE equals host: q4_0 weights", "[cuda][moe][quant]", SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::q4_0>(mixtral_like).check(tokens, TestType::value);
}
TEMPLATE_TEST_CASE("device MoE equals host: int4 groups of 128 with zero points", "[cuda][moe][quant]",
                   SWITCHYARD_MOE_PATHS) {
  harness<sy::route::mixtral<2>, sy::format::int4_asym<128>>(mixtral_like).check(tokens, TestType::value);
}
