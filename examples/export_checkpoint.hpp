#pragma once
// A checkpoint -- a safetensors folder or a GGUF file -- written as GGUF by model::export_gguf, for
// the programs that convert one (quantize, prune). From a GGUF, its tokenizer and general.*
// metadata are copied; from a folder, general.name and the folder's tokenizer as llama.cpp's
// converter writes it -- without one llama.cpp refuses the file and generate has no tokenizer for
// it. A folder without a tokenizer.json, or with one the GGUF form cannot hold, gets a warning.
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <switchyard/core/error.hpp>
#include <switchyard/generate/tokenizer_gguf.hpp>
#include <switchyard/io/gguf.hpp>
#include <switchyard/io/safetensors.hpp>
#include <switchyard/model/export_gguf.hpp>
#include <switchyard/model/gguf_config.hpp>
#include <switchyard/model/hf_config.hpp>
#include <switchyard/model/weight_source.hpp>

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

// Calls write(config, source) over the checkpoint (a GGUF file or a safetensors folder), its
// tokenizer and general.* metadata added to extras.metadata first: what export_checkpoint writes,
// for programs that write something else of it (prune: fewer experts or layers).
template <class Write>
void with_checkpoint(std::filesystem::path const& in, switchyard::model::export_extras& extras, char const* program,
                     Write&& write) {
  namespace sy = switchyard;
  namespace md = switchyard::model;
  if (in.extension() == ".gguf") {
    sy::io::gguf_file const file(in);
    md::model_config const c = md::config_from_gguf(file);
    for (auto const& [key, value] : file.values())
      if (key.starts_with("tokenizer.") || key.starts_with("general.")) extras.metadata.emplace_back(key, value);
    write(c, md::gguf_source(file, c));
  } else {
    std::filesystem::path const dir = std::filesystem::is_directory(in) ? in : in.parent_path();
    md::model_config const c = md::read_hf_config(dir);
    sy::io::safetensors_checkpoint const ck(in);
    add_folder_metadata(extras.metadata, dir, c.vocab, program);
    write(c, md::hf_source(ck, c));
  }
}

inline void export_checkpoint(std::filesystem::path const& in, std::string const& output, switchyard::io::dtype type,
                              switchyard::model::export_extras& extras, char const* program) {
  with_checkpoint(in, extras, program, [&](switchyard::model::model_config const& c, switchyard::model::weight_source const& src) {
    switchyard::model::export_gguf(c, src, output, type, extras);
  });
}

}  // namespace switchyard_examples
