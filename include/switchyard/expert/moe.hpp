#pragma once
// The MoE layer: gate -> router -> dispatch plan -> gather -> experts -> weighted combine
// (+ shared experts). It works on the caller's buffers: views in, views out, and a workspace the
// caller owns and reuses (it grows to the largest call, then never allocates again). Each stage
// is also callable alone: the router, route::dispatch_plan::build, gather, the expert bank's
// run, and combine.
//
//   using layer = sy::expert::moe<sy::route::mixtral<2>, sy::expert::glu_experts<sy::format::bf16>>;
//   layer moe(gate_view, layer::experts_type(gate_up_view, down_view));
//   sy::expert::moe_workspace ws;
//   moe(x, y, ws);
//
// Deterministic by construction: a token's output is a fixed-order sum over its k choices (in
// ascending expert order: the order in which a prefill finishes the experts and adds their rows
// into y, without holding every slot's output at once), and
// every expert row is computed by linear<W>, whose per-row result does not depend on the other
// rows in the call (k panels summed in a fixed order) or on the thread count (threads split
// output features, never k). So the output for a token does not depend on its batch; the cost is
// nothing (tests/host/test_moe.cpp checks it bit for bit).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/probe.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/expert/ffn_experts.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/route/dispatch_plan.hpp"
#include "switchyard/route/expert_choice.hpp"
#include "switchyard/route/router.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace expert {

// Routing statistics of one call, filled only when asked for.
struct load_stats {
  std::vector<std::int32_t> tokens_per_expert;  // kept slots per expert
  index_t dropped = 0;                          // slots refused by capacity
  double load_entropy = 0;                      // entropy (nats) of the kept slots' distribution over
                                                // experts; log(E) is perfect balance
};

// Scratch for one layer call, grown on use and reused across calls (no allocation once the
// largest call has been seen). Sizes follow what the call needs: routing buffers by T x slots;
// a prefill's gathered inputs, outputs and expert scratch by the busiest expert's rows (it runs one
// expert at a time and adds its rows into y at once: T k rows of x and of expert output held at
// once would be 2 x 12.6 MB at T = 512, k = 6, hidden 1024, for no gain); a decode step's by all
// its slots (it runs every chosen expert in one parallel region).
class moe_workspace {
 public:
  void reserve_routing(index_t tokens, index_t experts, index_t slots) {
    grow(logits_, tokens * experts);
    grow(weights_, tokens * slots);
    grow(slot_weights_, tokens * slots);
    grow(ids_, tokens * slots);
  }
  // x_rows / y_rows: gathered input / expert output rows; rows: the rows of expert scratch.
  void reserve_experts(index_t x_rows, index_t y_rows, index_t rows, index_t hidden, index_t scratch_cols) {
    grow(x_sorted_, x_rows * hidden);
    grow(y_sorted_, y_rows * hidden);
    grow(h_, rows * scratch_cols);
  }
  void reserve_shared(index_t tokens, index_t hidden) { grow(shared_, tokens * hidden); }

  route::dispatch_plan plan;
  float* logits() { return logits_.data(); }
  float* weights() { return weights_.data(); }
  float* slot_weights() { return slot_weights_.data(); }  // the routing weight of each kept slot
  std::int32_t* ids() { return ids_.data(); }
  float* x_sorted() { return x_sorted_.data(); }
  float* y_sorted() { return y_sorted_.data(); }
  float* h() { return h_.data(); }
  float* shared_out() { return shared_.data(); }

 private:
  template <class T>
  static void grow(buffer<T>& b, index_t n) {
    if (static_cast<index_t>(b.size()) < n) b = buffer<T>(static_cast<std::size_t>(n));
  }
  buffer<float> logits_, weights_, slot_weights_, x_sorted_, y_sorted_, h_, shared_;
  buffer<std::int32_t> ids_;
};

// Copies each kept slot's token row of x into x_sorted [S, H], grouped by expert.
inline void gather(matrix_view<float const> x, route::dispatch_plan const& plan, matrix_view<float> x_sorted,
                   thread_pool& pool) {
  index_t const H = x.extent(1);
  pool.parallel_for(0, plan.kept(), 16, [&](index_t lo, index_t hi) {
    for (index_t s = lo; s < hi; ++s) {
      float const* src = x.row(plan.slot_token()[static_cast<std::size_t>(s)]);
      std::copy(src, src + H, x_sorted.row(s));
    }
  });
}

