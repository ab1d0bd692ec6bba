#pragma once
// A language model that also picks the next tokens where its logits are: a device model samples on
// the GPU and sends back token ids instead of [rows, vocab] logits (at batch 64 and a 150k vocabulary
// that is 38 MB a step over PCIe against 256 bytes). The scheduler (generate/scheduler.hpp) asks
// for this interface and uses it for steps without speculative drafts; any other model is
// sampled on the host from its logits.
//
// The contract is the host sampler's, draw for draw: for each step asking for a token, the model
// takes that step's last row of logits, applies generate::sampler's rules with `params`, draws
// from `stream` (the request's own random stream, which it advances exactly as
// generate::sampler::operator() would: no draw at temperature 0, one otherwise), and writes the
// token. So a seed gives the same tokens on both backends wherever the logits agree, whatever the
// batch and across preemptions (the stream belongs to the request, not to the sequence).
#include <cstdint>
#include <span>

#include "switchyard/generate/sampler.hpp"
#include "switchyard/model/language_model.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

// What one step of a sampling forward asks for.
struct sample_request {
  bool sample = false;                       // false: a prompt chunk that does not end the prompt (no token)
  sampling_params const* params = nullptr;  // the request's parameters (sample == true)
  rng* stream = nullptr;                     // the request's random stream, advanced in place
  std::span<std::int32_t const> history = {};  // tokens so far, fed ones included (repetition penalty)
};

class sampling_model {
 public:
  virtual ~sampling_model() = default;
  // forward(steps) with which_logits::last and last_rows 1 for every step, then out[i] = the token
  // picked for step i where requests[i].sample (out[i] is left alone elsewhere). requests and out
  // have one entry per step.
  virtual void forward_sample(std::span<model::step const> steps, std::span<sample_request const> requests,
                              std::span<std::int32_t> out) = 0;
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
