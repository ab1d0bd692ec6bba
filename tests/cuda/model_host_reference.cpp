// The host model's side of the whole-model device tests (model_host_reference.hpp): compiled by the
// host compiler, so it links switchyard::model_instances' model::load.
#include "cuda/model_host_reference.hpp"

#include "switchyard/model/load.hpp"

namespace switchyard_test_reference {

namespace {
std::int32_t argmax(float const* row, int V) {  // the host sampler's greedy rule: first of the largest
  std::int32_t best = 0;
  for (std::int32_t i = 1; i < V; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}
}  // namespace

host_run run_host(std::string const& path, bool bf16_weights, std::vector<std::int32_t> const& prompt, int decode_steps) {
  namespace md = switchyard::model;
  md::load_options o;
  o.weights = bf16_weights ? md::weight_format::bf16 : md::weight_format::automatic;
  o.kv = md::kv_format::f32;
  o.activations = md::activation_format::f32;
  o.cache = {.block_size = 16, .blocks = 64};
  auto lm = md::load(path, o);
  host_run r;
  r.vocab = static_cast<int>(lm->config().vocab);
  auto const V = static_cast<switchyard::index_t>(r.vocab), T = static_cast<switchyard::index_t>(prompt.size());
  auto seq = lm->new_sequence();
  r.prefill.assign(static_cast<std::size_t>(T * V), 0.0f);
  md::step const first{&seq, prompt};
  lm->forward(std::span<md::step const>(&first, 1), switchyard::make_view(r.prefill.data(), T, V), md::which_logits::all);
  std::int32_t next = argmax(r.prefill.data() + (T - 1) * V, r.vocab);
  std::vector<float> row(static_cast<std::size_t>(V));
  for (int s = 0; s < decode_steps; ++s) {
    r.fed.push_back(next);
    md::step const st{&seq, std::span<std::int32_t const>(&r.fed.back(), 1)};
    lm->forward(std::span<md::step const>(&st, 1), switchyard::make_view(row.data(), switchyard::index_t{1}, V));
    r.decode.insert(r.decode.end(), row.begin(), row.end());
    next = argmax(row.data(), r.vocab);
  }
  lm->release(seq);
  return r;
}

}  // namespace switchyard_test_reference
