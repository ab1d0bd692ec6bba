// examples/prune's 2:4 file (the examples' "prune 2:4" test writes it; CTest passes its path): every
// projection holds at most 2 non-zeros in every 4 consecutive weights, and the model loaded
// as 2:4 sparse blocks (weight_format::sparse24_bf16: the sparse GEMV for decode, the block GEMM
// for prefill; the embedding and LM head, left dense by prune, stay dense bf16) computes the logits the same file gives loaded as dense bf16 -- the same weights,
// summed in another order.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "support/llama_logits.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;

TEST_CASE("prune's 2:4 file is 2:4 and decodes from sparse24 blocks as from dense bf16", "[model][prune][sparse]") {
  char const* path = std::getenv("SWITCHYARD_PRUNED_MODEL");
  REQUIRE(path != nullptr);  // set by CTest: the file the "prune 2:4" example test writes
  sy::io::gguf_file const f(path);
  int pruned = 0;
  for (auto const& t : f.tensors()) {
    if (t.shape.size() < 2 || t.name == "token_embd.weight" || t.name == "output.weight" ||
        t.name.find("ffn_gate_inp") != std::string::npos)
      continue;
    INFO(t.name);
    REQUIRE(t.dtype == sy::io::dtype::bf16);
    REQUIRE(t.shape.back() % 4 == 0);  // the innermost dimension (a row) is contiguous: groups of 4 never cross rows
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(t.numel()));
    std::memcpy(bits.data(), t.data.data(), bits.size() * 2);
    std::size_t bad = 0, zeros = 0;
    for (std::size_t g = 0; g < bits.size(); g += 4) {
      int nonzero = 0;
      for (std::size_t i = g; i < g + 4; ++i) nonzero += (bits[i] & 0x7FFF) != 0;
      bad += nonzero > 2;
      zeros += 4 - static_cast<std::size_t>(nonzero);
    }
    CHECK(bad == 0);
    CHECK(zeros >= bits.size() / 2);
    ++pruned;
  }
  CHECK(pruned > 0);

  auto dense = md::load(path, {.weights = md::weight_format::bf16, .activations = md::activation_format::f32});
  auto sparse = md::load(path, {.weights = md::weight_format::sparse24_bf16});
  sy::index_t const V = dense->config().vocab;
  std::vector<std::int32_t> toks;
  for (int i = 0; i < 20; ++i) toks.push_back(static_cast<std::int32_t>((37 * i + 11) % V));
  auto const a = sy::test::prefill_and_decode(*sparse, toks), b = sy::test::prefill_and_decode(*dense, toks);
  for (std::size_t r = 0; r < a.size() / static_cast<std::size_t>(V); ++r) {
    INFO("row " << r);
    CHECK(sy::test::row_error(a.data() + r * V, b.data() + r * V, V) <= sy::test::tolerance::model_logits);
  }
}
