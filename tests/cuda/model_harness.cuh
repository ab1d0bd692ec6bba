#pragma once
// Shared by the whole-model device tests (test_model_cuda.cu, test_model_cuda_gguf.cu): options for
// both backends, prompts, NaN-poisoned forward calls, the logits comparison (every element against
// its reference row's RMS, plus the NMSE; one switchyard-record line per check) and the host
// comparison (a 12-token prefill, every row, then 8 decode steps fed the host's greedy tokens).
// Include it after the SWITCHYARD_DEVICE_* instance macros of the unit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "support/tolerance.hpp"
#include "switchyard/device/load.cuh"
#include "switchyard/generate/sampler.hpp"
#include "cuda/model_host_reference.hpp"  // the host model, through plain types


namespace switchyard::test::model_cuda {

namespace sy = switchyard;
namespace dv = switchyard::device;
namespace md = switchyard::model;
namespace tol = switchyard::test::tolerance;

inline std::string data_path(std::string const& rel) { return std::string(SWITCHYARD_TEST_DATA_DIR) + "/" + rel; }

inline dv::load_options device_options(dv::arithmetic paths, dv::weight_storage weights, bool graphs = false) {
  dv::load_options o;
  o.cache = dv::cache_format::f32;
  o.block_size = 16;
  o.blocks = 64;
  o.max_tokens = 64;
  o.max_decode_batch = 8;
  o.max_sequences = 32;
  o.graphs = graphs;
  o.weights = weights;
  o.paths = paths;
  return o;
}

inline std::vector<std::int32_t> prompt_of(int n, int vocab, int salt = 0) {
  std::vector<std::int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<std::int32_t>((i * 37 + 11 + salt * 101) % vocab));
  return p;
}

// forward into a NaN-poisoned [rows, vocab] buffer.
inline std::vector<float> run(md::language_model& lm, std::vector<md::step> const& steps, int rows,
                       md::which_logits which = md::which_logits::last) {
  int const V = static_cast<int>(lm.config().vocab);
  std::vector<float> out(static_cast<std::size_t>(rows) * V, std::numeric_limits<float>::quiet_NaN());
  lm.forward(steps, sy::make_view(out.data(), static_cast<sy::index_t>(rows), static_cast<sy::index_t>(V)), which);
  return out;
}
inline std::vector<float> run_one(md::language_model& lm, md::sequence& s, std::vector<std::int32_t> const& tokens,
                           md::which_logits which = md::which_logits::last) {
  int const rows = which == md::which_logits::all ? static_cast<int>(tokens.size()) : 1;
  return run(lm, {md::step{&s, tokens}}, rows, which);
}

inline std::int32_t argmax(float const* row, int V) {  // the host sampler's greedy rule: first of the largest
  std::int32_t best = 0;
  for (std::int32_t i = 1; i < V; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

// Every element within element_bound x its reference row's RMS, and the NMSE within nmse_bound.
inline void check_logits(std::string const& model, char const* check, std::vector<float> const& got,
                  std::vector<float> const& ref, int V, double element_bound, double nmse_bound) {
  REQUIRE(got.size() == ref.size());
  std::size_t const rows = ref.size() / static_cast<std::size_t>(V);
  double worst = 0, se = 0, sr = 0;
  std::size_t worst_at = 0, bad = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    double rms = 0;
    for (int i = 0; i < V; ++i) rms += double(ref[r * V + i]) * ref[r * V + i];
    rms = std::sqrt(rms / V);
    REQUIRE(rms > 0.0);
    for (int i = 0; i < V; ++i) {
      std::size_t const k = r * V + static_cast<std::size_t>(i);
      double const d = std::fabs(double(got[k]) - ref[k]);
      double const e = std::isfinite(got[k]) ? d / rms : std::numeric_limits<double>::infinity();
      if (!(e <= element_bound)) ++bad;
      if (!(e <= worst)) worst = e, worst_at = k;
      se += std::isfinite(d) ? d * d : std::numeric_limits<double>::infinity();
      sr += double(ref[k]) * ref[k];
    }
  }
  double const nmse = se / sr;
  std::printf("switchyard-record: model=%s check=%s err=%.3g bound=%.3g nmse=%.3g nmse_bound=%.3g\n", model.c_str(),
              check, worst, element_bound, nmse, nmse_bound);
  std::fflush(stdout);
  INFO(model << " " << check << ": worst element " << worst_at << " (row " << worst_at / V << ", token "
             << worst_at % V << "): device " << got[worst_at] << ", reference " << ref[worst_at] << ", error / row RMS "
             << worst << " (bound " << element_bound << "); " << bad << " of " << got.size()
             << " elements out of bounds; NMSE " << nmse);
  REQUIRE(bad == 0);
  REQUIRE(nmse <= nmse_bound);
}

// Prefill of a 12-token prompt (every row), then 8 decode steps fed the host's greedy tokens; the
// host runs in model_host_reference.cpp (f32 activations and cache; bf16_weights: every matrix in
// bf16, else the checkpoint's formats).
inline void compare_with_host(std::string const& name, std::string const& path, bool host_bf16_weights,
                              dv::load_options const& dopts, double element_bound, double nmse_bound) {
  auto dev = dv::load(path, dopts);
  int const V = static_cast<int>(dev->config().vocab);
  auto const prompt = prompt_of(12, V);
  auto const host = switchyard_test_reference::run_host(path, host_bf16_weights, prompt, 8);
  REQUIRE(host.vocab == V);
  auto ds = dev->new_sequence();
  auto const dgot = run_one(*dev, ds, prompt, md::which_logits::all);
  check_logits(name, "prefill", dgot, host.prefill, V, element_bound, nmse_bound);
  std::vector<float> dall;
  for (auto t : host.fed) {
    auto const d = run_one(*dev, ds, {t});
    dall.insert(dall.end(), d.begin(), d.end());
  }
  CHECK(ds.length() == 20);
  check_logits(name, "decode", dall, host.decode, V, element_bound, nmse_bound);
  dev->release(ds);
  CHECK(dev->free_blocks() == dopts.blocks);
}

}  // namespace switchyard::test::model_cuda
