#pragma once
// Comparing a loaded model's logits with llama.cpp's on the same GGUF file (test_mixed_gguf,
// test_quantize_llama): every position in one prefill call and again one token per call, each row
// against llama.cpp's within tol::llama_cpp_mixed_logits (relative to the row's largest logit),
// the median within tol::llama_cpp_mixed_logits_median, at most int8_activations_routing_flips
// rows past the bound (an expert choice that flips on a near tie), and the argmax equal wherever
// llama.cpp's top two are clearly apart.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "support/tolerance.hpp"
#include "switchyard/model/language_model.hpp"

namespace switchyard::test {

// max |got - want| over the row, relative to the row's largest |want|.
inline double row_error(float const* got, float const* want, index_t n) {
  double err = 0, scale = 0;
  for (index_t i = 0; i < n; ++i) {
    err = std::max(err, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return err / std::max(scale, 1e-30);
}

inline index_t argmax(float const* x, index_t n) { return std::max_element(x, x + n) - x; }

// Logits of every position: the whole sequence in one call (prefill), then again one token per
// call (decode), concatenated [2T, V].
inline std::vector<float> prefill_and_decode(model::language_model& lm, std::vector<std::int32_t> const& toks) {
  index_t const V = lm.config().vocab, T = static_cast<index_t>(toks.size());
  std::vector<float> out(static_cast<std::size_t>(2 * T * V), std::nanf(""));
  auto seq = lm.new_sequence();
  model::step const all{&seq, toks};
  lm.forward(std::span<model::step const>(&all, 1), make_view(out.data(), T, V), model::which_logits::all);
  lm.release(seq);
  auto seq2 = lm.new_sequence();
  for (index_t t = 0; t < T; ++t) {
    model::step const one{&seq2, std::span<std::int32_t const>(&toks[static_cast<std::size_t>(t)], 1)};
    lm.forward(std::span<model::step const>(&one, 1), make_view(out.data() + (T + t) * V, 1, V));
  }
  lm.release(seq2);
  return out;
}

// `lm` on `toks` against llama.cpp's logits `want` [T, V] of the same file.
inline void check_near_llama_cpp(model::language_model& lm, std::vector<std::int32_t> const& toks, std::vector<float> const& want) {
  namespace tol = tolerance;
  index_t const V = lm.config().vocab, T = static_cast<index_t>(toks.size());
  REQUIRE(want.size() == static_cast<std::size_t>(T * V));
  auto const got = prefill_and_decode(lm, toks);
  std::vector<double> errs;
  std::ptrdiff_t over = 0;
  for (index_t r = 0; r < 2 * T; ++r) {
    float const* w = want.data() + (r % T) * V;
    float const* g = got.data() + r * V;
    double const e = row_error(g, w, V);
    errs.push_back(e);
    over += e > tol::llama_cpp_mixed_logits;
    // The argmax, where llama.cpp's top two are apart by more than the rows' error bound.
    std::vector<float> sorted(w, w + V);
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    double const scale = std::max(std::abs(sorted[0]), std::abs(*std::min_element(w, w + V)));
    if (sorted[0] - sorted[1] > 2 * tol::llama_cpp_mixed_logits * scale) {
      INFO("row " << r << " (rows >= " << T << " are decode steps)");
      CHECK(argmax(g, V) == argmax(w, V));
    }
  }
  std::nth_element(errs.begin(), errs.begin() + static_cast<std::ptrdiff_t>(errs.size() / 2), errs.end());
  CHECK(errs[errs.size() / 2] <= tol::llama_cpp_mixed_logits_median);
  CHECK(over <= tol::int8_activations_routing_flips(errs.size()));
}

}  // namespace switchyard::test
