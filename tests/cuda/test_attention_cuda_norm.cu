// RMSNorm and RoPE on the device (kernels/switchyard/kernels/norm/) against the host blocks
// (norm::rms_norm, attention::rotary_embedding) on random rows, every element within
// tolerance::rms_norm(n) of |ref| and tolerance::cuda_rope(angle) of the head's max |x|.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/attention_harness.cuh"
#include "switchyard/attention/rope.hpp"
#include "switchyard/kernels/norm/rms_norm.cuh"
#include "switchyard/kernels/norm/rope.cuh"
#include "switchyard/norm/rms_norm.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = switchyard::test::tolerance;
using namespace switchyard::test::attention_cuda;
using switchyard::test::device_array;

TEST_CASE("device RMSNorm equals host", "[cuda][attention][norm]") {
  for (int n : {7, 64, 1000, 4096, 5120}) {
    std::int64_t const rows = 33;
    auto const x = normal(static_cast<std::size_t>(rows * n), 3.0f);
    auto const w = normal(static_cast<std::size_t>(n));
    std::vector<float> ref(x.size());
    sy::norm::rms_norm(sy::make_view(x.data(), rows, std::int64_t{n}), sy::make_view(w.data(), std::int64_t{n}),
                       sy::make_view(ref.data(), rows, std::int64_t{n}), 1e-6f);
    device_array<float> dx(x), dw(w), dy(x.size());
    device_array<char> none(1);
    auto const got = run_poisoned(dy, none, [&] { sy::kernels::norm::rms_norm(dx.get(), dw.get(), dy.get(), rows, n, 1e-6f); });
    INFO("n = " << n);
    require_close("rms_norm", "rms_norm", "relative", got, ref, 1, [&](std::size_t i) {
      return row_bound{std::fabs(static_cast<double>(ref[i])), tol::rms_norm(n)};
    });
    // In place, as the host allows.
    auto const inplace = run_poisoned(dy, none, [&] {
      SWITCHYARD_CUDA_CHECK(cudaMemcpy(dy.get(), dx.get(), x.size() * sizeof(float), cudaMemcpyDeviceToDevice));
      sy::kernels::norm::rms_norm(dy.get(), dw.get(), dy.get(), rows, n, 1e-6f);
    });
    CHECK(inplace == got);
    // x one float past a 16-byte boundary (a view into a larger buffer): the float4 loads would
    // fault there, so the kernel must take the scalar loop even where n % 4 == 0.
    std::vector<float> shifted(x.size() + 1, 0.0f);
    std::copy(x.begin(), x.end(), shifted.begin() + 1);
    device_array<float> dxs(shifted);
    auto const unaligned = run_poisoned(
        dy, none, [&] { sy::kernels::norm::rms_norm(dxs.get() + 1, dw.get(), dy.get(), rows, n, 1e-6f); });
    require_close("rms_norm", "rms_norm unaligned x", "relative", unaligned, ref, 1, [&](std::size_t i) {
      return row_bound{std::fabs(static_cast<double>(ref[i])), tol::rms_norm(n)};
    });
  }
}

namespace {

// One RoPE configuration over T tokens at positions first + t (and through a positions array).
void check_rope(at::rope_config const& cfg, std::int64_t T, std::int64_t heads, std::int64_t first) {
  at::rotary_embedding const e(cfg);
  std::int64_t const D = cfg.head_dim;
  auto const x = normal(static_cast<std::size_t>(T * heads * D));
  std::vector<float> ref = x;
  e.apply(sy::make_view(ref.data(), T, heads, D), first);
  std::vector<float> const inv(e.inv_freq().begin(), e.inv_freq().end());
  device_array<float> dinv(inv), dx(x.size());
  device_array<char> none(1);
  auto const r = sy::kernels::norm::describe(e, dinv.get());
  double max_freq = 0.0;
  for (float f : inv) max_freq = std::max(max_freq, static_cast<double>(f));
  double const angle = max_freq * static_cast<double>(first + T);
  auto bound = [&](std::size_t row) { return row_bound{row_max(x, row, static_cast<std::size_t>(D)), tol::cuda_rope(angle)}; };

  auto got = run_poisoned(dx, none, [&] {
    dx.upload(x);
    sy::kernels::norm::rope(dx.get(), T, static_cast<int>(heads), r, first);
  });
  require_close("rope", cfg.layout == at::rope_layout::interleaved ? "rope-interleaved" : "rope-rotate-half", "head-max",
                got, ref, static_cast<std::size_t>(D), bound);

  std::vector<std::int64_t> pos(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) pos[static_cast<std::size_t>(t)] = first + t;
  device_array<std::int64_t> dpos(pos);
  got = run_poisoned(dx, none, [&] {
    dx.upload(x);
    sy::kernels::norm::rope(dx.get(), T, static_cast<int>(heads), r, 0, dpos.get());
  });
  require_close("rope-positions", "rope", "head-max", got, ref, static_cast<std::size_t>(D), bound);
}

}  // namespace

TEST_CASE("device RoPE equals host: rotate-half, full and partial rotary, linear scaling", "[cuda][attention][rope]") {
  check_rope({.head_dim = 128, .theta = 1e6}, 37, 8, 0);
  check_rope({.head_dim = 128, .theta = 1e6}, 21, 4, 4000);
  check_rope({.head_dim = 128, .rotary_dim = 32, .theta = 10000.0,
              .scaling = {.type = at::rope_scaling::kind::linear, .factor = 4.0}},
             17, 3, 900);
}

TEST_CASE("device RoPE equals host: interleaved with DeepSeek's YaRN", "[cuda][attention][rope]") {
  at::rope_config c{.head_dim = 64, .theta = 10000.0, .layout = at::rope_layout::interleaved};
  c.scaling = {.type = at::rope_scaling::kind::yarn, .factor = 40, .original_max_position = 4096, .mscale = 1,
               .mscale_all_dim = 1};
  check_rope(c, 29, 16, 3000);
}
