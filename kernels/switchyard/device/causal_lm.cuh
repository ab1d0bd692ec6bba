#pragma once
// A whole decoder-only model on a CUDA device: model::language_model's contract (new_sequence /
// release / truncate / forward, prefill, decode and mixed batches in one call, positions from each
// sequence's length), so generate's scheduler drives it as it drives the host model, plus
// sampling on the device (sample(), and generate::sampling_model's forward_sample).
//
//   auto lm = switchyard::device::load("model_dir_or.gguf", {.cache = device::cache_format::bf16});
//   auto seq = lm->new_sequence();
//   lm->forward({{&seq, prompt}}, logits);       // logits: a host [1, vocab] view
//
// What runs where. The host validates a call, allocates cache blocks (one block table per
// sequence, shared by every layer's pool: the layers' pools are indexed alike), and writes the
// call's token ids, positions, sequence-of-token, lengths, block tables and output rows into one
// pinned buffer; one async copy takes it to the device. Then, all on one stream: the embedding;
// per layer RMSNorm, q/k/v (+ biases), q/k RMSNorm, RoPE, the cache append, attention, o_proj
// accumulated into the residual, RMSNorm, the FFN (the MoE layer, or gate_up -> SwiGLU -> down
// accumulated); the final norm on the rows asked for, the LM head, and a copy of the logits into
// the caller's view (the one wait of a call).
//
// Attention per step: single-token continuations (decode) are batched into one paged_decode call
// (their rows come first in the device's row order); a fresh prompt whose head_dim the prefill
// kernel takes (64, 128) runs flash_attention over its own k / v with the layer's mask and sinks;
// any other chunk (a continuing chunk, or a fresh prompt of another head_dim) runs paged_decode
// over the cache with n = its token count. MLA appends the latent rows, then runs mla_decode: all
// decode steps in one call, every other step with n = its token count -- prefill too (correct,
// not fast: the absorbed form is decode's; an expanded MLA prefill kernel is not built).
//
// CUDA graphs: a call whose steps are all single-token continuations, at most max_decode_batch of
// them, runs a graph captured (lazily, once) for its batch bucket (1, 2, 4, ..., max_decode_batch)
// over fixed device buffers; padding rows have position -1 (not appended, no history, no keys:
// their logits are never copied). The graph's block tables have the fixed stride of the longest
// sequence, and every decode batch -- in a graph or not -- runs paged_decode with a split count
// fixed by its batch size and the longest sequence (not by the call's lengths), so a replay equals
// the eager call of the same batch size bit for bit and one capture serves every length.
// One workspace arena is allocated at load for the largest call; nothing is allocated per call.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/device/layers.cuh"
#include "switchyard/device/memory.cuh"
#include "switchyard/device/model_kernels.cuh"
#include "switchyard/device/options.hpp"
#include "switchyard/device/weights.cuh"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/generate/sampling_model.hpp"
#include "switchyard/kernels/attention/cache_write.cuh"
#if !defined(SWITCHYARD_DEVICE_FLASH_PREFILL) || SWITCHYARD_DEVICE_FLASH_PREFILL
#include "switchyard/kernels/attention/flash_attention.cuh"
#endif
#include "switchyard/kernels/attention/mla_decode.cuh"
#include "switchyard/kernels/attention/paged_decode.cuh"
#include "switchyard/kernels/common/workspace.cuh"
#include "switchyard/kernels/linear/elementwise.cuh"
#include "switchyard/kernels/norm/rms_norm.cuh"
#include "switchyard/kernels/norm/rope.cuh"
#include "switchyard/kernels/sample/sample.cuh"
#include "switchyard/model/language_model.hpp"
#include "switchyard/model/roles.hpp"
#include "switchyard/model/weight_source.hpp"

// Fresh prompts of head_dim 64 / 128 through flash_attention (1, the default); 0 leaves the prefill
// kernels out of the unit (every prefill then takes paged_decode, as other head dims do): a unit
// whose models never take them (the tests' tiny models, head_dim 16) compiles in much less time.
#ifndef SWITCHYARD_DEVICE_FLASH_PREFILL
#define SWITCHYARD_DEVICE_FLASH_PREFILL 1
#endif

// The KV cache formats compiled in (each one instantiates the append, decode and MLA kernels);
// a program may narrow the list before including this file (the tests do).
#ifndef SWITCHYARD_DEVICE_CACHE_FORMATS
#define SWITCHYARD_DEVICE_CACHE_FORMATS(X) \
  X(f32, float) X(bf16, format::bf16) X(f16, format::f16) X(int8, std::int8_t) X(e4m3, format::e4m3)
#endif

SWITCHYARD_NAMESPACE_BEGIN
namespace device {

namespace detail {
#define SWITCHYARD_DETAIL_DEVICE_KV(n, E) +type_list<tagged<cache_format::n, E>>{}
using cache_formats = decltype(type_list<>{} SWITCHYARD_DEVICE_CACHE_FORMATS(SWITCHYARD_DETAIL_DEVICE_KV));
#undef SWITCHYARD_DETAIL_DEVICE_KV

inline int bucket_for(int B, int max_batch) {
  int b = 1;
  while (b < B) b *= 2;
  return std::min(b, max_batch);
}
}  // namespace detail

class causal_lm final : public model::language_model, public generate::sampling_model {
 public:
  // Builds the model from a weight source (device/load.cuh opens the file and calls this).
  causal_lm(model::model_config const& c, model::weight_source const& src, load_options const& o)
      : cfg_(c), opts_(o), up_(o.exact_formats, o.weights == weight_storage::bf16) {
    char const* where = "device::load";
    require(o.block_size > 0 && o.block_size % 16 == 0 && o.block_size <= 1024 && o.blocks > 0 &&
                o.blocks < (index_t{1} << 31),
            where, "cache block_size must be a multiple of 16 up to 1024 and blocks positive; got ", o.block_size, ", ",
            o.blocks);
    require(o.max_tokens > 0 && o.max_decode_batch > 0 && o.max_sequences > 0, where,
            "max_tokens, max_decode_batch and max_sequences must be positive");
    require(c.vocab > 0 && c.hidden > 0 && c.layers > 0, where, "the config has no vocabulary, width or layers");
    bool found = false;
    for_each_type(detail::cache_formats{}, [&]<class E>() { found = found || E::tag == o.cache; });
    require<unsupported_config>(found, where, "KV cache format ", name(o.cache),
                                " is not compiled in (SWITCHYARD_DEVICE_CACHE_FORMATS)");
    SWITCHYARD_CUDA_CHECK(cudaGetDevice(&device_));
    SWITCHYARD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      build(src);
      allocate();
    } catch (...) {
      destroy();
      throw;
    }
    graphs_on_ = o.graphs;
  }
  causal_lm(causal_lm const&) = delete;
  causal_lm& operator=(causal_lm const&) = delete;
  ~causal_lm() override { destroy(); }

  // ---- model::language_model ----
  model::model_config const& config() const noexcept override { return cfg_; }
  index_t free_blocks() const noexcept override { return static_cast<index_t>(free_.size()); }
  index_t cache_block_size() const noexcept override { return opts_.block_size; }
  void keep(std::shared_ptr<void> owner) override { owned_.push_back(std::move(owner)); }

