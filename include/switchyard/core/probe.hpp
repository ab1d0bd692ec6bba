#pragma once
// Observing a forward pass from outside: the inputs each layer's projections read and the routing
// of every MoE call, for calibration (activation-aware pruning's input norms, whole-expert
// pruning's usage statistics -- examples/prune) without a second forward implementation.
//
//   struct my_observer : probe::observer { ... };
//   my_observer o;
//   { probe::attach scope(o); lm.forward(...); }   // the blocks report to o on this thread
//
// The blocks report from the thread that called forward (never from pool workers), so attaching is
// per thread and costs a forward that nobody observes one thread-local load per block call.
// Reports carry the layer the model is in (causal_lm sets it) and which FFN bank runs (the MoE
// layer says routed / shared; otherwise dense).
#include <cstdint>

#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace probe {

// Whose input a report is.
enum class site : std::uint8_t {
  attention_input,   // the normed rows q / k / v (MLA: q_a or q, kv_a) read
  attention_output,  // the heads' output the o projection reads
  ffn_input,         // the normed rows a dense FFN, the shared expert and the router read
  expert_input,      // the rows routed to one expert (its gate / up read them)
  ffn_hidden,        // act(gate) * up, what a down projection reads
};
enum class bank : std::uint8_t { dense, routed, shared };

struct where {
  index_t layer = -1;
  site at = site::attention_input;
  bank of = bank::dense;  // for ffn_hidden and expert_input
  index_t expert = -1;    // routed experts; -1 otherwise
};

class observer {
 public:
  virtual ~observer() = default;
  // Rows x [n, features] a projection reads.
  virtual void input(where const& w, matrix_view<float const> x) = 0;
  // One MoE call's routing: ids, weights [T, K] as the router wrote them (an id < 0: no expert),
  // and each slot's expert output norm ||y_slot|| (0 for a dropped slot).
  virtual void routed(index_t layer, matrix_view<std::int32_t const> ids, matrix_view<float const> weights,
                      matrix_view<float const> slot_output_norms) = 0;
};

namespace detail {
struct state {
  observer* obs = nullptr;
  index_t layer = -1;
  bank ffn_bank = bank::dense;
};
inline state& current() noexcept {
  static thread_local state s;
  return s;
}
}  // namespace detail

inline observer* active() noexcept { return detail::current().obs; }
inline index_t layer() noexcept { return detail::current().layer; }
inline void set_layer(index_t l) noexcept {
  if (detail::current().obs) detail::current().layer = l;
}

// The bank an FFN runs as, for the reports of the blocks inside it (restored at scope end).
class bank_scope {
 public:
  explicit bank_scope(bank b) noexcept : prev_(detail::current().ffn_bank) { detail::current().ffn_bank = b; }
  ~bank_scope() { detail::current().ffn_bank = prev_; }
  bank_scope(bank_scope const&) = delete;
  bank_scope& operator=(bank_scope const&) = delete;

 private:
  bank prev_;
};
inline bank current_bank() noexcept { return detail::current().ffn_bank; }

// Reports one input when an observer is attached.
inline void report(site at, matrix_view<float const> x, index_t expert = -1) {
  auto& s = detail::current();
  if (!s.obs || x.extent(0) == 0) return;
  s.obs->input(where{s.layer, at, s.ffn_bank, expert}, x);
}

// Attaches an observer to this thread for the scope's life.
class attach {
 public:
  explicit attach(observer& o) noexcept : prev_(detail::current()) { detail::current() = {&o, -1, bank::dense}; }
  ~attach() { detail::current() = prev_; }
  attach(attach const&) = delete;
  attach& operator=(attach const&) = delete;

 private:
  detail::state prev_;
};

}  // namespace probe
SWITCHYARD_NAMESPACE_END
