// The device MoE layer on the layer shapes of Mixtral-8x7B, Qwen3-30B-A3B and a DeepSeek-V3-style
// block, T in {1, 16, 128, 2048, 8192}, against the limits this GPU reaches in the same run: a
// large device-to-device copy (bytes read + written per second) and a large cuBLAS bf16 GEMM
// (FLOP/s), and against its nominal peaks (HBM: 2 x memory clock x bus width; bf16 tensor cores:
// SMs x the top SM clock x 4096 FLOP per clock on sm_90, 2048 on sm_80). Decode is quoted as
// weight bytes read per second (the experts the plan activated, read back after the timed runs);
// prefill as FLOP/s. Medians over repetitions timed with CUDA events, spread = (max - min) /
// median. The path column is the path asked for -> the kernels that ran (kernels_for).
//
//   bench_moe_cuda                 every section
//   bench_moe_cuda --list          the section names, one a line
//   bench_moe_cuda NAME...         those sections only (bench/gpu/run.sh runs each in its own
//                                  process under a timeout, so one hang loses one section)
// Exit code 77 without a usable CUDA device.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#if SWITCHYARD_HAVE_CUBLAS
#include <cublas_v2.h>
#endif

#include "switchyard/kernels/expert/moe.cuh"
#include "switchyard/route/families.hpp"
#include "bench_cli.cuh"

namespace sy = switchyard;

namespace {

#if SWITCHYARD_HAVE_CUBLAS
#define CUBLAS_OK(expr)                                                     \
  do {                                                                      \
    if ((expr) != CUBLAS_STATUS_SUCCESS) {                                  \
      std::fprintf(stderr, "cuBLAS call failed: %s (%s:%d)\n", #expr, __FILE__, __LINE__); \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)
#endif

struct timing {
  double median, min, max;
  double spread() const { return (max - min) / median; }
};

template <class F>
timing time_gpu(int reps, F&& f) {
  cudaEvent_t a, b;
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&a));
  SWITCHYARD_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(a));
    f();
    SWITCHYARD_CUDA_CHECK(cudaEventRecord(b));
    SWITCHYARD_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    SWITCHYARD_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1e-3);
  }
  std::sort(t.begin(), t.end());
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(a));
  SWITCHYARD_CUDA_CHECK(cudaEventDestroy(b));
  return {t[t.size() / 2], t.front(), t.back()};
}

// Random values on the device: a hash of the index, uniform in [-scale, scale).
__global__ void fill_uniform(float* p, std::size_t n, float scale, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
    p[i] = scale * (static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f);
  }
}
__global__ void fill_bf16(std::uint16_t* p, std::size_t n, float scale, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
    p[i] = sy::format::bf16(scale * (static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f)).bits;
  }
}
// q4_0 blocks: random nibbles, scale d.
__global__ void fill_q4_0(sy::format::q4_0* p, std::size_t n, float d, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    p[i].d = sy::format::f16(d);
    for (int j = 0; j < 16; ++j) p[i].qs[j] = static_cast<std::uint8_t>((i * 131 + j * 17 + seed) & 0xFF);
  }
}

// 2:4 sparse bf16 blocks: random kept values in [-scale, scale), each group's two positions one
// of the six ascending pairs.
__global__ void fill_sparse24(sy::format::sparse24<sy::format::bf16>* p, std::size_t n, float scale, std::uint32_t seed) {
  constexpr std::uint32_t pairs[6] = {0x4, 0x8, 0xC, 0x9, 0xD, 0xE};  // lo | hi << 2
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t pos = 0;
    for (int k = 0; k < 16; ++k) {
      std::uint32_t h = static_cast<std::uint32_t>(i * 16 + k) * 2654435761u ^ seed;
      h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
      p[i].v[k] = sy::format::bf16(scale * (static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f));
      if (k % 2 == 0) pos |= pairs[(h >> 7) % 6] << (2 * k);
    }
    p[i].pos = pos;
  }
}

