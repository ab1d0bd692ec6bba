#pragma once
// The metadata a GGUF written from a safetensors folder carries besides the model (quantize,
// prune): general.name and the folder's tokenizer as llama.cpp's converter writes it -- without
// one llama.cpp refuses the file and generate has no tokenizer for it. A folder without a
// tokenizer.json, or with one the GGUF form cannot hold, gets a warning on stderr.
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <switchyard/core/error.hpp>
#include <switchyard/generate/tokenizer_gguf.hpp>
#include <switchyard/io/gguf.hpp>

namespace switchyard_examples {

inline void add_folder_metadata(std::vector<std::pair<std::string, switchyard::io::gguf_value>>& metadata,
                                std::filesystem::path const& dir, switchyard::index_t vocab, char const* program) {
  namespace sy = switchyard;
  metadata.emplace_back("general.name", sy::io::gguf_value{sy::io::gguf_type::string, sy::io::gguf_type::u8,
                                                           std::filesystem::absolute(dir).filename().string()});
  if (!std::filesystem::exists(dir / "tokenizer.json")) {
    std::fprintf(stderr, "%s: warning: %s has no tokenizer.json: the GGUF carries no tokenizer\n", program, dir.string().c_str());
    return;
  }
  try {
    for (auto& kv : sy::generate::tokenizer_gguf_metadata(dir, vocab)) metadata.push_back(std::move(kv));
  } catch (sy::unsupported_config const& e) {
    std::fprintf(stderr, "%s: warning: the GGUF carries no tokenizer: %s\n", program, e.what());
  }
}

}  // namespace switchyard_examples
