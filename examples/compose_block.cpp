// The main job until the end-to-end model lands: compose a small pre-norm projection block,
//   h = rms_norm(x) * gamma;  y = x + W h        (W in bf16, as checkpoints ship it)
// from switchyard's pieces, run it on seeded random data, and print what it computed together
// with an independent double-precision recomputation of the same block, so the output says
// whether the numbers are right.
#include <cmath>
#include <cstdio>
#include <random>

#include <switchyard/switchyard.hpp>

int main(int argc, char** argv) {
  namespace sy = switchyard;
  sy::index_t const tokens = argc > 1 ? std::atol(argv[1]) : 4, hidden = 512;
  if (tokens < 1 || tokens > 4096) {
    std::fprintf(stderr, "usage: compose_block [tokens in 1..4096]\n");
    return 2;
  }
  std::mt19937 g(42);
  std::normal_distribution<float> d(0.0f, 1.0f);
  sy::buffer<float> x(tokens * hidden), h(tokens * hidden), y(tokens * hidden), gamma(hidden);
  sy::buffer<sy::format::bf16> w(hidden * hidden);
  for (auto& v : x) v = d(g);
  for (auto& v : gamma) v = 1.0f + 0.1f * d(g);
  for (auto& v : w) v = sy::format::bf16(d(g) / std::sqrt(float(hidden)));

  sy::thread_pool& pool = sy::thread_pool::shared();
  sy::linear<sy::format::bf16> proj(w.view(hidden, hidden));
  sy::norm::rms_norm(x.view(tokens, hidden), sy::vector_view<float const>(gamma.view(hidden)), h.view(tokens, hidden), 1e-6f, pool);
  proj(h.view(tokens, hidden), y.view(tokens, hidden), pool);
  for (sy::index_t i = 0; i < tokens * hidden; ++i) y[i] += x[i];

  // Independent recomputation in double precision.
  double max_err = 0, max_ref = 0;
  for (sy::index_t t = 0; t < tokens; ++t) {
    double ss = 0;
    for (sy::index_t k = 0; k < hidden; ++k) ss += double(x[t * hidden + k]) * x[t * hidden + k];
    double const r = 1.0 / std::sqrt(ss / hidden + 1e-6);
    for (sy::index_t n = 0; n < hidden; ++n) {
      double acc = x[t * hidden + n];
      for (sy::index_t k = 0; k < hidden; ++k) acc += double(w[n * hidden + k].to_float()) * x[t * hidden + k] * r * gamma[k];
      max_err = std::max(max_err, std::fabs(acc - y[t * hidden + n]));
      max_ref = std::max(max_ref, std::fabs(acc));
    }
  }
  std::printf("switchyard %s | cpu: %s | kernels: %s | threads: %d\n", SWITCHYARD_VERSION_STRING,
              sy::detect_cpu_features().describe().c_str(), sy::simd::native::name, pool.size());
  std::printf("block: y = x + W * rms_norm(x) * gamma, x [%ld, %ld] f32, W [%ld, %ld] bf16\n", long(tokens), long(hidden),
              long(hidden), long(hidden));
  for (sy::index_t t = 0; t < std::min<sy::index_t>(tokens, 4); ++t)
    std::printf("  y[%ld, 0:4] = % .5f % .5f % .5f % .5f\n", long(t), y[t * hidden], y[t * hidden + 1], y[t * hidden + 2],
                y[t * hidden + 3]);
  std::printf("max |y - f64 reference| = %.3g (max |y| = %.3g): %s\n", max_err, max_ref,
              max_err <= 1e-4 * max_ref ? "OK" : "MISMATCH");
  return max_err <= 1e-4 * max_ref ? 0 : 1;
}