// e4m3 codes: random bytes, NaN's two encodings (0x7F, 0xFF) moved to their neighbours.
__global__ void fill_e4m3(std::uint8_t* p, std::size_t n, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    auto b = static_cast<std::uint8_t>(h >> 8);
    if ((b & 0x7F) == 0x7F) b ^= 1;
    p[i] = b;
  }
}

template <class T>
T* device_alloc(std::size_t n) {
  T* p = nullptr;
  SWITCHYARD_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
  return p;
}

template <class W>
void fill_weights(W* p, std::size_t blocks, float scale, std::uint32_t seed) {
  if constexpr (std::is_same_v<W, sy::format::bf16>) fill_bf16<<<1024, 256>>>(reinterpret_cast<std::uint16_t*>(p), blocks, scale, seed);
  else if constexpr (std::is_same_v<W, sy::format::e4m3>) fill_e4m3<<<1024, 256>>>(reinterpret_cast<std::uint8_t*>(p), blocks, seed);
  else if constexpr (sy::format::is_sparse24<W>) fill_sparse24<<<1024, 256>>>(p, blocks, scale, seed);
  else fill_q4_0<<<1024, 256>>>(p, blocks, scale / 8, seed);
  SWITCHYARD_CUDA_CHECK(cudaGetLastError());
}

struct limits {
  double copy_bytes_per_s;  // read + written
  double gemm_flops;        // cuBLAS bf16, f32 accumulation (0: built without cuBLAS)
  double hbm_bytes_per_s;   // nominal: 2 (double data rate) x memory clock x bus width
  double tensor_flops;      // nominal dense bf16 (0: no figure for this architecture)
};

// Dense bf16 tensor-core FLOP per SM per clock: 4096 on Hopper (H100 SXM: 132 SMs x 1.83 GHz x
// 4096 = 989 TFLOP/s, NVIDIA's figure), 2048 on A100; 0 (no figure) elsewhere.
double bf16_flops_per_sm_clock(int major, int minor) { return major == 9 ? 4096 : (major == 8 && minor == 0) ? 2048 : 0; }

