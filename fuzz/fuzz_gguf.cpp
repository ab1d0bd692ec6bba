// libFuzzer target: the GGUF parser on arbitrary bytes. Any input must either parse (every
// tensor's bytes inside the input, touched below for AddressSanitizer; every metadata value
// walkable) or throw format_error; nothing else, and no allocation the input can inflate.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "switchyard/io/gguf.hpp"

namespace {
std::size_t walk(switchyard::io::gguf_value const& v) {
  if (auto const* a = std::get_if<std::vector<switchyard::io::gguf_value>>(&v.v)) {
    std::size_t n = 1;
    for (auto const& x : *a) n += walk(x);
    return n;
  }
  if (auto const* s = std::get_if<std::string>(&v.v)) return s->size();
  return 1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const bytes = std::as_bytes(std::span<std::uint8_t const>(data, size));
  try {
    auto h = switchyard::io::parse_gguf(bytes, "fuzz");
    std::size_t n = 0;
    for (auto const& [k, v] : h.metadata) n += k.size() + walk(v);
    for (auto const& t : h.tensors)
      for (std::byte b : t.data) n += static_cast<std::size_t>(b);
    volatile std::size_t sink = n;
    (void)sink;
  } catch (switchyard::format_error const&) {
  }
  return 0;
}
