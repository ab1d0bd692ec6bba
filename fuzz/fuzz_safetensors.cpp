// libFuzzer target: the safetensors header parser on arbitrary bytes. Any input must either parse
// (and then every tensor's bytes lie inside the input, which the loop below touches so that
// AddressSanitizer sees an out-of-bounds view) or throw format_error; nothing else.
#include <cstddef>
#include <cstdint>
#include <span>

#include "switchyard/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const bytes = std::as_bytes(std::span<std::uint8_t const>(data, size));
  try {
    auto h = switchyard::io::parse_safetensors(bytes, "fuzz");
    unsigned sum = 0;
    for (auto const& t : h.tensors)
      for (std::byte b : t.data) sum += static_cast<unsigned>(b);
    volatile unsigned sink = sum;
    (void)sink;
  } catch (switchyard::format_error const&) {
  }
  return 0;
}