limits measure_limits() {
  limits l{};
  std::size_t const bytes = std::size_t{2} << 30;
  char* a = device_alloc<char>(bytes);
  char* b = device_alloc<char>(bytes);
  SWITCHYARD_CUDA_CHECK(cudaMemset(a, 1, bytes));
  timing const tc = time_gpu(10, [&] { SWITCHYARD_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); });
  l.copy_bytes_per_s = 2.0 * double(bytes) / tc.median;
  SWITCHYARD_CUDA_CHECK(cudaFree(a));
  SWITCHYARD_CUDA_CHECK(cudaFree(b));

  int dev = 0, mem_khz = 0, bus_bits = 0, sm_khz = 0, sms = 0, major = 0, minor = 0;
  SWITCHYARD_CUDA_CHECK(cudaGetDevice(&dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  SWITCHYARD_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  l.hbm_bytes_per_s = 2.0 * mem_khz * 1e3 * bus_bits / 8.0;
  l.tensor_flops = double(sms) * sm_khz * 1e3 * bf16_flops_per_sm_clock(major, minor);

#if SWITCHYARD_HAVE_CUBLAS
  int const n = 8192;
  auto* x = device_alloc<std::uint16_t>(std::size_t(n) * n);
  auto* y = device_alloc<std::uint16_t>(std::size_t(n) * n);
  auto* z = device_alloc<float>(std::size_t(n) * n);
  fill_bf16<<<1024, 256>>>(x, std::size_t(n) * n, 1.0f, 1);
  fill_bf16<<<1024, 256>>>(y, std::size_t(n) * n, 1.0f, 2);
  cublasHandle_t h;
  CUBLAS_OK(cublasCreate(&h));
  float const one = 1.0f, zero = 0.0f;
  timing const tg = time_gpu(10, [&] {
    CUBLAS_OK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, x, CUDA_R_16BF, n, y, CUDA_R_16BF, n, &zero, z,
                           CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  l.gemm_flops = 2.0 * double(n) * n * n / tg.median;
  CUBLAS_OK(cublasDestroy(h));
  SWITCHYARD_CUDA_CHECK(cudaFree(x));
  SWITCHYARD_CUDA_CHECK(cudaFree(y));
  SWITCHYARD_CUDA_CHECK(cudaFree(z));
#endif
  std::printf("limits: device-to-device copy %.0f GB/s (read + write), cuBLAS bf16 GEMM 8192^3 %.0f TFLOP/s; "
              "nominal HBM %.0f GB/s, bf16 tensor cores %.0f TFLOP/s at %.0f MHz\n",
              l.copy_bytes_per_s * 1e-9, l.gemm_flops * 1e-12, l.hbm_bytes_per_s * 1e-9, l.tensor_flops * 1e-12,
              sm_khz * 1e-3);
  return l;
}

char const* path_name(sy::kernels::moe_path p) {
  constexpr char const* names[] = {"auto", "gemv", "mma", "mma_bf16", "wgmma"};
  return names[static_cast<int>(p)];
}

// path: automatic, or mma / mma_bf16 to compare the fp8 and widening GEMMs on e4m3 weights (which
// then carry 128 x 128 block scales, as DeepSeek-V3's do).
template <class Router, class W>
void bench_shape(char const* layer_name, sy::kernels::moe_shape shape, float scaling, limits const& lim,
                 std::vector<std::int64_t> const& tokens, sy::kernels::moe_path path = sy::kernels::moe_path::automatic) {
  using layer_t = sy::kernels::moe<Router, W>;
  constexpr int B = sy::format::traits<W>::block_elems;
  int const E = shape.experts, H = shape.hidden, F = shape.intermediate, Fs = shape.shared_intermediate;
  std::size_t const expert_blocks = std::size_t(3) * H * F / B;
  W* gate_up = device_alloc<W>(expert_blocks / 3 * 2 * E);
  W* down = device_alloc<W>(expert_blocks / 3 * E);
  fill_weights(gate_up, expert_blocks / 3 * 2 * E, 1.7f / std::sqrt(float(H)), 3);
  fill_weights(down, expert_blocks / 3 * E, 1.7f / std::sqrt(float(F)), 4);
  float* gate = device_alloc<float>(std::size_t(E) * H);
  fill_uniform<<<256, 256>>>(gate, std::size_t(E) * H, 3.0f / std::sqrt(float(H)), 5);
  float* bias = device_alloc<float>(E);
  fill_uniform<<<1, 256>>>(bias, E, 0.1f, 6);
  W *s_gate_up = nullptr, *s_down = nullptr;
  if (Fs > 0) {
    s_gate_up = device_alloc<W>(std::size_t(2) * Fs * H / B);
    s_down = device_alloc<W>(std::size_t(H) * Fs / B);
    fill_weights(s_gate_up, std::size_t(2) * Fs * H / B, 1.7f / std::sqrt(float(H)), 7);
    fill_weights(s_down, std::size_t(H) * Fs / B, 1.7f / std::sqrt(float(Fs)), 8);
  }
  sy::kernels::moe_weights<W> w;
  w.gate = gate;
  w.gate_up = gate_up;
  w.down = down;
  w.shared_gate_up = s_gate_up;
  w.shared_down = s_down;
  std::vector<float*> block_scales;
  if constexpr (std::is_same_v<W, sy::format::e4m3>) {
    auto const blocks = [](int n) { return std::size_t((n + 127) / 128); };
    auto make = [&](std::size_t n, float s) {
      float* p = device_alloc<float>(n);
      fill_uniform<<<64, 256>>>(p, n, s, 10 + static_cast<std::uint32_t>(block_scales.size()));
      block_scales.push_back(p);
      return p;
    };
    w.gate_up_block_scales = make(std::size_t(E) * 2 * blocks(F) * blocks(H), 1.7f / std::sqrt(float(H)) / 448.0f);
    w.down_block_scales = make(std::size_t(E) * blocks(H) * blocks(F), 1.7f / std::sqrt(float(F)) / 448.0f);
    if (Fs > 0) {
      w.shared_gate_up_block_scales = make(2 * blocks(Fs) * blocks(H), 1.7f / std::sqrt(float(H)) / 448.0f);
      w.shared_down_block_scales = make(blocks(H) * blocks(Fs), 1.7f / std::sqrt(float(Fs)) / 448.0f);
    }
  }
  layer_t layer(shape, w);
  sy::kernels::route::device_router_params params;
  params.scaling = scaling;
  if constexpr (Router::config.selection_bias) params.selection_bias = bias;

  std::int64_t const max_T = *std::max_element(tokens.begin(), tokens.end());
  std::size_t const ws_bytes = layer_t::workspace_bytes(shape, max_T);
  void* ws = device_alloc<char>(ws_bytes);
  float* x = device_alloc<float>(std::size_t(max_T) * H);
  float* y = device_alloc<float>(std::size_t(max_T) * H);
  fill_uniform<<<1024, 256>>>(x, std::size_t(max_T) * H, 1.0f, 9);
  double const bytes_per_expert = double(expert_blocks) * sizeof(W);

  for (std::int64_t T : tokens) {
    timing const t = time_gpu(T >= 2048 ? 10 : 30, [&] { layer(x, y, T, ws, ws_bytes, nullptr, params, path); });
    // The experts this call activated (the plan's counts, read back after the timed runs).
    auto const b = layer_t::buffers(shape, T, ws);
    std::vector<std::int32_t> counts(E);
    SWITCHYARD_CUDA_CHECK(cudaMemcpy(counts.data(), b.plan.counts, E * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
    int active = 0;
    std::int64_t kept = 0;
    for (int c : counts) active += c > 0, kept += c;
    double const bytes = active * bytes_per_expert + (Fs > 0 ? 3.0 * H * Fs / B * sizeof(W) : 0.0);
    double const flops = 2.0 * 3.0 * double(H) * (double(kept) * F + double(T) * Fs);
    auto const ran = layer.kernels_for(T, path);
    std::string const kinds = std::string(path_name(path)) + "->" + name(ran.routed) +
                              (Fs > 0 && ran.shared != ran.routed ? std::string("+") + name(ran.shared) : "");
    auto percent = [](double v, double of) { return of > 0 ? 100 * v / of : 0.0; };
    std::printf("| %-14s | %-8s | %5lld | %-14s | %9.3f | %5.1f%% | %10.0f | %7.0f | %5.1f%% | %5.1f%% | %7.1f | %5.1f%% | "
                "%5.1f%% |\n",
                layer_name, sy::format::traits<W>::name, static_cast<long long>(T), kinds.c_str(), t.median * 1e3,
                100 * t.spread(), double(T) / t.median, bytes / t.median * 1e-9,
                percent(bytes / t.median, lim.copy_bytes_per_s), percent(bytes / t.median, lim.hbm_bytes_per_s),
                flops / t.median * 1e-12, percent(flops / t.median, lim.gemm_flops),
                percent(flops / t.median, lim.tensor_flops));
  }
  for (void* p : {static_cast<void*>(gate_up), static_cast<void*>(down), static_cast<void*>(gate),
                  static_cast<void*>(bias), static_cast<void*>(s_gate_up), static_cast<void*>(s_down), ws,
                  static_cast<void*>(x), static_cast<void*>(y)})
    if (p) SWITCHYARD_CUDA_CHECK(cudaFree(p));
  for (float* p : block_scales) SWITCHYARD_CUDA_CHECK(cudaFree(p));
}

using sy::kernels::moe_path;
using ds_router = sy::route::deepseek_v3<6, 8, 4>;
std::vector<std::int64_t> const all_tokens{1, 16, 128, 2048, 8192};
sy::kernels::moe_shape const ds{64, 2048, 1024, 1024};

struct section {
  char const* name;
  void (*run)(limits const&);
};
section const sections[] = {
    {"bf16-mixtral", [](limits const& l) {
       bench_shape<sy::route::mixtral<2>, sy::format::bf16>("Mixtral-8x7B", {8, 4096, 14336}, 1.0f, l, all_tokens);
     }},
    {"bf16-qwen3", [](limits const& l) {
       bench_shape<sy::route::qwen_moe<8>, sy::format::bf16>("Qwen3-30B-A3B", {128, 2048, 768}, 1.0f, l, all_tokens);
     }},
    {"bf16-deepseek", [](limits const& l) {
       bench_shape<ds_router, sy::format::bf16>("DeepSeek-V3ish", ds, 2.5f, l, all_tokens);
     }},
    {"q4_0-mixtral", [](limits const& l) {
       bench_shape<sy::route::mixtral<2>, sy::format::q4_0>("Mixtral-8x7B", {8, 4096, 14336}, 1.0f, l, {1, 16, 128});
     }},
    // DeepSeek-V3's own format: e4m3 with 128 x 128 block scales; decode, then the fp8 GEMM
    // (sm_89+) against the same weights widened to bf16.
    {"e4m3-deepseek-decode", [](limits const& l) {
       bench_shape<ds_router, sy::format::e4m3>("DeepSeek-V3ish", ds, 2.5f, l, {1, 16});
     }},
    {"e4m3-deepseek-fp8", [](limits const& l) {
       bench_shape<ds_router, sy::format::e4m3>("DeepSeek-V3ish", ds, 2.5f, l, {128, 2048, 8192}, moe_path::mma);
     }},
    {"e4m3-deepseek-bf16", [](limits const& l) {
       bench_shape<ds_router, sy::format::e4m3>("DeepSeek-V3ish", ds, 2.5f, l, {128, 2048, 8192}, moe_path::mma_bf16);
     }},
    // 2:4 sparse bf16 weights (pruned Mixtral): decode and prefill on mma.sp, then the same weights
    // widened to bf16 on the dense mma.sync GEMM. TFLOP/s count the dense-equivalent products.
    {"sparse24-mixtral", [](limits const& l) {
       bench_shape<sy::route::mixtral<2>, sy::format::sparse24_bf16>("Mixtral-8x7B", {8, 4096, 14336}, 1.0f, l,
                                                                    {1, 16, 128, 2048});
     }},
    {"sparse24-mixtral-bf16", [](limits const& l) {
       bench_shape<sy::route::mixtral<2>, sy::format::sparse24_bf16>("Mixtral-8x7B", {8, 4096, 14336}, 1.0f, l,
                                                                    {128, 2048}, moe_path::mma_bf16);
     }},
    // The TMA + wgmma GEMM (sm_90a, bf16; opt-in until validated) on the same prefill shapes; last, as the likeliest to hang.
    {"wgmma-mixtral", [](limits const& l) {
       bench_shape<sy::route::mixtral<2>, sy::format::bf16>("Mixtral-8x7B", {8, 4096, 14336}, 1.0f, l,
                                                            {128, 2048, 8192}, moe_path::wgmma);
     }},
    {"wgmma-qwen3", [](limits const& l) {
       bench_shape<sy::route::qwen_moe<8>, sy::format::bf16>("Qwen3-30B-A3B", {128, 2048, 768}, 1.0f, l, {2048, 8192},
                                                             moe_path::wgmma);
     }},
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<char const*> names;
  for (auto const& s : sections) names.push_back(s.name);
  auto const chosen = switchyard_bench::choose_sections(argc, argv, names, "bench_moe_cuda");
  if (chosen.exit_code) return *chosen.exit_code;
  if (!switchyard_bench::open_device("bench_moe_cuda")) return 77;
  limits const lim = measure_limits();
  std::printf("\n| layer          | weights  | T     | path           | ms        | spread | tokens/s   | GB/s    | %%copy  "
              "| %%HBM   | TFLOP/s | %%cuBLAS | %%peak  |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t k : chosen.indices) {
    sections[k].run(lim);
    std::fflush(stdout);
  }
  return 0;
}