// The token rows of expert e's slots [offset, offset + count) into out [count, H], in slot order.
inline void gather_expert(matrix_view<float const> x, route::dispatch_plan const& plan, int e, matrix_view<float> out) {
  index_t const H = x.extent(1), off = plan.offset(e), n = plan.count(e);
  for (index_t s = 0; s < n; ++s) {
    float const* src = x.row(plan.slot_token()[static_cast<std::size_t>(off + s)]);
    std::copy(src, src + H, out.row(s));
  }
}

// out += w src over one row of H: the combine's one operation, shared by its two forms below so
// that they agree bit for bit.
inline void add_scaled_row(float* out, float w, float const* src, index_t H) {
  for (index_t i = 0; i < H; ++i) out[i] += w * src[i];
}

// y[t] = sum over the kept choices of weights(t, j) * y_sorted[slot(t, j)], added in ascending
// slot order -- ascending expert order (the plan groups slots by expert), the order in which
// moe's prefill adds each expert's rows into y as it finishes them. Dropped choices contribute
// nothing.
inline void combine(matrix_view<float const> y_sorted, route::dispatch_plan const& plan, matrix_view<float const> weights,
                    matrix_view<float> y, thread_pool& pool) {
  index_t const H = y.extent(1), K = plan.k();
  pool.parallel_for(0, plan.tokens(), 4, [&](index_t lo, index_t hi) {
    std::vector<std::pair<std::int32_t, index_t>> order;  // (slot, choice j), sorted by slot
    order.reserve(static_cast<std::size_t>(K));
    for (index_t t = lo; t < hi; ++t) {
      float* out = y.row(t);
      std::fill(out, out + H, 0.0f);
      order.clear();
      for (index_t j = 0; j < K; ++j)
        if (std::int32_t const s = plan.token_slot()[static_cast<std::size_t>(t * K + j)]; s >= 0) order.emplace_back(s, j);
      std::sort(order.begin(), order.end());
      for (auto const& [s, j] : order) add_scaled_row(out, weights(t, j), y_sorted.row(s), H);
    }
  });
}

template <class Router, class Experts>
class moe {
 public:
  using router_type = Router;
  using experts_type = Experts;

  // gate [E, H] f32 (with an optional bias [E], as gpt-oss has); capacity < 0: unlimited. With a
  // capacity, each expert keeps its first `capacity` slots in token order; a dropped slot
  // contributes nothing (a token dropped by every choice gets y = 0, and passes through the
  // caller's residual, as in Switch Transformer).
  moe(matrix_view<float const> gate, Experts experts, vector_view<float const> gate_bias = {}, index_t capacity = -1)
      : gate_(gate, gate_bias), experts_(std::move(experts)), capacity_(capacity) {
    require(gate.extent(0) == experts_.experts() && gate.extent(1) == experts_.hidden(), "expert::moe", "gate is [",
            gate.extent(0), ", ", gate.extent(1), "] but the experts are ", experts_.experts(), " of hidden size ",
            experts_.hidden());
  }

  // Always-on experts added to the routed output (DeepSeek-V3: a bank of one expert of width
  // n_shared x F). With a gate vector [H], the shared output is scaled by sigmoid(gate . x)
  // per token (Qwen2-MoE's shared_expert_gate).
  void set_shared(Experts shared, vector_view<float const> shared_gate = {}) {
    require(shared.experts() == 1 && shared.hidden() == experts_.hidden(), "expert::moe",
            "the shared expert must be a bank of one expert of hidden size ", experts_.hidden());
    require(shared_gate.data() == nullptr || shared_gate.extent(0) == experts_.hidden(), "expert::moe",
            "the shared expert gate must have ", experts_.hidden(), " elements");
    shared_.emplace(std::move(shared));
    shared_gate_ = shared_gate;
  }

  index_t experts() const noexcept { return experts_.experts(); }
  index_t hidden() const noexcept { return experts_.hidden(); }

