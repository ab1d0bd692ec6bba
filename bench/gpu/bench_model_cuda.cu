// Whole models on the device (device::causal_lm): a Mixtral-like and a DeepSeek-V3-like model sized
// for an 80 GB card (bench/gpu/models/*.json, random bf16 weights from bench/gpu/synthetic_source.hpp),
// prefill of a 512-token prompt and decode at batch 1, 8 and 64 after 512-token prompts, each step
// the way generate's scheduler runs one (device::causal_lm::sample, greedy, token ids back; CUDA
// graphs for decode, captured in the warm-up). Batch-1 decode is also quoted as the weight and
// cache bytes a step reads per second, against the device-to-device copy measured in the same run
// (%copy: bytes read + written per second) and the nominal HBM bandwidth (%HBM: 2 x memory clock x
// bus width). bench/gpu/peer_transformers.py runs the same configs in PyTorch + transformers.
//
// Times are wall-clock around each call (what a caller waits for, host work included), medians
// over repetitions, spread = (max - min) / median.
//
//   bench_model_cuda                every model
//   bench_model_cuda --list         the model names, one a line
//   bench_model_cuda NAME...        those only (bench/gpu/run.sh runs each in its own process)
// Exit code 77 without a usable CUDA device.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

// What these two models need of the device model's instance lists (bf16 banks, top-2 and top-8
// routers, a bf16 cache): a unit a third the size of the full one (examples/device_model_cuda.cu).
#define SWITCHYARD_DEVICE_TOP_K 2, 8
#define SWITCHYARD_DEVICE_EXPERT_FORMATS(X) X(bf16, format::bf16)
#define SWITCHYARD_DEVICE_CACHE_FORMATS(X) X(bf16, format::bf16)
#include "switchyard/device/causal_lm.cuh"
#include "switchyard/model/hf_config.hpp"
#include "bench_cli.cuh"
#include "synthetic_source.hpp"

namespace sy = switchyard;

