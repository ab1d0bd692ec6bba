#pragma once
// The CUDA half of the bridge to host-compiled programs (device/abi.hpp): a causal_lm behind
// switchyard_device_abi::model. Sequences are handles into a table this object keeps; switchyard
// errors leave as abi::failure (kind + message), which device/host_proxy.hpp throws again as the
// host namespace's own error class.
//
//   // in the program's one CUDA unit:
//   std::unique_ptr<switchyard_device_abi::model> open_device(std::string const& path) {
//     return switchyard::device::make_abi_model(switchyard::device::load(path, options));
//   }
//   // in a host unit:
//   auto lm = std::make_unique<switchyard::device::host_proxy>(open_device(path), host_config);
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/device/abi.hpp"
#include "switchyard/device/causal_lm.cuh"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/generate/sampling_model.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

class abi_model final : public switchyard_device_abi::model {
 public:
  explicit abi_model(std::unique_ptr<causal_lm> lm) : lm_(std::move(lm)) {}
  causal_lm& device_model() noexcept { return *lm_; }

  std::int32_t new_sequence() override {
    return guard([&] {
      std::int32_t h;
      if (!free_.empty()) {
        h = free_.back();
        free_.pop_back();
        seqs_[static_cast<std::size_t>(h)] = lm_->new_sequence();
      } else {
        h = static_cast<std::int32_t>(seqs_.size());
        seqs_.push_back(lm_->new_sequence());
        live_.push_back(false);
      }
      live_[static_cast<std::size_t>(h)] = true;
      return h;
    });
  }
  void release(std::int32_t h) override {
    guard([&] {
      lm_->release(seq(h));
      live_[static_cast<std::size_t>(h)] = false;
      free_.push_back(h);
    });
  }
  void truncate(std::int32_t h, std::int64_t length) override { guard([&] { lm_->truncate(seq(h), length); }); }
  std::int64_t length(std::int32_t h) const override {
    return guard([&] { return static_cast<std::int64_t>(seqs_[static_cast<std::size_t>(checked(h))].length()); });
  }

  void forward(switchyard_device_abi::step const* steps, std::size_t count, float* logits, std::int64_t rows,
               std::int64_t ld, bool all) override {
    guard([&] {
      auto const s = convert(steps, count);
      matrix_view<float> out(logits, dextents<2>(rows, lm_->config().vocab), strides<2>{{ld, 1}});
      lm_->forward(s, out, all ? switchyard::model::which_logits::all : switchyard::model::which_logits::last);
    });
  }

  void forward_sample(switchyard_device_abi::step const* steps, std::size_t count,
                      switchyard_device_abi::sample_row const* rows, std::int32_t* out) override {
    guard([&] {
      auto const s = convert(steps, count);
      std::vector<generate::sampling_params> params(count);
      std::vector<generate::rng> streams(count, generate::rng(0));
      std::vector<generate::sample_request> req(count);
      for (std::size_t i = 0; i < count; ++i) {
        auto const& r = rows[i];
        if (!r.sample) continue;
        require(r.state != nullptr, "device::abi_model::forward_sample", "row ", i, " samples without a random state");
        params[i] = {.temperature = r.temperature, .top_k = r.top_k, .top_p = r.top_p, .min_p = r.min_p,
                     .repetition_penalty = r.repetition_penalty};
        streams[i].set_state({r.state[0], r.state[1], r.state[2], r.state[3]});
        req[i] = {.sample = true, .params = &params[i], .stream = &streams[i],
                  .history = std::span<std::int32_t const>(r.history, static_cast<std::size_t>(r.history_size))};
      }
      lm_->forward_sample(s, req, std::span<std::int32_t>(out, count));
      for (std::size_t i = 0; i < count; ++i)
        if (rows[i].sample) {
          auto const st = streams[i].state();
          for (int w = 0; w < 4; ++w) rows[i].state[w] = st[static_cast<std::size_t>(w)];
        }
    });
  }

  std::int64_t free_blocks() const override { return static_cast<std::int64_t>(lm_->free_blocks()); }
  std::int64_t block_size() const override { return static_cast<std::int64_t>(lm_->cache_block_size()); }
  std::int64_t vocab() const override { return static_cast<std::int64_t>(lm_->config().vocab); }

 private:
  // switchyard's errors as abi failures (most derived first).
  template <class F>
  static std::invoke_result_t<F&> guard(F&& f) {
    using switchyard_device_abi::failure;
    using switchyard_device_abi::failure_kind;
    try {
      return f();
    } catch (allocation_error const& e) {
      throw failure(failure_kind::allocation_error, e.what());
    } catch (index_error const& e) {
      throw failure(failure_kind::index_error, e.what());
    } catch (unsupported_config const& e) {
      throw failure(failure_kind::unsupported_config, e.what());
    } catch (invalid_argument const& e) {
      throw failure(failure_kind::invalid_argument, e.what());
    } catch (format_error const& e) {
      throw failure(failure_kind::format_error, e.what());
    } catch (error const& e) {
      throw failure(failure_kind::error, e.what());
    }
  }
  std::int32_t checked(std::int32_t h) const {
    require<index_error>(h >= 0 && static_cast<std::size_t>(h) < seqs_.size() && live_[static_cast<std::size_t>(h)],
                         "device::abi_model", "sequence handle ", h, " is not a live sequence of this model");
    return h;
  }
  switchyard::model::sequence& seq(std::int32_t h) { return seqs_[static_cast<std::size_t>(checked(h))]; }
  std::vector<switchyard::model::step> convert(switchyard_device_abi::step const* steps, std::size_t count) {
    std::vector<switchyard::model::step> s;
    s.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
      s.push_back({&seq(steps[i].sequence),
                   std::span<std::int32_t const>(steps[i].tokens, static_cast<std::size_t>(steps[i].count)),
                   static_cast<index_t>(steps[i].last_rows)});
    return s;
  }

  std::unique_ptr<causal_lm> lm_;
  std::vector<switchyard::model::sequence> seqs_;
  std::vector<bool> live_;
  std::vector<std::int32_t> free_;
};

inline std::unique_ptr<switchyard_device_abi::model> make_abi_model(std::unique_ptr<causal_lm> lm) {
  return std::make_unique<abi_model>(std::move(lm));
}

}  // namespace device
SWITCHYARD_NAMESPACE_END
