// Compile-only check (CI has no GPU): every device-safe core header compiles under nvcc for
// each architecture in CMAKE_CUDA_ARCHITECTURES, and its functions are usable in a kernel and
// in constant expressions on the device side.
#include "switchyard/core/backend.hpp"
#include "switchyard/core/check.hpp"
#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/extents.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/minifloat.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/instances.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/detail/bits.hpp"
#include "switchyard/kernels/attention/cache_write.cuh"
#include "switchyard/kernels/common/arch.cuh"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/linear/elementwise.cuh"
#include "switchyard/kernels/linear/linear.cuh"
#include "switchyard/kernels/sample/sample.cuh"

namespace sy = switchyard;

static_assert(sy::format::bf16(1.0f).bits == 0x3F80);
static_assert(sy::format::e4m3(448.0f).bits == 0x7E);
static_assert(sy::format::traits<std::int8_t>::from_float(-3.5f) == -4);  // int8 codes: half away from zero
static_assert(sy::format::traits<std::int8_t>::from_float(300.0f) == 127);

// Round-trips a matrix through every narrow format, reading and writing through tensor views
// with a static inner extent, as kernels will.
__global__ void round_trip(sy::tensor_view<float const, sy::extents<sy::dynamic, 64>, sy::backend::cuda> in,
                           sy::tensor_view<float, sy::extents<sy::dynamic, 64>, sy::backend::cuda> out) {
  sy::index_t const r = blockIdx.x, c = threadIdx.x;
  if (r >= in.extent(0) || c >= 64) return;
  float const x = in(r, c);
  float const a = sy::format::bf16(x).to_float();
  float const b = sy::format::f16(x).to_float();
  float const d = sy::format::e4m3::saturate(x).to_float();
  float const e = sy::format::e5m2(x).to_float();
  float block[1];
  sy::format::bf16 const one = sy::format::bf16::from_bits(0x3F80);
  sy::format::traits<sy::format::bf16>::dequantize(&one, block);
  out(r, c) = a + b + d + e + block[0];
}

void launch_round_trip(float const* in, float* out, int rows, cudaStream_t stream) {
  using E = sy::extents<sy::dynamic, 64>;
  round_trip<<<rows, 64, 0, stream>>>({in, E(rows)}, {out, E(rows)});
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

// The instance lists are plain types: their values are constants in device code too (a kernel
// sized by the largest instance), while the dispatch over them runs on the host.
__global__ void largest_instance(int* out) {
  constexpr int epl = sy::last_value(sy::instances::device_experts_per_lane{});
  static_assert(sy::contains(sy::instances::device_experts_per_lane{}, epl));
  out[threadIdx.x] = epl;
}

void launch_largest_instance(int* out, int experts, cudaStream_t stream) {
  sy::dispatch_at_most(sy::instances::device_experts_per_lane{}, (experts + 31) / 32,
                       {"tests::device_headers", "experts per lane"}, [&]<int EPL>() {
                         largest_instance<<<1, EPL, 0, stream>>>(out);
                       });
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}
