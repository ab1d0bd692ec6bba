// A consumer's program: includes the umbrella header, runs one small block, checks the result.
#include <switchyard/switchyard.hpp>
#include <switchyard/io/safetensors.hpp>  // carries the nlohmann-json dependency to the consumer

#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>

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
  // A 1-tensor safetensors image parsed from memory: the io layer links for a consumer too.
  char img[8 + 60] = {};
  char const header[] = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  img[0] = static_cast<char>(sizeof header - 1);
  std::memcpy(img + 8, header, sizeof header - 1);
  auto const h = sy::io::parse_safetensors(
      std::as_bytes(std::span<char const>(img, 8 + sizeof header - 1 + 4)), "consumer");
  if (h.tensors.size() != 1) return 1;
  std::printf("switchyard %s: y[0] = %.6f (want %.6f)\n", SWITCHYARD_VERSION_STRING, y[0], want);
  return std::fabs(y[0] - want) < 1e-6f ? 0 : 1;
}