  // x [T, H] -> y [T, H] (the layer's output, without the residual).
  void operator()(matrix_view<float const> x, matrix_view<float> y, moe_workspace& ws,
                  route::router_params const& params = {}, thread_pool& pool = thread_pool::shared(),
                  load_stats* stats = nullptr) const {
    index_t const T = x.extent(0), H = hidden(), E = experts(), K = Router::slots(E);
    require(x.extent(1) == H && y.extent(0) == T && y.extent(1) == H, "expert::moe", "x and y must be [T, ", H,
            "], got x [", x.extent(0), ", ", x.extent(1), "] and y [", y.extent(0), ", ", y.extent(1), "]");
    require(x.data() != y.data() || T == 0, "expert::moe", "y must not be x (y is cleared before x is read)");
    ws.reserve_routing(T, E, K);
    if (T == 0) return;

    matrix_view<float> logits = make_view(ws.logits(), T, E);
    matrix_view<float> weights = make_view(ws.weights(), T, K);
    matrix_view<std::int32_t> ids = make_view(ws.ids(), T, K);
    gate_(x, logits, pool);
    Router{}(logits, ids, weights, params, pool);
    ws.plan.build(ids, static_cast<int>(E), capacity_);

    index_t const S = ws.plan.kept();
    index_t busiest_routed = 0;
    for (auto c : ws.plan.counts()) busiest_routed = std::max<index_t>(busiest_routed, c);
    // The shared expert runs on every token, in chunks of about shared_chunk_tokens rows (its
    // scratch and output would otherwise be [T, 2F] and [T, H]); one chunk under a probe.
    index_t const shared_parts = probe::active() ? 1 : std::max<index_t>(1, T / shared_chunk_tokens);
    index_t const shared_rows = (T + shared_parts - 1) / shared_parts;
    index_t const busiest = std::max(busiest_routed, shared_ ? shared_rows : 0);
    index_t const cols = std::max(experts_.scratch_cols(), shared_ ? shared_->scratch_cols() : 0);
    if constexpr (batches_decode) {
      if (T <= host::gemv_max_rows && !probe::active() && decode_jobs(ws.plan) <= max_decode_jobs) {
        decode(x, y, ws, weights, pool);
        record(stats, ws.plan);
        return;
      }
    }
    // One expert at a time: gather its rows, run it, add its rows into y with their routing
    // weights (a token appears once per expert, so the rows' additions are independent).
    ws.reserve_experts(busiest_routed, busiest_routed, busiest, H, cols);
    float* const slot_w = ws.slot_weights();
    index_t const PK = ws.plan.k();
    for (index_t t = 0; t < T; ++t) {
      std::fill(y.row(t), y.row(t) + H, 0.0f);
      for (index_t j = 0; j < PK; ++j)
        if (std::int32_t const s = ws.plan.token_slot()[static_cast<std::size_t>(t * PK + j)]; s >= 0) slot_w[s] = weights(t, j);
    }
    std::vector<float> slot_norms(probe::active() ? static_cast<std::size_t>(S) : 0);
    index_t const cols_routed = experts_.scratch_cols();
    std::optional<probe::bank_scope> routed_bank;
    if (probe::active()) routed_bank.emplace(probe::bank::routed);
    for (index_t e = 0; e < E; ++e) {
      index_t const n = ws.plan.count(static_cast<int>(e)), off = ws.plan.offset(static_cast<int>(e));
      if (n == 0) continue;  // an expert no token chose costs nothing, not even a weight read
      matrix_view<float> xe = make_view(ws.x_sorted(), n, H), ye = make_view(ws.y_sorted(), n, H);
      gather_expert(x, ws.plan, static_cast<int>(e), xe);
      probe::report(probe::site::expert_input, matrix_view<float const>(xe), e);
      experts_.run(e, matrix_view<float const>(xe), make_view(ws.h(), n, cols_routed), ye, pool);
      if (!slot_norms.empty())
        for (index_t r = 0; r < n; ++r) slot_norms[static_cast<std::size_t>(off + r)] = row_norm(ye.row(r), H);
      pool.parallel_for(0, n, 16, [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
          index_t const s = off + r;
          add_scaled_row(y.row(ws.plan.slot_token()[static_cast<std::size_t>(s)]), slot_w[s], ye.row(r), H);
        }
      });
    }
    routed_bank.reset();
    if (probe::active()) report_routing(ids, weights, slot_norms, ws.plan);

