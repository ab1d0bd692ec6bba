#pragma once
// The device model across the line between CUDA and host units, in plain types.
//
// CUDA units name switchyard's types in the inline namespace v0_1_cuda, host units in v0_1_<isa>
// (include/switchyard/config.hpp), so a host-compiled program -- generate's scheduler, the server,
// built by g++ -- cannot take a device::causal_lm as its own model::language_model, nor catch the
// CUDA side's switchyard::allocation_error as its own. This header is the bridge both sides
// compile alike: a namespace outside switchyard, no switchyard types, an interface of handles,
// pointers and numbers. The CUDA half (device/abi_model.cuh) implements it over a causal_lm; the
// host half (device/host_proxy.hpp) is a model::language_model and generate::sampling_model of
// the host's namespace that forwards to it. Errors cross as abi::failure (a kind and a message)
// and are thrown again on the host as the matching switchyard error.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace switchyard_device_abi {

// What went wrong, by the switchyard error class it stands for.
enum class failure_kind { error, invalid_argument, index_error, unsupported_config, format_error, allocation_error };

class failure : public std::runtime_error {
 public:
  failure(failure_kind k, std::string const& what) : std::runtime_error(what), kind_(k) {}
  failure_kind kind() const noexcept { return kind_; }

 private:
  failure_kind kind_;
};

// One step of a call: a sequence (a handle from new_sequence) and its next tokens.
struct step {
  std::int32_t sequence = -1;
  std::int32_t const* tokens = nullptr;
  std::int64_t count = 0;
  std::int64_t last_rows = 1;
};

// What one step of forward_sample asks for (generate::sample_request, flattened).
struct sample_row {
  bool sample = false;
  float temperature = 0, top_p = 1, min_p = 0, repetition_penalty = 1;
  int top_k = 0;
  std::uint64_t* state = nullptr;  // [4]: the request's random stream, advanced in place
  std::int32_t const* history = nullptr;
  std::int64_t history_size = 0;
};

class model {
 public:
  virtual ~model() = default;
  virtual std::int32_t new_sequence() = 0;  // a handle, valid until release()
  virtual void release(std::int32_t sequence) = 0;
  virtual void truncate(std::int32_t sequence, std::int64_t length) = 0;
  virtual std::int64_t length(std::int32_t sequence) const = 0;
  // logits: rows x vocab floats, row stride ld; rows as model::language_model::forward says
  // (all: every token's; else each step's last_rows).
  virtual void forward(step const* steps, std::size_t count, float* logits, std::int64_t rows, std::int64_t ld,
                       bool all) = 0;
  // generate::sampling_model::forward_sample: out[i] written where rows[i].sample.
  virtual void forward_sample(step const* steps, std::size_t count, sample_row const* rows, std::int32_t* out) = 0;
  virtual std::int64_t free_blocks() const = 0;
  virtual std::int64_t block_size() const = 0;
  virtual std::int64_t vocab() const = 0;
};

}  // namespace switchyard_device_abi
