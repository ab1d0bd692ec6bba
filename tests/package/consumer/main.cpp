// A consumer's program: includes the umbrella header, runs one small block, checks the result.
#include <switchyard/switchyard.hpp>

#include <cmath>
#include <cstdio>

int main() {
  namespace sy = switchyard;
  sy::buffer<float> x(2 * 3), y(2 * 3);
  sy::buffer<sy::format::bf16> w(3);
  float const xs[] = {1, 2, 3, -4, 5, -6};
  for (int i = 0; i < 6; ++i) x[i] = xs[i];
  for (int i = 0; i < 3; ++i) w[i] = sy::format::bf16(0.5f);
  sy::thread_pool pool(2);
  sy::norm::rms_norm(x.view(2, 3), sy::vector_view<sy::format::bf16 const>(w.view(3)), y.view(2, 3), 0.0f, pool);
  // Row 0: rms = sqrt(14/3); y0 = 0.5 / rms.
  float const want = 0.5f / std::sqrt(14.0f / 3.0f);
  std::printf("switchyard %s: y[0] = %.6f (want %.6f)\n", SWITCHYARD_VERSION_STRING, y[0], want);
  return std::fabs(y[0] - want) < 1e-6f ? 0 : 1;
}
