#pragma once
// The run-time interface of a loaded model (what model::load returns), apart from any weight
// format: sequences, forward steps, the cache options. Light to include: a program that only
// loads and runs models needs this and model/load.hpp, not the blocks behind them.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/model/config.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {
class causal_lm;   // the whole model on a CUDA device (kernels/switchyard/device/causal_lm.cuh)
class host_proxy;  // a host program's handle on it (kernels/switchyard/device/host_proxy.hpp)
}
namespace model {

template <class W, class KV, class Layer>
class causal_lm;

// A sequence's share of every layer's cache. Owned by the caller; release() it when done.
// The host model keeps one kv_sequence per layer; the device model one for all its layers (they
// share one block table) and, in device_slot_, the sequence's sampler state on the device (the
// host proxy of a device model: the handle of the sequence's device twin).
class sequence {
 public:
  index_t length() const noexcept { return layers_.empty() ? 0 : layers_[0].length; }
  std::vector<attention::kv_sequence>& layers() noexcept { return layers_; }

 private:
  template <class, class, class>
  friend class causal_lm;
  friend class device::causal_lm;
  friend class device::host_proxy;
  std::vector<attention::kv_sequence> layers_;
  void const* owner_ = nullptr;
  std::int32_t device_slot_ = -1;
};

// One entry of a forward call: a sequence and the tokens to append to it. With which_logits::last
// a step returns the logits of its last `last_rows` tokens (1: the next token's; speculative
// verification asks for every drafted position), in token order.
struct step {
  sequence* seq;
  std::span<std::int32_t const> tokens;
  index_t last_rows = 1;
};

enum class which_logits { last, all };  // per step, or per token

struct cache_options {
  index_t block_size = 16;
  index_t blocks = 256;  // per layer: the pool holds blocks * block_size tokens, all sequences together
};

// The interface the dynamic front (load.hpp) returns: any weight and cache format behind it.
class language_model {
 public:
  virtual ~language_model() = default;
  virtual model_config const& config() const noexcept = 0;
  virtual sequence new_sequence() const = 0;
  virtual void release(sequence& s) = 0;
  // Keeps the first `length` tokens of s in every layer's cache (paged_kv_cache::truncate): the
  // rejected tokens of a speculative step are rolled back without copying.
  virtual void truncate(sequence& s, index_t length) = 0;
  // logits: [sum of the steps' last_rows, vocab] for which_logits::last, [total tokens, vocab] for all.
  virtual void forward(std::span<step const> steps, matrix_view<float> logits, which_logits which = which_logits::last,
                       thread_pool& pool = thread_pool::shared()) = 0;
  virtual index_t free_blocks() const noexcept = 0;
  virtual index_t cache_block_size() const noexcept = 0;
  // Objects the model must keep alive (mapped files, converted weights).
  virtual void keep(std::shared_ptr<void> owner) = 0;
};

}  // namespace model
SWITCHYARD_NAMESPACE_END