    if (shared_) {
      ws.reserve_shared(shared_rows, H);
      std::optional<probe::bank_scope> shared_bank;
      if (probe::active()) shared_bank.emplace(probe::bank::shared);
      for (index_t t0 = 0; t0 < T; t0 += shared_rows) {
        index_t const n = std::min(shared_rows, T - t0);
        matrix_view<float const> xc(x.row(t0), dextents<2>(n, H), strides<2>{{x.stride(0), 1}});
        matrix_view<float> so = make_view(ws.shared_out(), n, H);
        shared_->run(0, xc, make_view(ws.h(), n, shared_->scratch_cols()), so, pool);
        add_shared(xc, so, matrix_view<float>(y.row(t0), dextents<2>(n, H), strides<2>{{y.stride(0), 1}}));
      }
    }
    record(stats, ws.plan);
  }

 private:
  static constexpr index_t shared_chunk_tokens = 128;  // equal chunks of >= 128 rows: no GEMV tails
  // Gated experts can be computed in pieces (glu_experts::gate_up_part / down_part).
  static constexpr bool batches_decode = requires(Experts const& b, matrix_view<float const> cx, matrix_view<float> m,
                                                  thread_pool& p) {
    b.gate_up_part(index_t{}, cx, m, index_t{}, index_t{}, p);
    b.down_part(index_t{}, cx, m, index_t{}, index_t{}, p);
  };

  // The experts a decode step runs (those chosen at least once, and the shared one): at most
  // max_decode_jobs take the batched path (T k slots with k <= 8, and the shared expert); more (an
  // expert-choice router's wide plans) take the general one.
  static constexpr std::size_t max_decode_jobs = 8 * host::gemv_max_rows + 1;
  std::size_t decode_jobs(route::dispatch_plan const& plan) const {
    std::size_t n = shared_ ? 1 : 0;
    for (auto c : plan.counts()) n += c > 0 ? 1 : 0;
    return n;
  }

  // Decode (T <= gemv_max_rows): every chosen expert and the shared one in two parallel regions,
  // gate_up of all of them, then down of all of them, each split into row ranges so that the pool's
  // threads share the work evenly, instead of three regions per expert (each a wake-up of the pool
  // for a GEMV of a few hundred KB). Every output row is the same dot product as in run(), so the
  // result is bit for bit the general path's.
  void decode(matrix_view<float const> x, matrix_view<float> y, moe_workspace& ws, matrix_view<float const> weights,
              thread_pool& pool) const {
    index_t const T = x.extent(0), H = hidden(), E = experts(), S = ws.plan.kept();
    index_t const F = experts_.intermediate(), cols = std::max(experts_.scratch_cols(), shared_ ? shared_->scratch_cols() : 0);
    struct job {
      Experts const* bank;
      index_t e, row0, n;  // the bank's expert e on rows [row0, row0 + n) of x_sorted (or of x: shared)
    };
    std::array<job, max_decode_jobs> jobs;
    std::size_t count = 0;
    for (index_t e = 0; e < E; ++e)
      if (index_t const n = ws.plan.count(static_cast<int>(e)); n > 0)
        jobs[count++] = {&experts_, e, ws.plan.offset(static_cast<int>(e)), n};  // operator() checked the count
    bool const with_shared = shared_.has_value();
    if (with_shared) jobs[count++] = {&*shared_, 0, S, T};
    // h: each job's rows one after another (the shared expert's after the routed slots).
    ws.reserve_experts(S, S, S + (with_shared ? T : 0), H, cols);
    if (with_shared) ws.reserve_shared(T, H);
    matrix_view<float> x_sorted = make_view(ws.x_sorted(), S, H);
    matrix_view<float> y_sorted = make_view(ws.y_sorted(), S, H);
    gather(x, ws.plan, x_sorted, pool);
    matrix_view<float> so = make_view(ws.shared_out(), with_shared ? T : 0, H);
    auto input = [&](job const& j) {
      return j.bank == &experts_ ? make_view<float const>(x_sorted.row(0) + j.row0 * H, j.n, H) : x;
    };
    auto output = [&](job const& j) { return j.bank == &experts_ ? make_view(y_sorted.row(0) + j.row0 * H, j.n, H) : so; };
    auto scratch = [&](job const& j) { return make_view(ws.h() + j.row0 * cols, j.n, cols); };
    // Row ranges per job: enough pieces for ~4 per thread, none under 32 rows.
    index_t const threads = pool.size(), jobs_n = static_cast<index_t>(count);
    auto pieces = [&](index_t rows) {
      if (threads == 1) return index_t{1};
      return std::clamp<index_t>((4 * threads + jobs_n - 1) / jobs_n, 1, std::max<index_t>(1, rows / 32));
    };
    index_t const up_pieces = pieces(F), down_pieces = pieces(H);
    auto range = [](index_t rows, index_t parts, index_t p) {
      return std::pair{rows * p / parts, rows * (p + 1) / parts};
    };
    pool.parallel_for(0, jobs_n * up_pieces, 1, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        job const& j = jobs[static_cast<std::size_t>(i / up_pieces)];
        index_t const f = j.bank->intermediate();
        auto const [a, b] = range(f, up_pieces, i % up_pieces);
        j.bank->gate_up_part(j.e, input(j), scratch(j), a, b, pool);
      }
    });
    pool.parallel_for(0, jobs_n * down_pieces, 1, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        job const& j = jobs[static_cast<std::size_t>(i / down_pieces)];
        auto const [a, b] = range(H, down_pieces, i % down_pieces);
        auto const h = scratch(j);
        matrix_view<float const> const hidden_rows(h.data(), dextents<2>(j.n, j.bank->intermediate()), strides<2>{{cols, 1}});
        j.bank->down_part(j.e, hidden_rows, output(j), a, b, pool);
      }
    });
    combine(y_sorted, ws.plan, weights, y, pool);
    if (with_shared) add_shared(x, so, y);
  }

  // y += the shared expert's output, scaled by sigmoid(shared_gate . x) when there is a gate.
  void add_shared(matrix_view<float const> x, matrix_view<float const> so, matrix_view<float> y) const {
    index_t const T = x.extent(0), H = hidden();
    for (index_t t = 0; t < T; ++t) {
      float scale = 1.0f;
      if (shared_gate_.data()) {
        float dot = 0.0f;
        for (index_t i = 0; i < H; ++i) dot += shared_gate_.data()[i] * x(t, i);
        scale = 1.0f / (1.0f + std::exp(-dot));
      }
      for (index_t i = 0; i < H; ++i) y(t, i) += scale * so(t, i);
    }
  }

  static void record(load_stats* stats, route::dispatch_plan const& plan) {
    if (!stats) return;
    stats->tokens_per_expert.assign(plan.counts().begin(), plan.counts().end());
    stats->dropped = plan.dropped();
    double ent = 0;
    index_t const S = plan.kept();
    for (auto c : plan.counts())
      if (c > 0 && S > 0) {
        double const p = double(c) / double(S);
        ent -= p * std::log(p);
      }
    stats->load_entropy = ent;
  }

  static float row_norm(float const* row, index_t H) {
    double sq = 0;
    for (index_t i = 0; i < H; ++i) sq += double(row[i]) * row[i];
    return static_cast<float>(std::sqrt(sq));
  }

  // The routing of this call and each slot's output norm, to an attached probe (calibration).
  static void report_routing(matrix_view<std::int32_t> ids, matrix_view<float> weights, std::vector<float> const& slot_norms,
                             route::dispatch_plan const& plan) {
    index_t const T = ids.extent(0), K = ids.extent(1);
    std::vector<float> norms(static_cast<std::size_t>(T * K), 0.0f);
    for (index_t t = 0; t < T; ++t)
      for (index_t j = 0; j < K && j < plan.k(); ++j) {
        std::int32_t const s = plan.token_slot()[static_cast<std::size_t>(t * plan.k() + j)];
        if (s >= 0) norms[static_cast<std::size_t>(t * K + j)] = slot_norms[static_cast<std::size_t>(s)];
      }
    probe::active()->routed(probe::layer(), matrix_view<std::int32_t const>(ids), matrix_view<float const>(weights),
                            make_view<float const>(norms.data(), T, K));
  }

  linear<float> gate_;
  Experts experts_;
  std::optional<Experts> shared_;
  vector_view<float const> shared_gate_;
  index_t capacity_;
};

}  // namespace expert
SWITCHYARD_NAMESPACE_END
