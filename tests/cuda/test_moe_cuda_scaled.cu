// The device MoE layer (kernels::moe) on int8 and fp8 codes with per-channel or 128 x 128 block
// scales against the host's f32 layer, one test case per requested path (the checks and
// tolerances of each path: moe_harness.cuh, test_moe_cuda.cu). A unit of its own so that nvcc
// builds it beside test_moe_cuda_formats.cu.
#include <catch2/catch.hpp>

#include "cuda/moe_harness.cuh"

using namespace switchyard::test::moe_cuda;

// int8 and fp8 codes with scales -- per channel (W8A16, fp8 per channel) or in 128 x 128 blocks
// (DeepSeek-V3's layout) -- against the host's f32 layer on the dequantized weights (code x scale).
// Every matrix (each expert's gate, up and down; the shared expert's) is quantized on its own;
// gate_up's scales are stacked gate then up, as the device layer takes them. The device applies a
// per-channel scale once per output, a block scale to each weight as it is decoded.
template <class E>
void check_scaled(sy::scale_granularity granularity, index_t H, index_t F, index_t Fs, std::vector<index_t> const& tokens,
                  moe_path path) {
  using R = sy::route::deepseek_v3<6, 8, 4>;
  constexpr int K = R::max_k;
  constexpr index_t B = sy::scale_block;
  bool const block = granularity == sy::scale_granularity::block;
  index_t const NE = 64;
  // `mats` matrices of rows x cols: appends their codes, scales and dequantized f32.
  auto quantize_mats = [&](index_t mats, index_t rows, index_t cols, std::vector<E>& codes, std::vector<float>& scales,
                           std::vector<float>& deq) {
    index_t const srows = block ? (rows + B - 1) / B : rows, scols = block ? (cols + B - 1) / B : 1;
    for (index_t m = 0; m < mats; ++m) {
      auto const w = normal(static_cast<std::size_t>(rows * cols), 1.0f / std::sqrt(float(cols)));
      std::vector<E> c(w.size());
      std::vector<float> sc(static_cast<std::size_t>(srows * scols), 0.0f);
      sy::quant::quantize_scaled<E>(sy::make_view<float const>(w.data(), rows, cols), granularity,
                                    sy::make_view(c.data(), rows, cols), sy::make_view(sc.data(), srows, scols));
      for (index_t r = 0; r < rows; ++r)
        for (index_t k = 0; k < cols; ++k)
          deq.push_back(sy::format::traits<E>::to_float(c[static_cast<std::size_t>(r * cols + k)]) *
                        sc[static_cast<std::size_t>(block ? (r / B) * scols + k / B : r)]);
      codes.insert(codes.end(), c.begin(), c.end());
      scales.insert(scales.end(), sc.begin(), sc.end());
    }
  };
  auto const gate = normal(static_cast<std::size_t>(NE * H), 3.0f / std::sqrt(float(H)));
  auto const sel = normal(static_cast<std::size_t>(NE), 0.3f);
  std::vector<E> gu, dn, sgu, sdn;
  std::vector<float> gu_s, dn_s, sgu_s, sdn_s, gu_f, dn_f, sgu_f, sdn_f;
  // Per expert: the gate matrix [F, H], then the up matrix (per channel the same as one [2F, H]).
  quantize_mats(2 * NE, F, H, gu, gu_s, gu_f);
  quantize_mats(NE, H, F, dn, dn_s, dn_f);
  quantize_mats(2, Fs, H, sgu, sgu_s, sgu_f);
  quantize_mats(1, H, Fs, sdn, sdn_s, sdn_f);

  using bank = sy::expert::glu_experts<float>;
  auto v3 = [](std::vector<float> const& v, index_t a, index_t b, index_t c) {
    return sy::tensor_view<float const, sy::dextents<3>>(v.data(), sy::dextents<3>(a, b, c));
  };
  sy::expert::moe<R, bank> host(sy::make_view<float const>(gate.data(), NE, H), bank(v3(gu_f, NE, 2 * F, H), v3(dn_f, NE, H, F)));
  host.set_shared(bank(v3(sgu_f, 1, 2 * Fs, H), v3(sdn_f, 1, H, Fs)));
  sy::route::router_params hp;
  hp.scaling = 2.5f;
  hp.selection_bias = sy::make_view<float const>(sel.data(), NE);

  device_array<float> d_gate(gate), d_sel(sel), d_gu_s(gu_s), d_dn_s(dn_s), d_sgu_s(sgu_s), d_sdn_s(sdn_s);
  device_array<E> d_gu(gu), d_dn(dn), d_sgu(sgu), d_sdn(sdn);
  sy::kernels::moe_weights<E> w;
  w.gate = d_gate.get();
  w.gate_up = d_gu.get();
  w.down = d_dn.get();
  w.shared_gate_up = d_sgu.get();
  w.shared_down = d_sdn.get();
  (block ? w.gate_up_block_scales : w.gate_up_scales) = d_gu_s.get();
  (block ? w.down_block_scales : w.down_scales) = d_dn_s.get();
  (block ? w.shared_gate_up_block_scales : w.shared_gate_up_scales) = d_sgu_s.get();
  (block ? w.shared_down_block_scales : w.shared_down_scales) = d_sdn_s.get();
  sy::kernels::moe_shape const shape{static_cast<int>(NE), static_cast<int>(H), static_cast<int>(F), static_cast<int>(Fs)};
  sy::kernels::moe<R, E> layer(shape, w);
  sy::kernels::route::device_router_params dp;
  dp.scaling = 2.5f;
  dp.selection_bias = d_sel.get();

  for (index_t T : tokens) {
    auto const x = normal(static_cast<std::size_t>(T * H), 1.0f);
    std::vector<float> ref(x.size());
    sy::expert::moe_workspace hws;
    host(sy::make_view<float const>(x.data(), T, H), sy::make_view(ref.data(), T, H), hws, hp);
    INFO(sy::format::traits<E>::name << (block ? " 128 x 128 blocks" : " per channel") << ", H " << H << " F " << F
                                     << " Fs " << Fs << " T " << T << " path " << path_name(path));
    auto const y = run_layer(layer, x, T, path, dp);
    require_path(layer, T, path);
    require_close(layer, y, ref, T, path, tol::moe_output(H, std::max(F, Fs), K + 1));
  }
}

TEMPLATE_TEST_CASE("device MoE layers take int8 and fp8 codes with per-channel scales", "[cuda][moe][quant]",
                   paths::gemv, paths::mma, paths::mma_bf16) {
  check_scaled<std::int8_t>(sy::scale_granularity::per_channel, 128, 64, 128, {2, 90}, TestType::value);
  check_scaled<sy::format::e4m3>(sy::scale_granularity::per_channel, 128, 64, 128, {2, 90}, TestType::value);
}

TEMPLATE_TEST_CASE("device MoE layers take int8 and fp8 codes with 128 x 128 block scales", "[cuda][moe][quant]",
                   paths::gemv, paths::mma, paths::mma_bf16) {
  // Partial blocks on both axes: H = 2.5 blocks, F = 1.25, Fs = 0.75.
  check_scaled<sy::format::e4m3>(sy::scale_granularity::block, 320, 160, 96, {2, 90}, TestType::value);
  check_scaled<std::int8_t>(sy::scale_granularity::block, 256, 384, 128, {3, 70}, TestType::value);
}