  model::sequence new_sequence() const override {
    model::sequence s;
    s.layers_.resize(1);
    s.owner_ = this;
    return s;
  }
  void release(model::sequence& s) override {
    check_sequence(s);
    auto& kv = s.layers_[0];
    for (auto b : kv.block_table) free_.push_back(b);
    kv.block_table.clear();
    kv.length = 0;
    free_slot(s);
  }
  void truncate(model::sequence& s, index_t length) override {
    check_sequence(s);
    auto& kv = s.layers_[0];
    require(length >= 0 && length <= kv.length, "device::causal_lm::truncate", "keeps ", length,
            " tokens of a sequence of ", kv.length);
    index_t const keep = (length + opts_.block_size - 1) / opts_.block_size;
    while (static_cast<index_t>(kv.block_table.size()) > keep) {
      free_.push_back(kv.block_table.back());
      kv.block_table.pop_back();
    }
    kv.length = length;
  }

  void forward(std::span<model::step const> steps, matrix_view<float> logits,
               model::which_logits which = model::which_logits::last, thread_pool& = thread_pool::shared()) override {
    char const* where = "device::causal_lm::forward";
    if (steps.empty()) {  // nothing to run, as on the host
      require(logits.extent(0) == 0, where, "no steps but logits has ", logits.extent(0), " rows");
      return;
    }
    SWITCHYARD_CUDA_CHECK(cudaSetDevice(device_));
    plan const p = prepare(steps, which, where, false, [&](index_t out_rows) {
      require(logits.extent(0) == out_rows && logits.extent(1) == cfg_.vocab && logits.stride(1) == 1, where,
              "logits must be a [", out_rows, ", ", cfg_.vocab, "] view with contiguous rows, got [", logits.extent(0),
              ", ", logits.extent(1), "]");
    });
    enqueue(p);
    for (int c0 = 0; c0 < p.out_rows; c0 += out_rows_max_) {
      int const n = std::min(out_rows_max_, p.out_rows - c0);
      if (!p.graph) lm_head(p, c0, n);
      SWITCHYARD_CUDA_CHECK(cudaMemcpy2DAsync(logits.row(c0), static_cast<std::size_t>(logits.stride(0)) * sizeof(float),
                                              buf_.logits, static_cast<std::size_t>(cfg_.vocab) * sizeof(float),
                                              static_cast<std::size_t>(cfg_.vocab) * sizeof(float), static_cast<std::size_t>(n),
                                              cudaMemcpyDeviceToHost, stream_));
    }
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // ---- sampling on the device ----
  // forward() and the host sampler's rule for each step (its last row: last_rows must be 1), the
  // sequence's random state kept on the device (seeded from params[i].seed when the sequence is
  // first sampled, or first after a release), its history (every token it holds, appended on
  // the device as forward() appends them) read there; only the ids come back.
  void sample(std::span<model::step const> steps, std::span<generate::sampling_params const> params,
              std::span<std::int32_t> out) {
    char const* where = "device::causal_lm::sample";
    require(params.size() == steps.size() && out.size() == steps.size(), where, "params (", params.size(), ") and out (",
            out.size(), ") need one entry per step (", steps.size(), ")");
    if (steps.empty()) return;
    SWITCHYARD_CUDA_CHECK(cudaSetDevice(device_));
    std::vector<kernels::sample::device_sampling_params> dp;
    plan const p = prepare(steps, model::which_logits::last, where, /*sampling*/ true, [&](index_t) {
      std::size_t fresh = 0;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        dp.push_back(convert(params[i]));  // checked before anything changes
        fresh += steps[i].seq->device_slot_ < 0;
      }
      require<allocation_error>(fresh <= free_slots_.size(), where, "sampling needs ", fresh,
                                " new random states but only ", free_slots_.size(), " of max_sequences (",
                                opts_.max_sequences, ") are free: release sequences");
    });
    int const R = p.out_rows;
    // Random states: a slot per sequence, seeded at its first draw.
    for (int r = 0; r < R; ++r) {
      model::sequence& s = *steps[static_cast<std::size_t>(r)].seq;
      if (s.device_slot_ < 0) {
        s.device_slot_ = free_slots_.back();
        free_slots_.pop_back();
        std::uint64_t const seed = params[static_cast<std::size_t>(r)].seed;
        kernels::sample::seed_states(&seed, 1, rng_pool_.as<std::uint64_t>() + 4 * s.device_slot_, stream_);
      }
    }
    auto sp = sample_stage(R);
    for (int r = 0; r < R; ++r) {
      auto const& sq = *steps[static_cast<std::size_t>(r)].seq;
      sp.params[r] = dp[static_cast<std::size_t>(r)];
      sp.slots[r] = sq.device_slot_;
      sp.step_of_row[r] = p.step_of_caller[static_cast<std::size_t>(r)];
      sp.offsets[r + 1] = sp.offsets[r] + static_cast<std::int32_t>(sq.layers_[0].length);
    }
    enqueue(p);
    lm_head_if_eager(p);
    copy_sample_stage(R);
    // History from the device pool (the tokens are in the same blocks as their KV entries).
    gather_history_kernel<<<static_cast<unsigned>(R), glue_threads, 0, stream_>>>(
        buf_.history_pool, buf_.tables, p.stride, buf_.lengths, buf_.s_step_of_row, buf_.s_offsets,
        static_cast<int>(opts_.block_size), buf_.s_history);
    check_glue_launch();
    int const words = 4;
    copy_records_kernel<<<static_cast<unsigned>((R * words + glue_threads - 1) / glue_threads), glue_threads, 0, stream_>>>(
        rng_pool_.as<std::uint64_t>(), buf_.s_slots, buf_.s_states, nullptr, R, words);
    check_glue_launch();
    run_sampler(R);
    copy_records_kernel<<<static_cast<unsigned>((R * words + glue_threads - 1) / glue_threads), glue_threads, 0, stream_>>>(
        buf_.s_states, nullptr, rng_pool_.as<std::uint64_t>(), buf_.s_slots, R, words);
    check_glue_launch();
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(host_tokens_, buf_.s_tokens, static_cast<std::size_t>(R) * sizeof(std::int32_t),
                                          cudaMemcpyDeviceToHost, stream_));
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::copy_n(host_tokens_, R, out.begin());
  }

  // generate::sampling_model: the request's own random stream (uploaded, advanced on the device
  // exactly as the host sampler advances it, and given back) and its history as the caller gives it.
  void forward_sample(std::span<model::step const> steps, std::span<generate::sample_request const> requests,
                      std::span<std::int32_t> out) override {
    char const* where = "device::causal_lm::forward_sample";
    require(requests.size() == steps.size() && out.size() == steps.size(), where, "requests (", requests.size(),
            ") and out (", out.size(), ") need one entry per step (", steps.size(), ")");
    if (steps.empty()) return;
    SWITCHYARD_CUDA_CHECK(cudaSetDevice(device_));
    std::vector<kernels::sample::device_sampling_params> dp;
    plan const p = prepare(steps, model::which_logits::last, where, /*sampling*/ true, [&](index_t) {
      std::size_t total = 0;
      for (std::size_t r = 0; r < requests.size(); ++r) {
        auto const& q = requests[r];
        require(!q.sample || (q.params != nullptr && q.stream != nullptr), where, "request ", r,
                " asks for a token without params or a random stream");
        dp.push_back(q.sample ? convert(*q.params) : kernels::sample::device_sampling_params{});  // greedy: no draw
        total += q.sample ? q.history.size() : 0;
      }
      require<unsupported_config>(total <= static_cast<std::size_t>(history_capacity_), where, "the requests' histories (",
                                  total, " tokens) exceed the device's history buffer (", history_capacity_, ")");
    });
    int const R = p.out_rows;
    auto sp = sample_stage(R);
    std::int32_t* hist = sp.history;
    for (int r = 0; r < R; ++r) {
      auto const& q = requests[static_cast<std::size_t>(r)];
      sp.params[r] = dp[static_cast<std::size_t>(r)];
      std::size_t const n = q.sample ? q.history.size() : 0;
      std::copy_n(q.history.data(), n, hist + sp.offsets[r]);
      sp.offsets[r + 1] = sp.offsets[r] + static_cast<std::int32_t>(n);
      auto const st = q.sample ? q.stream->state() : std::array<std::uint64_t, 4>{1, 2, 3, 4};
      std::copy(st.begin(), st.end(), sp.states + 4 * r);
    }
    enqueue(p);
    lm_head_if_eager(p);
    copy_sample_stage(R, /*with history and states*/ true);
    run_sampler(R);
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(host_tokens_, buf_.s_tokens, static_cast<std::size_t>(R) * sizeof(std::int32_t),
                                          cudaMemcpyDeviceToHost, stream_));
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(host_states_, buf_.s_states, static_cast<std::size_t>(R) * 4 * sizeof(std::uint64_t),
                                          cudaMemcpyDeviceToHost, stream_));
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int r = 0; r < R; ++r) {
      auto const& q = requests[static_cast<std::size_t>(r)];
      if (!q.sample) continue;
      out[static_cast<std::size_t>(r)] = host_tokens_[r];
      std::array<std::uint64_t, 4> st;
      std::copy_n(host_states_ + 4 * r, 4, st.begin());
      q.stream->set_state(st);
    }
  }

  // ---- device-specific ----
  void set_graphs(bool on) noexcept { graphs_on_ = on; }
  bool graphs() const noexcept { return graphs_on_; }
  std::size_t captured_graphs() const noexcept { return graphs_.size(); }
  cache_format kv_format() const noexcept { return opts_.cache; }
  load_options const& options() const noexcept { return opts_; }
  std::size_t weight_bytes() const noexcept { return up_.bytes(); }
  std::size_t workspace_bytes() const noexcept { return arena_.size(); }
  // The device format each layer's expert banks ended up in (dformat::f32 for dense layers).
  dformat expert_format(index_t layer) const {
    auto const& l = layers_.at(static_cast<std::size_t>(layer));
    return l.moe ? l.moe->bank_format() : dformat::f32;
  }
  // The stream every call runs on (a caller timing the model records events on it).
  cudaStream_t stream() const noexcept { return stream_; }

 private:
  // ---- a call, as the host sees it ----
  struct plan {
    int N = 0;                  // rows (padded to the bucket for a graph)
    int steps = 0;              // device steps (padded for a graph)
    int B = 0;                  // decode steps, the first B device steps and rows
    int stride = 1;             // block table stride
    int max_decode_len = 0;     // the longest decode step's length (after the call)
    int out_rows = 0;           // rows the caller gets
    bool graph = false;
    bool identity_out = false;  // output row i is device row i
    std::vector<int> row0, ntok, len_after;  // per device step
    std::vector<bool> fresh;
    std::vector<int> step_of_caller;  // caller step -> device step
  };

  void check_sequence(model::sequence const& s) const {
    require(s.owner_ == this && s.layers_.size() == 1, "device::causal_lm",
            "the sequence was not made by this model's new_sequence()");
  }
  void free_slot(model::sequence& s) {
    if (s.device_slot_ >= 0) free_slots_.push_back(s.device_slot_);
    s.device_slot_ = -1;
  }

  // Validates the call (then check(out_rows), the caller's own checks), allocates its blocks, fills
  // the pinned staging buffer and starts its copy, updates the lengths. Nothing changes unless every
  // check passed.
  template <class Check>
  plan prepare(std::span<model::step const> steps, model::which_logits which, char const* where, bool sampling,
               Check&& check) {
    require(!steps.empty(), where, "no steps");
    // The pinned staging buffers are rewritten below: nothing of an earlier call (one that threw
    // half way) may still be reading them.
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    index_t const V = cfg_.vocab, bs = opts_.block_size;
    index_t N = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto const& st = steps[i];
      require(st.seq != nullptr, where, "a step has no sequence");
      for (std::size_t j = 0; j < i; ++j) require(steps[j].seq != st.seq, where, "steps ", j, " and ", i, " name the same sequence");
      check_sequence(*st.seq);
      require(!st.tokens.empty(), where, "a step has no tokens");
      require(st.last_rows >= 1 && st.last_rows <= static_cast<index_t>(st.tokens.size()), where, "step ", i,
              " asks for the logits of its last ", st.last_rows, " tokens but has ", st.tokens.size());
      require(!sampling || st.last_rows == 1, where, "sampling takes one row per step (last_rows 1), step ", i, " asks for ",
              st.last_rows);
      for (std::size_t k = 0; k < st.tokens.size(); ++k)
        require(st.tokens[k] >= 0 && st.tokens[k] < V, where, "token ", st.tokens[k], " at position ", k, " of step ", i,
                " is outside the vocabulary [0, ", V, ")");
      N += static_cast<index_t>(st.tokens.size());
    }
    require<unsupported_config>(N <= opts_.max_tokens, where, "the call has ", N, " tokens but the model was loaded for ",
                                opts_.max_tokens, " per call (load_options::max_tokens)");
    // A chunk that attends through paged_decode / mla_decode (not a decode step, not a flash
    // prefill) puts tokens x (q heads per KV head) rows in groups of decode_rows on the grid's z
    // dimension (at most 65535): refuse a longer chunk here, before anything changes, rather than
    // in the kernel half way through the layers (lengths and blocks already taken).
    {
      bool const mla = layers_[0].mla;
      std::int64_t const G = mla ? cfg_.heads : cfg_.heads / cfg_.kv_heads;
      bool const flash_ok = !mla && SWITCHYARD_DEVICE_FLASH_PREFILL && (cfg_.head_dim == 64 || cfg_.head_dim == 128);
      std::int64_t decodes = 0;
      for (auto const& st : steps) {
        decodes += is_decode(st);
        if (is_decode(st) || (flash_ok && st.seq->layers_[0].length == 0)) continue;
        std::int64_t const groups = (static_cast<std::int64_t>(st.tokens.size()) * G + kernels::attention::decode_rows - 1) /
                                    kernels::attention::decode_rows;
        require<unsupported_config>(groups <= 65535, where, "a chunk of ", st.tokens.size(),
                                    " tokens attends through the cache in ", groups,
                                    " row groups, more than the decode kernel's grid takes (65535): send shorter chunks");
      }
      // The decode batch (padded to its graph bucket) x KV heads is the grid's y dimension.
      std::int64_t const batch = graphs_on_ && decodes == static_cast<std::int64_t>(steps.size()) &&
                                         decodes <= opts_.max_decode_batch
                                     ? detail::bucket_for(static_cast<int>(decodes), opts_.max_decode_batch)
                                     : decodes;
      require<unsupported_config>(batch * (mla ? 1 : cfg_.kv_heads) <= 65535, where, "a decode batch of ", batch,
                                  " sequences x ", mla ? 1 : cfg_.kv_heads,
                                  " KV heads exceeds the decode kernel's grid (65535): send fewer decode steps per call");
    }
    index_t last_total = 0;
    for (auto const& st : steps) last_total += st.last_rows;
    index_t const out_rows = which == model::which_logits::all ? N : last_total;
    require<unsupported_config>(!sampling || out_rows <= out_rows_max_, where, "sampling ", out_rows,
                                " rows at once; the model takes up to ", out_rows_max_);
    // Blocks: all or nothing, before anything changes.
    index_t need = 0;
    for (auto const& st : steps) {
      auto const& kv = st.seq->layers_[0];
      index_t const after = kv.length + static_cast<index_t>(st.tokens.size());
      require<allocation_error>(after <= max_seq_len_, where, "a sequence of ", after, " tokens exceeds the longest the model holds (",
                                max_seq_len_, ", load_options::max_sequence_length)");
      need += (after + bs - 1) / bs - static_cast<index_t>(kv.block_table.size());
    }
    require<allocation_error>(need <= free_blocks(), where, "the KV cache has ", free_blocks(), " free blocks but ", need,
                              " are needed");
    check(out_rows);

    plan p;
    // Device order: decode steps (one token continuing a sequence) first, in caller order.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (is_decode(steps[i])) order.push_back(i);
    p.B = static_cast<int>(order.size());
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (!is_decode(steps[i])) order.push_back(i);
    bool const all_decode = p.B == static_cast<int>(steps.size());
    p.graph = graphs_on_ && all_decode && p.B <= opts_.max_decode_batch;
    int const rows_used = p.graph ? detail::bucket_for(p.B, opts_.max_decode_batch) : static_cast<int>(N);
    p.N = rows_used;
    p.steps = p.graph ? rows_used : static_cast<int>(steps.size());
    p.step_of_caller.assign(steps.size(), 0);
    for (std::size_t d = 0; d < order.size(); ++d) p.step_of_caller[order[d]] = static_cast<int>(d);
    // Allocate, then stage.
    int max_blocks = 1;
    for (std::size_t d = 0; d < order.size(); ++d) {
      auto& kv = steps[order[d]].seq->layers_[0];
      index_t const after = kv.length + static_cast<index_t>(steps[order[d]].tokens.size());
      while (static_cast<index_t>(kv.block_table.size()) < (after + bs - 1) / bs) {
        kv.block_table.push_back(free_.back());
        free_.pop_back();
      }
      max_blocks = std::max(max_blocks, static_cast<int>(kv.block_table.size()));
    }
    p.stride = p.graph ? stride_max_ : max_blocks;
    stage s = carve_stage(host_stage_.get());
    int row = 0;
    for (std::size_t d = 0; d < order.size(); ++d) {
      auto const& st = steps[order[d]];
      auto& kv = st.seq->layers_[0];
      int const n = static_cast<int>(st.tokens.size()), before = static_cast<int>(kv.length);
      p.row0.push_back(row);
      p.ntok.push_back(n);
      p.len_after.push_back(before + n);
      p.fresh.push_back(before == 0);
      if (static_cast<int>(d) < p.B) p.max_decode_len = std::max(p.max_decode_len, before + n);
      for (int i = 0; i < n; ++i, ++row) {
        s.tokens[row] = st.tokens[static_cast<std::size_t>(i)];
        s.pos32[row] = before + i;
        s.pos64[row] = before + i;
        s.seq_of[row] = static_cast<int>(d);
      }
      s.lengths[d] = before + n;
      int* table = s.tables + static_cast<std::size_t>(d) * p.stride;
      std::fill_n(table, p.stride, 0);
      std::copy(kv.block_table.begin(), kv.block_table.end(), table);
    }
    for (int d = static_cast<int>(order.size()); d < p.steps; ++d, ++row) {  // graph padding
      s.tokens[row] = 0;
      s.pos32[row] = -1;
      s.pos64[row] = -1;
      s.seq_of[row] = d;
      s.lengths[d] = 0;
      std::fill_n(s.tables + static_cast<std::size_t>(d) * p.stride, p.stride, 0);
    }
    if (p.graph) p.B = rows_used;  // padding rows are decode rows with no keys
    // Output rows in caller order.
    p.out_rows = static_cast<int>(out_rows);
    int o = 0;
    p.identity_out = true;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      int const d = p.step_of_caller[i];
      int const n = p.ntok[static_cast<std::size_t>(d)], r0 = p.row0[static_cast<std::size_t>(d)];
      int const last = which == model::which_logits::all ? n : static_cast<int>(steps[i].last_rows);
      for (int k = n - last; k < n; ++k, ++o) {
        s.out_rows[o] = r0 + k;
        p.identity_out = p.identity_out && r0 + k == o;
      }
    }
    std::size_t const bytes = stage_bytes_before_tables_ + static_cast<std::size_t>(p.steps) * p.stride * sizeof(int);
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(stage_dev_.get(), host_stage_.get(), bytes, cudaMemcpyHostToDevice, stream_));
    // The lengths as the host model has them after the call.
    for (std::size_t i = 0; i < steps.size(); ++i) steps[i].seq->layers_[0].length += static_cast<index_t>(steps[i].tokens.size());
    return p;
  }
  static bool is_decode(model::step const& st) { return st.tokens.size() == 1 && st.seq->layers_[0].length > 0; }

  // ---- the staging layout (pinned and device alike) ----
  struct stage {
    std::int32_t* tokens;
    int* pos32;
    std::int64_t* pos64;
    int* seq_of;
    int* lengths;
    std::int32_t* out_rows;
    int* tables;  // last: only the used prefix is copied
  };
  stage carve_stage(void* base) const {
    kernels::workspace_carver w(base);
    auto const n = static_cast<std::size_t>(rows_max_);
    stage s{};
    s.tokens = w.take<std::int32_t>(n);
    s.pos32 = w.take<int>(n);
    s.pos64 = w.take<std::int64_t>(n);
    s.seq_of = w.take<int>(n);
    s.lengths = w.take<int>(n);
    s.out_rows = w.take<std::int32_t>(n);
    s.tables = w.take<int>(n * static_cast<std::size_t>(stride_max_));
    return s;
  }
  // Sampling's inputs: a second, small staging area.
  struct sample_host {
    kernels::sample::device_sampling_params* params;
    std::int32_t* offsets;
    std::int32_t* step_of_row;
    std::int32_t* slots;
    std::uint64_t* states;
    std::int32_t* history;
  };
  sample_host carve_sample(void* base) const {
    kernels::workspace_carver w(base);
    auto const R = static_cast<std::size_t>(out_rows_max_);
    sample_host s{};
    s.params = w.take<kernels::sample::device_sampling_params>(R);
    s.offsets = w.take<std::int32_t>(R + 1);
    s.step_of_row = w.take<std::int32_t>(R);
    s.slots = w.take<std::int32_t>(R);
    s.states = w.take<std::uint64_t>(4 * R);
    s.history = w.take<std::int32_t>(static_cast<std::size_t>(history_capacity_));
    return s;
  }
  sample_host sample_stage(int) {
    sample_host s = carve_sample(host_sample_.get());
    s.offsets[0] = 0;
    return s;
  }
  void copy_sample_stage(int R, bool everything = false) {
    sample_host const h = carve_sample(host_sample_.get());
    // params .. slots are contiguous at the start; states and history only when the host gave them.
    std::size_t const head = static_cast<std::size_t>(reinterpret_cast<char*>(h.states) - reinterpret_cast<char*>(h.params));
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(sample_dev_.get(), host_sample_.get(), head, cudaMemcpyHostToDevice, stream_));
    if (everything) {
      std::size_t const tail = static_cast<std::size_t>(reinterpret_cast<char*>(h.history) - reinterpret_cast<char*>(h.params)) +
                               static_cast<std::size_t>(h.offsets[R]) * sizeof(std::int32_t);
      SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(sample_dev_.get()) + head,
                                            static_cast<char*>(host_sample_.get()) + head, tail - head,
                                            cudaMemcpyHostToDevice, stream_));
    }
  }
  static kernels::sample::device_sampling_params convert(generate::sampling_params const& g) {
    kernels::sample::device_sampling_params d{.temperature = g.temperature, .top_p = g.top_p, .min_p = g.min_p,
                                              .repetition_penalty = g.repetition_penalty, .top_k = g.top_k};
    kernels::sample::check_params(d);
    return d;
  }
  void run_sampler(int R) {
    kernels::sample::sample(buf_.logits, R, static_cast<int>(cfg_.vocab), buf_.s_params, buf_.s_history, buf_.s_offsets,
                            buf_.s_states, buf_.s_tokens, buf_.sample_ws, sample_ws_bytes_, stream_);
  }

  // ---- the device work of a call ----
  void enqueue(plan const& p) {
    if (!p.graph) {
      body(p);
      return;
    }
    auto it = graphs_.find(p.N);
    if (it == graphs_.end()) it = graphs_.emplace(p.N, capture(p)).first;
    SWITCHYARD_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  }
  void lm_head_if_eager(plan const& p) {
    if (!p.graph) lm_head(p, 0, p.out_rows);
  }

  // One decode bucket captured: the body and the LM head of its rows (the inputs come from the
  // fixed staging buffer, copied before each launch).
  cudaGraphExec_t capture(plan const& p) {
    SWITCHYARD_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t g = nullptr;
    try {
      body(p);
      lm_head(p, 0, p.N);
    } catch (...) {
      (void)cudaStreamEndCapture(stream_, &g);
      if (g) (void)cudaGraphDestroy(g);
      throw;
    }
    SWITCHYARD_CUDA_CHECK(cudaStreamEndCapture(stream_, &g));
    cudaGraphExec_t exec = nullptr;
    cudaError_t const st = cudaGraphInstantiate(&exec, g, 0);
    (void)cudaGraphDestroy(g);
    SWITCHYARD_CUDA_CHECK(st);
    return exec;
  }

  void body(plan const& p) {
    int const H = static_cast<int>(cfg_.hidden), N = p.N;
    embed(embed_, buf_.tokens, N, buf_.x, stream_);
    write_history_kernel<<<static_cast<unsigned>((N + glue_threads - 1) / glue_threads), glue_threads, 0, stream_>>>(
        buf_.history_pool, buf_.tables, p.stride, buf_.seq_of, buf_.pos32, buf_.tokens, N, static_cast<int>(opts_.block_size));
    check_glue_launch();
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      auto const& L = layers_[l];
      kernels::norm::rms_norm(buf_.x, L.attn_norm, buf_.h, N, H, cfg_.rms_eps, stream_);
      with_cache(opts_.cache, [&]<class E>() {
        if (L.mla) mla_attention<E>(p, l);
        else gqa_attention<E>(p, l);
      });
      kernels::norm::rms_norm(buf_.x, L.ffn_norm, buf_.h, N, H, cfg_.rms_eps, stream_);
      if (L.moe) {
        L.moe->run(buf_.h, buf_.a, N, buf_.moe_ws, moe_ws_bytes_, stream_);
        kernels::linear::add_inplace(buf_.x, buf_.a, static_cast<std::int64_t>(N) * H, stream_);
      } else {
        int const F = L.intermediate;
        mm(L.gate_up, buf_.h, H, N, nullptr, buf_.gu, 2 * F, false);
        kernels::linear::silu_glu(buf_.gu, N, F, buf_.hb, stream_);
        mm(L.down, buf_.hb, F, N, nullptr, buf_.x, H, true);
      }
    }
  }

  // Final norm and LM head for output rows [c0, c0 + n) into buf_.logits.
  void lm_head(plan const& p, int c0, int n) {
    int const H = static_cast<int>(cfg_.hidden);
    float const* src = buf_.x + static_cast<std::size_t>(c0) * H;
    if (!p.identity_out) {
      gather_rows_kernel<<<static_cast<unsigned>(n), glue_threads, 0, stream_>>>(buf_.x, buf_.out_rows + c0, H, buf_.fin);
      check_glue_launch();
      src = buf_.fin;
    }
    kernels::norm::rms_norm(src, final_norm_, buf_.fin, n, H, cfg_.rms_eps, stream_);
    mm(head_, buf_.fin, H, n, nullptr, buf_.logits, static_cast<int>(cfg_.vocab), false);
  }

  // f.template operator()<E>() for the cache's element type.
  template <class F>
  static void with_cache(cache_format k, F&& f) {
    dispatch_type(detail::cache_formats{}, k, {"device::causal_lm", "KV cache format", "cache instance"},
                  [&]<class E>() { f.template operator()<E>(); });
  }
  template <class E>
  kernels::attention::device_kv_cache_out<E> cache_out(std::size_t l) const {
    auto const& c = layers_[l].cache;
    return kernels::attention::make_device_cache_out<E>(
        c, static_cast<E*>(kv_data_[l].get()),
        switchyard::attention::kv_format<E>::scaled ? static_cast<float*>(kv_scales_[l].get()) : nullptr);
  }

  // The fixed split count of a decode batch of B sequences (from the longest sequence the model
  // holds, not the call's), so graph replays and eager calls of one batch size agree bit for bit.
  // (Every layer has the same cache shape: all GQA or all MLA.) Computed once at load.
  int decode_splits_for(std::size_t, int B) const { return fixed_splits_[static_cast<std::size_t>(B)]; }
  void compute_fixed_splits() {
    auto const& c = layers_[0].cache;
    fixed_splits_.assign(static_cast<std::size_t>(rows_max_) + 1, 1);
    for (int B = 1; B <= rows_max_; ++B) {
      kernels::attention::decode_shape const s{.sequences = B, .queries = 1, .q_heads = static_cast<int>(cfg_.heads),
                                               .max_length = static_cast<int>(max_seq_len_), .table_stride = stride_max_};
      fixed_splits_[static_cast<std::size_t>(B)] =
          kernels::attention::decode_splits(s, static_cast<int>(c.kv_heads), static_cast<int>(c.block_size));
    }
  }

  template <class E>
  void gqa_attention(plan const& p, std::size_t l) {
    auto const& L = layers_[l];
    auto const& w = L.gqa;
    int const H = static_cast<int>(cfg_.hidden), Hq = static_cast<int>(cfg_.heads), Hkv = static_cast<int>(cfg_.kv_heads),
              D = static_cast<int>(cfg_.head_dim), N = p.N, qw = Hq * D, kw = Hkv * D;
    mm(w.q, buf_.h, H, N, w.q_bias, buf_.q, qw, false);
    mm(w.k, buf_.h, H, N, w.k_bias, buf_.k, kw, false);
    mm(w.v, buf_.h, H, N, w.v_bias, buf_.v, kw, false);
    if (w.q_norm) kernels::norm::rms_norm(buf_.q, w.q_norm, buf_.q, std::int64_t{N} * qw / w.q_norm_n, w.q_norm_n, cfg_.rms_eps, stream_);
    if (w.k_norm) kernels::norm::rms_norm(buf_.k, w.k_norm, buf_.k, std::int64_t{N} * kw / w.k_norm_n, w.k_norm_n, cfg_.rms_eps, stream_);
    kernels::norm::rope(buf_.q, N, Hq, w.rope, 0, buf_.pos64, stream_);
    kernels::norm::rope(buf_.k, N, Hkv, w.rope, 0, buf_.pos64, stream_);
    auto const out = cache_out<E>(l);
    kernels::attention::append_kv(out, buf_.tables, p.stride, buf_.seq_of, buf_.pos32, buf_.k, kw, buf_.v, kw, N, stream_);
    auto const in = kernels::attention::as_input(out);
    if (p.B > 0) {
      kernels::attention::decode_shape const s{.sequences = p.B, .queries = 1, .q_heads = Hq,
                                               .max_length = p.graph ? static_cast<int>(max_seq_len_) : p.max_decode_len,
                                               .table_stride = p.stride, .splits = decode_splits_for(l, p.B)};
      kernels::attention::paged_decode(in, buf_.tables, buf_.lengths, buf_.q, buf_.att, s, w.mask, w.scale, w.sinks,
                                       buf_.attn_ws, attn_ws_bytes_, stream_);
    }
    bool const flash_ok = SWITCHYARD_DEVICE_FLASH_PREFILL && (D == 64 || D == 128);
    for (int d = p.B; d < static_cast<int>(p.row0.size()); ++d) {
      int const r0 = p.row0[static_cast<std::size_t>(d)], T = p.ntok[static_cast<std::size_t>(d)];
      float const* q = buf_.q + static_cast<std::size_t>(r0) * qw;
      float* att = buf_.att + static_cast<std::size_t>(r0) * qw;
      if (p.fresh[static_cast<std::size_t>(d)] && flash_ok) {
#if SWITCHYARD_DEVICE_FLASH_PREFILL
        kernels::attention::flash_shape const fs{.tokens = T, .keys = T, .q_heads = Hq, .kv_heads = Hkv, .head_dim = D};
        kernels::attention::flash_attention(q, buf_.k + static_cast<std::size_t>(r0) * kw, buf_.v + static_cast<std::size_t>(r0) * kw,
                                            att, fs, w.mask, w.scale, w.sinks, nullptr, 0, stream_);
#endif
      } else {
        kernels::attention::decode_shape const s{.sequences = 1, .queries = T, .q_heads = Hq,
                                                 .max_length = p.len_after[static_cast<std::size_t>(d)],
                                                 .table_stride = p.stride};
        kernels::attention::paged_decode(in, buf_.tables + static_cast<std::size_t>(d) * p.stride, buf_.lengths + d, q, att, s,
                                         w.mask, w.scale, w.sinks, buf_.attn_ws, attn_ws_bytes_, stream_);
      }
    }
    mm(w.o, buf_.att, qw, N, w.o_bias, buf_.x, H, true);
  }

  template <class E>
  void mla_attention(plan const& p, std::size_t l) {
    auto const& w = layers_[l].latent;
    int const H = static_cast<int>(cfg_.hidden), heads = static_cast<int>(cfg_.heads), R = static_cast<int>(cfg_.kv_lora_rank),
              rd = static_cast<int>(cfg_.qk_rope_dim), nope = static_cast<int>(cfg_.qk_nope_dim),
              vd = static_cast<int>(cfg_.v_head_dim), qd = nope + rd, N = p.N, qr = static_cast<int>(cfg_.q_lora_rank);
    if (qr > 0) {
      mm(w.q_a, buf_.h, H, N, nullptr, buf_.qa, qr, false);
      kernels::norm::rms_norm(buf_.qa, w.q_a_norm, buf_.qa, N, qr, cfg_.rms_eps, stream_);
      mm(w.q_b, buf_.qa, qr, N, nullptr, buf_.q, heads * qd, false);
    } else {
      mm(w.q, buf_.h, H, N, nullptr, buf_.q, heads * qd, false);
    }
    // The latent row [c, k_pe]: c normalized on its own (contiguous, then copied into place).
    float* lat = buf_.k;
    float* c = buf_.v;
    mm(w.kv_a_latent, buf_.h, H, N, nullptr, c, R, false);
    mm(w.kv_a_rope, buf_.h, H, N, nullptr, lat + R, R + rd, false);
    kernels::norm::rms_norm(c, w.kv_a_norm, c, N, R, cfg_.rms_eps, stream_);
    SWITCHYARD_CUDA_CHECK(cudaMemcpy2DAsync(lat, static_cast<std::size_t>(R + rd) * sizeof(float), c,
                                            static_cast<std::size_t>(R) * sizeof(float), static_cast<std::size_t>(R) * sizeof(float),
                                            static_cast<std::size_t>(N), cudaMemcpyDeviceToDevice, stream_));
    kernels::norm::rope(buf_.q + nope, N, heads, w.rope_q, 0, buf_.pos64, stream_);
    kernels::norm::rope(lat + R, N, 1, w.rope_k, 0, buf_.pos64, stream_);
    auto const out = cache_out<E>(l);
    kernels::attention::append_kv(out, buf_.tables, p.stride, buf_.seq_of, buf_.pos32, lat, R + rd, nullptr, 0, N, stream_);
    auto const in = kernels::attention::as_input(out);
    kernels::attention::mla_decode_shape s{.sequences = p.B, .queries = 1, .heads = heads, .rank = R, .rope_dim = rd,
                                           .nope_dim = nope, .v_head_dim = vd};
    if (p.B > 0) {
      s.max_length = p.graph ? static_cast<int>(max_seq_len_) : p.max_decode_len;
      s.table_stride = p.stride;
      s.splits = decode_splits_for(l, p.B);
      kernels::attention::mla_decode(in, buf_.tables, buf_.lengths, buf_.q, w.kv_b, buf_.att, s, w.scale, buf_.attn_ws,
                                     attn_ws_bytes_, stream_);
    }
    for (int d = p.B; d < static_cast<int>(p.row0.size()); ++d) {
      int const r0 = p.row0[static_cast<std::size_t>(d)];
      s.sequences = 1;
      s.queries = p.ntok[static_cast<std::size_t>(d)];
      s.max_length = p.len_after[static_cast<std::size_t>(d)];
      s.table_stride = p.stride;
      s.splits = 0;
      kernels::attention::mla_decode(in, buf_.tables + static_cast<std::size_t>(d) * p.stride, buf_.lengths + d,
                                     buf_.q + static_cast<std::size_t>(r0) * heads * qd, w.kv_b,
                                     buf_.att + static_cast<std::size_t>(r0) * heads * vd, s, w.scale, buf_.attn_ws,
                                     attn_ws_bytes_, stream_);
    }
    mm(w.o, buf_.att, heads * vd, N, nullptr, buf_.x, H, true);
  }

  // A projection on the configured path (load_options::paths).
  void mm(any_matrix const& w, float const* x, int ldx, int T, float const* bias, float* y, int ldy, bool accumulate) {
    using kernels::linear::linear_path;
    linear_path const path = opts_.paths == arithmetic::f32            ? linear_path::gemv
                             : opts_.paths == arithmetic::tensor_cores ? linear_path::mma
                                                                       : linear_path::automatic;
    gemm(w, x, ldx, T, bias, y, ldy, accumulate, stream_, path);
  }
  static kernels::moe_path moe_path_for(arithmetic a) {
    return a == arithmetic::f32 ? kernels::moe_path::gemv
           : a == arithmetic::tensor_cores ? kernels::moe_path::mma : kernels::moe_path::automatic;
  }

  // ---- load ----
  void build(model::weight_source const& src) {
    using model::role;
    index_t const H = cfg_.hidden;
    embed_ = up_.matrix(src.need(role::embed, 0, "token embedding"), cfg_.vocab, H);
    final_norm_ = up_.vector(src.need(role::final_norm, 0, "final norm"), H);
    if (auto h = src.find(role::lm_head, 0)) head_ = up_.matrix(*h, cfg_.vocab, H);
    else {
      require<format_error>(cfg_.tie_embeddings, "device::load", src.origin(),
                            ": no LM head tensor and the config does not tie it to the embedding");
      head_ = embed_;
    }
    for (index_t l = 0; l < cfg_.layers; ++l) {
      layers_.push_back(build_layer(cfg_, src, up_, l, moe_path_for(opts_.paths)));
      layers_.back().cache.block_size = opts_.block_size;
      layers_.back().cache.blocks = opts_.blocks;
    }
  }

  // The caches, the arena, the staging buffers: sized once for the largest call.
  void allocate() {
    index_t const bs = opts_.block_size, cap = opts_.blocks * bs;
    max_seq_len_ = opts_.max_sequence_length > 0 ? std::min(opts_.max_sequence_length, cap) : cap;
    stride_max_ = static_cast<int>((max_seq_len_ + bs - 1) / bs);
    rows_max_ = std::max(opts_.max_tokens, opts_.max_decode_batch);
    out_rows_max_ = std::max(opts_.max_decode_batch, std::min(rows_max_, 256));
    history_capacity_ = static_cast<int>(std::min<index_t>(cap, index_t{1} << 30));
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      with_cache(opts_.cache, [&]<class E>() {
        kernels::attention::kv_layout const k = kernels::attention::layout_of<E>(layers_[l].cache);
        kv_data_.emplace_back(static_cast<std::size_t>(k.data_elems) * sizeof(E));
        kv_scales_.emplace_back(static_cast<std::size_t>(k.scale_elems) * sizeof(float));
        SWITCHYARD_CUDA_CHECK(cudaMemset(kv_data_.back().get(), 0, kv_data_.back().size()));
        if (kv_scales_.back().size() > 0) SWITCHYARD_CUDA_CHECK(cudaMemset(kv_scales_.back().get(), 0, kv_scales_.back().size()));
      });
    }
    free_.clear();
    for (index_t b = opts_.blocks; b-- > 0;) free_.push_back(static_cast<std::int32_t>(b));  // pops 0, 1, 2, ...
    for (int s = opts_.max_sequences; s-- > 0;) free_slots_.push_back(s);
    rng_pool_ = device_bytes(static_cast<std::size_t>(opts_.max_sequences) * 4 * sizeof(std::uint64_t));

    // Workspaces of the layers' blocks, for the largest call.
    for (auto const& L : layers_)
      if (L.moe) moe_ws_bytes_ = std::max(moe_ws_bytes_, L.moe->workspace_bytes(rows_max_));
    compute_fixed_splits();
    attn_ws_bytes_ = attention_workspace();
    sample_ws_bytes_ = kernels::sample::sample_workspace_bytes(out_rows_max_, static_cast<int>(cfg_.vocab));

    index_t const Hq = cfg_.heads, D = cfg_.head_dim, R = cfg_.kv_lora_rank, rd = cfg_.qk_rope_dim,
                  qd = cfg_.qk_nope_dim + rd, vd = cfg_.v_head_dim;
    bool const mla = !layers_.empty() && layers_[0].mla;
    auto const n = static_cast<std::size_t>(rows_max_);
    auto const H = static_cast<std::size_t>(cfg_.hidden);
    std::size_t const qw = static_cast<std::size_t>(mla ? Hq * qd : Hq * D);
    std::size_t const kw = static_cast<std::size_t>(mla ? R + rd : cfg_.kv_heads * D);
    std::size_t const vw = static_cast<std::size_t>(mla ? R : cfg_.kv_heads * D);
    std::size_t const aw = static_cast<std::size_t>(mla ? Hq * vd : Hq * D);
    std::size_t F = 0;
    for (auto const& L : layers_) F = std::max(F, static_cast<std::size_t>(L.intermediate));
    auto carve = [&](kernels::workspace_carver& w) {
      buf_.x = w.take<float>(n * H);
      buf_.h = w.take<float>(n * H);
      buf_.a = w.take<float>(n * H);
      buf_.q = w.take<float>(n * qw);
      buf_.k = w.take<float>(n * kw);
      buf_.v = w.take<float>(n * vw);
      buf_.qa = w.take<float>(n * static_cast<std::size_t>(std::max<index_t>(cfg_.q_lora_rank, 1)));
      buf_.att = w.take<float>(n * aw);
      buf_.gu = w.take<float>(n * 2 * std::max<std::size_t>(F, 1));
      buf_.hb = w.take<float>(n * std::max<std::size_t>(F, 1));
      buf_.moe_ws = w.take<char>(std::max<std::size_t>(moe_ws_bytes_, 1));
      buf_.attn_ws = w.take<char>(std::max<std::size_t>(attn_ws_bytes_, 1));
      buf_.fin = w.take<float>(static_cast<std::size_t>(out_rows_max_) * H);
      buf_.logits = w.take<float>(static_cast<std::size_t>(out_rows_max_) * static_cast<std::size_t>(cfg_.vocab));
      buf_.sample_ws = w.take<char>(sample_ws_bytes_);
      buf_.s_tokens = w.take<std::int32_t>(static_cast<std::size_t>(out_rows_max_));
      buf_.history_pool = w.take<std::int32_t>(static_cast<std::size_t>(cap));
    };
    kernels::workspace_carver sizing;
    carve(sizing);
    arena_ = device_bytes(sizing.bytes());
    kernels::workspace_carver real(arena_.get());
    carve(real);

    // Staging: the call's inputs (pinned and device, one layout) and sampling's.
    {
      kernels::workspace_carver w;
      auto const r = static_cast<std::size_t>(rows_max_);
      w.take<std::int32_t>(r), w.take<int>(r), w.take<std::int64_t>(r), w.take<int>(r), w.take<int>(r), w.take<std::int32_t>(r);
      stage_bytes_before_tables_ = w.bytes();
      w.take<int>(r * static_cast<std::size_t>(stride_max_));
      host_stage_ = pinned_bytes(w.bytes());
      stage_dev_ = device_bytes(w.bytes());
    }
    stage const d = carve_stage(stage_dev_.get());
    buf_.tokens = d.tokens;
    buf_.pos32 = d.pos32;
    buf_.pos64 = d.pos64;
    buf_.seq_of = d.seq_of;
    buf_.lengths = d.lengths;
    buf_.out_rows = d.out_rows;
    buf_.tables = d.tables;
    {
      kernels::workspace_carver w;
      carve_sample_into(w);
      host_sample_ = pinned_bytes(w.bytes());
      sample_dev_ = device_bytes(w.bytes());
    }
    sample_host const sd = carve_sample(sample_dev_.get());
    buf_.s_params = sd.params;
    buf_.s_offsets = sd.offsets;
    buf_.s_step_of_row = sd.step_of_row;
    buf_.s_slots = sd.slots;
    buf_.s_states = sd.states;
    buf_.s_history = sd.history;
    host_out_ = pinned_bytes(static_cast<std::size_t>(out_rows_max_) * (sizeof(std::int32_t) + 4 * sizeof(std::uint64_t)) + 256);
    host_states_ = static_cast<std::uint64_t*>(host_out_.get());
    host_tokens_ = reinterpret_cast<std::int32_t*>(host_states_ + 4 * out_rows_max_);
  }
  void carve_sample_into(kernels::workspace_carver& w) const {
    auto const R = static_cast<std::size_t>(out_rows_max_);
    w.take<kernels::sample::device_sampling_params>(R);
    w.take<std::int32_t>(R + 1);
    w.take<std::int32_t>(R);
    w.take<std::int32_t>(R);
    w.take<std::uint64_t>(4 * R);
    w.take<std::int32_t>(static_cast<std::size_t>(history_capacity_));
  }

  // The largest attention workspace any call needs: decode batches of 1 .. rows_max_ sequences at
  // their fixed split counts, and single steps of 1 .. max_tokens queries at the split count the
  // longest sequence would pick (a call's shorter lengths pick at most as many).
  std::size_t attention_workspace() const {
    std::size_t most = 0;
    for (std::size_t l = 0; l < 1; ++l) {  // every layer's cache has layer 0's shape
      with_cache(opts_.cache, [&]<class E>() {
        auto const c = kernels::attention::make_device_cache<E>(layers_[l].cache, nullptr, nullptr);
        auto bytes = [&](int B, int n, int splits) -> std::size_t {
          if (layers_[l].mla) {
            kernels::attention::mla_decode_shape const s{.sequences = B, .queries = n, .heads = static_cast<int>(cfg_.heads),
                                                         .rank = static_cast<int>(cfg_.kv_lora_rank),
                                                         .rope_dim = static_cast<int>(cfg_.qk_rope_dim),
                                                         .nope_dim = static_cast<int>(cfg_.qk_nope_dim),
                                                         .v_head_dim = static_cast<int>(cfg_.v_head_dim),
                                                         .max_length = static_cast<int>(max_seq_len_),
                                                         .table_stride = stride_max_, .splits = splits};
            return kernels::attention::mla_decode_workspace_bytes(s, c);
          }
          kernels::attention::decode_shape const s{.sequences = B, .queries = n, .q_heads = static_cast<int>(cfg_.heads),
                                                   .max_length = static_cast<int>(max_seq_len_),
                                                   .table_stride = stride_max_, .splits = splits};
          return kernels::attention::decode_workspace_bytes(s, c);
        };
        for (int B = 1; B <= rows_max_; ++B) most = std::max(most, bytes(B, 1, decode_splits_for(l, B)));
        for (int n = 2; n <= opts_.max_tokens; ++n) most = std::max(most, bytes(1, n, 0));
      });
    }
    return most;
  }

  void destroy() noexcept {
    for (auto& [b, exec] : graphs_) (void)cudaGraphExecDestroy(exec);
    graphs_.clear();
    if (stream_) (void)cudaStreamDestroy(stream_);
    stream_ = nullptr;
  }

  struct buffers {
    float *x, *h, *a, *q, *k, *v, *qa, *att, *gu, *hb, *fin, *logits;
    void *moe_ws, *attn_ws, *sample_ws;
    std::int32_t* tokens;
    int *pos32, *seq_of, *lengths, *tables;
    std::int64_t* pos64;
    std::int32_t* out_rows;
    std::int32_t* history_pool;
    kernels::sample::device_sampling_params* s_params;
    std::int32_t *s_offsets, *s_step_of_row, *s_slots, *s_history, *s_tokens;
    std::uint64_t* s_states;
  };

  model::model_config cfg_;
  load_options opts_;
  weight_uploader up_;
  any_matrix embed_, head_;
  float const* final_norm_ = nullptr;
  std::vector<layer_weights> layers_;
  std::vector<device_bytes> kv_data_, kv_scales_;
  std::vector<std::int32_t> free_;
  std::vector<int> free_slots_;
  std::vector<int> fixed_splits_;  // [B]: a decode batch's split count
  index_t max_seq_len_ = 0;
  int stride_max_ = 1, rows_max_ = 1, out_rows_max_ = 1, history_capacity_ = 1;
  std::size_t moe_ws_bytes_ = 0, attn_ws_bytes_ = 0, sample_ws_bytes_ = 0, stage_bytes_before_tables_ = 0;
  device_bytes arena_, stage_dev_, sample_dev_, rng_pool_;
  pinned_bytes host_stage_, host_sample_, host_out_;
  std::uint64_t* host_states_ = nullptr;
  std::int32_t* host_tokens_ = nullptr;
  buffers buf_{};
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::map<int, cudaGraphExec_t> graphs_;
  bool graphs_on_ = true;
  std::vector<std::shared_ptr<void>> owned_;
};

}  // namespace device
SWITCHYARD_NAMESPACE_END
