#pragma once
// The host half of the bridge to the device model (device/abi.hpp): a model::language_model and
// generate::sampling_model of the host units' namespace that forwards every call to a
// switchyard_device_abi::model (device/abi_model.cuh, made in the program's CUDA unit), so a
// host-compiled scheduler or server drives the device model as it drives the host one.
// Host code only (no CUDA headers): g++ compiles it.
//
// A sequence carries the handle of its device twin in device_slot_ (taken on its first call,
// given back by release) and mirrors its length. Failures on the device side come back as
// abi::failure and are thrown again as this namespace's switchyard errors (allocation_error,
// unsupported_config, ...), so the scheduler's preemption on allocation_error works unchanged.
#include <memory>
#include <span>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/device/abi.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/generate/sampling_model.hpp"
#include "switchyard/model/language_model.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

class host_proxy final : public model::language_model, public generate::sampling_model {
 public:
  // config: the model's, as the host's readers give it (model::read_hf_config / config_from_gguf,
  // with the same experts_per_token override the device was loaded with).
  host_proxy(std::unique_ptr<switchyard_device_abi::model> m, model::model_config const& config)
      : m_(std::move(m)), cfg_(config) {
    require(m_ != nullptr, "device::host_proxy", "no device model");
    require(m_->vocab() == cfg_.vocab, "device::host_proxy", "the device model has a vocabulary of ", m_->vocab(),
            " but the config says ", cfg_.vocab);
  }

  switchyard_device_abi::model& device_model() noexcept { return *m_; }

  model::model_config const& config() const noexcept override { return cfg_; }
  index_t free_blocks() const noexcept override { return static_cast<index_t>(m_->free_blocks()); }
  index_t cache_block_size() const noexcept override { return static_cast<index_t>(m_->block_size()); }
  void keep(std::shared_ptr<void> owner) override { owned_.push_back(std::move(owner)); }

  model::sequence new_sequence() const override {
    model::sequence s;
    s.layers_.resize(1);
    s.owner_ = this;
    return s;
  }
  void release(model::sequence& s) override {
    check(s);
    if (s.device_slot_ >= 0) call([&] { m_->release(s.device_slot_); });
    s.device_slot_ = -1;
    s.layers_[0] = {};
  }
  void truncate(model::sequence& s, index_t length) override {
    check(s);
    require(length >= 0 && length <= s.length(), "device::host_proxy::truncate", "keeps ", length,
            " tokens of a sequence of ", s.length());
    if (s.device_slot_ >= 0) call([&] { m_->truncate(s.device_slot_, length); });
    s.layers_[0].length = length;
  }

  void forward(std::span<model::step const> steps, matrix_view<float> logits, model::which_logits which = model::which_logits::last,
               thread_pool& = thread_pool::shared()) override {
    require(logits.extent(0) == 0 || logits.stride(1) == 1, "device::host_proxy::forward", "logits rows must be contiguous");
    auto const s = convert(steps);
    call([&] {
      m_->forward(s.data(), s.size(), logits.extent(0) > 0 ? logits.row(0) : nullptr, logits.extent(0),
                  logits.extent(0) > 0 ? logits.stride(0) : cfg_.vocab, which == model::which_logits::all);
    });
    advance(steps);
  }

  void forward_sample(std::span<model::step const> steps, std::span<generate::sample_request const> requests,
                      std::span<std::int32_t> out) override {
    char const* where = "device::host_proxy::forward_sample";
    require(requests.size() == steps.size() && out.size() == steps.size(), where, "requests (", requests.size(),
            ") and out (", out.size(), ") need one entry per step (", steps.size(), ")");
    auto const s = convert(steps);
    std::vector<switchyard_device_abi::sample_row> rows(steps.size());
    std::vector<std::uint64_t> states(4 * steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto const& q = requests[i];
      if (!q.sample) continue;
      require(q.params != nullptr && q.stream != nullptr, where, "request ", i, " asks for a token without params or a random stream");
      auto const st = q.stream->state();
      std::copy(st.begin(), st.end(), states.begin() + static_cast<std::ptrdiff_t>(4 * i));
      rows[i] = {.sample = true, .temperature = q.params->temperature, .top_p = q.params->top_p, .min_p = q.params->min_p,
                 .repetition_penalty = q.params->repetition_penalty, .top_k = q.params->top_k, .state = states.data() + 4 * i,
                 .history = q.history.data(), .history_size = static_cast<std::int64_t>(q.history.size())};
    }
    call([&] { m_->forward_sample(s.data(), s.size(), rows.data(), out.data()); });
    advance(steps);
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (requests[i].sample)
        requests[i].stream->set_state({states[4 * i], states[4 * i + 1], states[4 * i + 2], states[4 * i + 3]});
  }

 private:
  void check(model::sequence const& s) const {
    require(s.owner_ == this && s.layers_.size() == 1, "device::host_proxy",
            "the sequence was not made by this model's new_sequence()");
  }
  // The device steps, taking a device twin for every sequence that has none yet.
  std::vector<switchyard_device_abi::step> convert(std::span<model::step const> steps) {
    std::vector<switchyard_device_abi::step> s;
    for (auto const& st : steps) {
      require(st.seq != nullptr, "device::host_proxy", "a step has no sequence");
      check(*st.seq);
    }
    for (auto const& st : steps) {
      if (st.seq->device_slot_ < 0) st.seq->device_slot_ = call([&] { return m_->new_sequence(); });
      s.push_back({st.seq->device_slot_, st.tokens.data(), static_cast<std::int64_t>(st.tokens.size()),
                   static_cast<std::int64_t>(st.last_rows)});
    }
    return s;
  }
  static void advance(std::span<model::step const> steps) {
    for (auto const& st : steps) st.seq->layers_[0].length += static_cast<index_t>(st.tokens.size());
  }
  // An abi::failure thrown again as this namespace's error class.
  template <class F>
  static std::invoke_result_t<F&> call(F&& f) {
    using switchyard_device_abi::failure_kind;
    try {
      return f();
    } catch (switchyard_device_abi::failure const& e) {
      std::string const what = e.what();  // already "switchyard::<where>: ..."
      switch (e.kind()) {
        case failure_kind::allocation_error: throw allocation_error(what);
        case failure_kind::index_error: throw index_error(what);
        case failure_kind::unsupported_config: throw unsupported_config(what);
        case failure_kind::invalid_argument: throw invalid_argument(what);
        case failure_kind::format_error: throw format_error(what);
        case failure_kind::error: break;
      }
      throw error(what);
    }
  }

  std::unique_ptr<switchyard_device_abi::model> m_;
  model::model_config cfg_;
  std::vector<std::shared_ptr<void>> owned_;
};

}  // namespace device
SWITCHYARD_NAMESPACE_END