namespace {

char const* const models[] = {"mixtral_like", "deepseek_like"};
constexpr int prompt_tokens = 512;
constexpr int batches[] = {1, 8, 64};
constexpr int decode_reps = 12;

struct timing {
  double median, min, max;
  double spread() const { return (max - min) / median; }
};

template <class F>
timing time_calls(int warmup, int reps, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto const t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

struct limits {
  double copy_bytes_per_s;  // read + written
  double hbm_bytes_per_s;   // nominal
};

limits measure_limits() {
  std::size_t const bytes = std::size_t{2} << 30;
  char *a = nullptr, *b = nullptr;
  SWITCHYARD_CUDA_CHECK(cudaMalloc(&a, bytes));
  SWITCHYARD_CUDA_CHECK(cudaMalloc(&b, bytes));
  SWITCHYARD_CUDA_CHECK(cudaMemset(a, 1, bytes));
  cudaEvent_t e0, e1;
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&e0));
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<double> t;
  for (int r = 0; r < 10; ++r) {
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(e0));
    SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(e1));
    SWITCHYARD_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    SWITCHYARD_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms * 1e-3);
  }
  std::sort(t.begin(), t.end());
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(e0));
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(e1));
  SWITCHYARD_CUDA_CHECK(cudaFree(a));
  SWITCHYARD_CUDA_CHECK(cudaFree(b));
  int dev = 0, mem_khz = 0, bus_bits = 0;
  SWITCHYARD_CUDA_CHECK(cudaGetDevice(&dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  limits const l{2.0 * double(bytes) / t[t.size() / 2], 2.0 * mem_khz * 1e3 * bus_bits / 8.0};
  std::printf("limits: device-to-device copy %.0f GB/s (read + write), nominal HBM %.0f GB/s\n", l.copy_bytes_per_s * 1e-9,
              l.hbm_bytes_per_s * 1e-9);
  return l;
}

// Bytes one batch-1 decode step reads: every matrix but the experts the router did not choose (k
// of E per MoE layer, plus the shared expert), one embedding row, and the cache of `context`
// tokens (bf16). Weights are bf16 (the synthetic source's); norms and biases are noise here.
double decode_bytes(sy::model::model_config const& c, double weight_bytes, int context) {
  double const expert = 3.0 * double(c.moe_intermediate) * double(c.hidden) * 2.0;
  double unused = 0, cache = 0;
  bool const mla = c.kv_lora_rank > 0;
  for (sy::index_t l = 0; l < c.layers; ++l) {
    if (c.is_moe_layer(l)) unused += double(c.experts - c.experts_per_token) * expert;
    cache += mla ? double(c.kv_lora_rank + c.qk_rope_dim) * 2.0 : 2.0 * double(c.kv_heads * c.head_dim) * 2.0;
  }
  double const embed = double(c.vocab) * double(c.hidden) * 2.0;
  return weight_bytes - unused - embed + double(c.hidden) * 2.0 + cache * context;
}

void row(char const* model, char const* phase, int batch, timing const& t, double tokens, char const* extra) {
  std::printf("| %s | %s | %d | switchyard device bf16 | %.2f | %.2f | %.1f | %s |\n", model, phase, batch, t.median * 1e3,
              t.spread(), tokens / t.median, extra);
  std::fflush(stdout);
}

void run(char const* name, limits const& lim) {
  std::string const path = std::string(SWITCHYARD_SOURCE_DIR) + "/bench/gpu/models/" + name + ".json";
  sy::model::model_config const c = sy::model::read_hf_config(path);
  auto const t0 = std::chrono::steady_clock::now();
  switchyard_bench::synthetic_source const src(c);
  int const max_batch = batches[std::size(batches) - 1];
  sy::index_t const per_seq = (prompt_tokens + 64 + 15) / 16;
  sy::device::causal_lm lm(c, src,
                           {.cache = sy::device::cache_format::bf16, .block_size = 16, .blocks = per_seq * max_batch + 8,
                            .max_sequence_length = per_seq * 16, .max_tokens = 4 * prompt_tokens, .max_decode_batch = max_batch,
                            .max_sequences = 2 * max_batch});
  double const load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("model %s: %ld layers, hidden %ld, %ld experts (top %ld); %.2f GB of weights on the device, %.2f GB "
              "workspace; built and uploaded in %.1f s\n",
              name, long(c.layers), long(c.hidden), long(c.experts), long(c.experts_per_token), double(lm.weight_bytes()) * 1e-9,
              double(lm.workspace_bytes()) * 1e-9, load_s);

  std::vector<std::int32_t> prompt(prompt_tokens);
  for (int i = 0; i < prompt_tokens; ++i) prompt[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7919 + 13) % c.vocab);
  sy::generate::sampling_params const greedy{};

  // Prefill: a fresh sequence each time.
  {
    std::int32_t out = 0;
    timing const t = time_calls(1, 3, [&] {
      auto seq = lm.new_sequence();
      sy::model::step const st{&seq, prompt};
      lm.sample(std::span(&st, 1), std::span(&greedy, 1), std::span(&out, 1));
      lm.release(seq);
    });
    row(name, "prefill 512", 1, t, prompt_tokens, "-");
  }

  for (int B : batches) {
    std::vector<sy::model::sequence> seqs;
    for (int b = 0; b < B; ++b) seqs.push_back(lm.new_sequence());
    std::vector<std::int32_t> next(static_cast<std::size_t>(B));
    std::vector<sy::generate::sampling_params> params(static_cast<std::size_t>(B), greedy);
    // The prompts, four sequences a call (max_tokens).
    for (int b0 = 0; b0 < B; b0 += 4) {
      std::vector<sy::model::step> steps;
      for (int b = b0; b < std::min(B, b0 + 4); ++b) steps.push_back({&seqs[static_cast<std::size_t>(b)], prompt});
      lm.sample(steps, std::span(params).first(steps.size()), std::span(next).subspan(static_cast<std::size_t>(b0), steps.size()));
    }
    std::vector<sy::model::step> steps(static_cast<std::size_t>(B));
    timing const t = time_calls(3, decode_reps, [&] {
      for (int b = 0; b < B; ++b)
        steps[static_cast<std::size_t>(b)] = {&seqs[static_cast<std::size_t>(b)], std::span(&next[static_cast<std::size_t>(b)], 1)};
      lm.sample(steps, params, next);
    });
    char extra[160] = "-";
    if (B == 1) {
      int const context = prompt_tokens + 3 + decode_reps / 2;
      double const bytes = decode_bytes(c, double(lm.weight_bytes()), context);
      std::snprintf(extra, sizeof extra, "%.1f GB/step, %.0f GB/s, %.0f%% copy, %.0f%% HBM", bytes * 1e-9, bytes / t.median * 1e-9,
                    100.0 * bytes / t.median / lim.copy_bytes_per_s, 100.0 * bytes / t.median / lim.hbm_bytes_per_s);
    }
    row(name, "decode (context 512)", B, t, B, extra);
    for (auto& s : seqs) lm.release(s);
  }
  std::printf("graphs captured: %zu\n", lm.captured_graphs());
}

}  // namespace

int main(int argc, char** argv) try {
  auto const chosen =
      switchyard_bench::choose_sections(argc, argv, std::vector<char const*>(std::begin(models), std::end(models)), "bench_model_cuda");
  if (chosen.exit_code) return *chosen.exit_code;
  if (!switchyard_bench::open_device("bench_model_cuda")) return 77;
  limits const lim = measure_limits();
  std::printf("\n| model | phase | batch | engine | median ms | spread | tokens/s | batch-1 bytes |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (std::size_t k : chosen.indices) run(models[k], lim);
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "bench_model_cuda: %s\n", e.what());
  return 1;
}
