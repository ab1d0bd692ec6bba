// Compile-only: the AMX path of the int8 GEMM (linear/host/int8_gemm_amx.hpp) built for a
// Sapphire Rapids target whatever the build machine is, so that a machine without AMX (where the
// native build leaves the path out and the tests cannot run it) still checks that it compiles.
// The tests run it (test_int8_gemm: bit for bit against the AVX512-VNNI path) where the CPU has it.
#include "switchyard/linear/host/int8_gemm.hpp"

#if !defined(SWITCHYARD_INT8_GEMM_AMX) && defined(__linux__)
#error "the AMX int8 GEMM should be compiled for -march=sapphirerapids"
#endif

namespace sy = switchyard;

template void sy::host::block_gemm_int8<sy::host::int8_gemm_path::amx, sy::format::q4_K>(
    sy::matrix_view<float const>, sy::matrix_view<sy::format::q4_K const>, float const*, sy::matrix_view<float>, sy::thread_pool&);
template void sy::host::block_gemm_int8<sy::host::int8_gemm_path::amx, sy::format::q5_K>(
    sy::matrix_view<float const>, sy::matrix_view<sy::format::q5_K const>, float const*, sy::matrix_view<float>, sy::thread_pool&);
template void sy::host::block_gemm_int8<sy::host::int8_gemm_path::amx, sy::format::q6_K>(
    sy::matrix_view<float const>, sy::matrix_view<sy::format::q6_K const>, float const*, sy::matrix_view<float>, sy::thread_pool&);
template void sy::host::block_gemm_int8<sy::host::int8_gemm_path::amx, sy::format::q4_0>(
    sy::matrix_view<float const>, sy::matrix_view<sy::format::q4_0 const>, float const*, sy::matrix_view<float>, sy::thread_pool&);
