#pragma once
// What an architecture table says. One header per family under model/architectures/ fills one
// `family`; the config readers (model/hf_config.hpp, model/gguf_config.hpp), the GGUF writer
// (model/export_gguf.hpp), the weight naming (model/weight_source.hpp) and the loader's choice of
// attention and router (model/build.hpp) are loops over these tables, so adding a family is adding
// a header (and registering it in registry.hpp), not editing those files.
//
// A table is data: config keys (config.json key <-> model_config field <-> GGUF key, with defaults
// and which are required), tensor names (role <-> Hugging Face name <-> GGUF name), the expert
// banks' names, the block kinds (attention, router, q/k norm, RoPE layout), and, for what no row
// can say (a derived field, an odd key), small hooks.
#include <array>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include "switchyard/attention/rope.hpp"
#include "switchyard/model/config.hpp"
#include "switchyard/model/roles.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace io {
class gguf_file;
class gguf_writer;
}  // namespace io
namespace model {
namespace detail {
class json_reader;
}

namespace architectures {

// A row's fallback that leaves the field as it is (model_config's default, or an earlier row's value).
inline constexpr double keep = std::numeric_limits<double>::quiet_NaN();

// One row: a model_config field (by member name, config_fields.hpp), where config.json and GGUF
// keep it, and its value when absent. `hf` may list alternatives, "a|b": the first present wins
// (an older and a newer transformers name). The GGUF key is after "<gguf architecture>.". A
// required key that is absent is a format_error naming the file and the key.
struct config_key {
  char const* field;
  char const* hf = nullptr;    // nullptr: not in config.json
  char const* gguf = nullptr;  // nullptr: not in GGUF metadata
  double fallback = keep;      // absent and optional: this value (bools: nonzero is true)
  bool required = false;
  bool omit_zero = false;      // writing GGUF: leave the key out when the field is 0 (absent means none)
};

// A config.json key whose presence (anything but null, false, 0 or empty) means a model the
// library does not compute: refused with unsupported_config naming the key.
struct refused_key {
  char const* hf;
  char const* why;
};

// One tensor role's names; "{L}" stands for the layer index. nullptr: the checkpoint kind has none.
struct tensor_name {
  role r;
  char const* hf;
  char const* gguf;
};

// How a checkpoint lays out a fused gate/up bank: transformers 5's [E, 2F, H] (gate rows, then up
// rows; down [E, H, F]), or gpt-oss's for x @ W: [E, H, 2F] with gate and up interleaved by column
// (down [E, F, H]) -- in MXFP4, <name>_blocks / <name>_scales [E, 2F, H / 32, ...] with the rows
// interleaved.
enum class fused_layout { stacked, interleaved_transposed };

// The expert banks: per expert ("{L}" layer, "{E}" expert; gate, up, down), fused banks, and GGUF's
// stacked [E, rows, cols] tensors; biases where the family has them ([E, 2F] fused, interleaved
// like the weights; GGUF: [E, F] / [E, H] per projection).
struct expert_names {
  std::array<char const*, 3> hf_each{};
  char const* hf_gate_up = nullptr;
  char const* hf_down = nullptr;
  fused_layout layout = fused_layout::stacked;
  char const* hf_gate_up_bias = nullptr;
  char const* hf_down_bias = nullptr;
  std::array<char const*, 3> gguf{"blk.{L}.ffn_gate_exps.weight", "blk.{L}.ffn_up_exps.weight",
                                  "blk.{L}.ffn_down_exps.weight"};
  std::array<char const*, 3> gguf_bias{};
};

enum class attention_kind { gqa, mla };
// softmax_topk: softmax over all experts, top-k, optionally renormalized (Mixtral, Qwen, OLMoE);
// sigmoid_grouped: DeepSeek-V3's sigmoid scores with a selection bias and expert groups;
// logits_topk_softmax: top-k of the raw logits, softmax over the chosen (gpt-oss).
enum class router_kind { softmax_topk, sigmoid_grouped, logits_topk_softmax };
// The experts' gated activation: SiLU(gate) * up, or gpt-oss's clamped SwiGLU
// (expert::gpt_oss_glu: its alpha 1.702 and limit 7 are compiled in).
enum class expert_activation { silu, gpt_oss_clamped };

// A table's name pattern with "{L}" (layer) and "{E}" (expert) filled in.
inline std::string expand(char const* pattern, index_t layer, index_t expert = 0) {
  std::string s = pattern;
  for (auto [key, value] : {std::pair<char const*, index_t>{"{L}", layer}, {"{E}", expert}})
    for (auto at = s.find(key); at != std::string::npos; at = s.find(key))
      s.replace(at, 3, std::to_string(value));
  return s;
}

struct family {
  architecture id;
  char const* name;           // ours (model::name)
  char const* hf_model_type;  // config.json model_type
  char const* gguf_arch;      // general.architecture (several families may share one: claims_gguf)
  std::array<std::span<config_key const>, 5> keys{};      // groups, read in order
  std::span<refused_key const> refused{};
  std::array<std::span<tensor_name const>, 3> tensors{};  // groups, searched in order
  expert_names experts{};
  attention_kind attention = attention_kind::gqa;
  router_kind router = router_kind::softmax_topk;
  expert_activation activation = expert_activation::silu;
  qk_norm qk = qk_norm::none;
  attention::rope_layout rope = attention::rope_layout::rotate_half;       // as config.json's checkpoint computes it
  attention::rope_layout gguf_rope = attention::rope_layout::rotate_half;  // as the GGUF file's q/k rows need it
  bool gguf_permutes_qk = false;  // llama.cpp's converter permutes q/k rows (its "llama" architecture)

  // What no row says, as code (nullptr: nothing). from_*: derived fields and cross-checks after
  // the rows were read; to_gguf: extra keys; claims_gguf: whether a file of gguf_arch is this family.
  void (*from_hf)(detail::json_reader const&, model_config&) = nullptr;
  void (*from_gguf)(io::gguf_file const&, model_config&) = nullptr;
  void (*to_gguf)(model_config const&, io::gguf_writer&, std::string const& prefix) = nullptr;
  bool (*claims_gguf)(io::gguf_file const&) = nullptr;

  // The names of a role, or nullptr.
  tensor_name const* find_tensor(role r) const noexcept {
    for (auto const& group : tensors)
      for (auto const& t : group)
        if (t.r == r) return &t;
    return nullptr;
  }
};

}  // namespace architectures
}  // namespace model
SWITCHYARD_NAMESPACE_END
