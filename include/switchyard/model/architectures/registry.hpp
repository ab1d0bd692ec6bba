#pragma once
// Every shipped family, in one list: the config readers, the GGUF writer, the weight naming and the
// loader find a family here (by model_config::arch, config.json's model_type, or GGUF's
// general.architecture). Adding a family: its header under model/architectures/, an enumerator in
// model::architecture, one line below.
#include <array>
#include <string>
#include <string_view>

#include "switchyard/core/error.hpp"
#include "switchyard/model/architectures/deepseek_v3.hpp"
#include "switchyard/model/architectures/gpt_oss.hpp"
#include "switchyard/model/architectures/llama.hpp"
#include "switchyard/model/architectures/mixtral.hpp"
#include "switchyard/model/architectures/olmoe.hpp"
#include "switchyard/model/architectures/qwen_moe.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace model {
namespace architectures {

inline constexpr std::array<family const*, 7> all = {&llama,     &mixtral,     &qwen2_moe, &qwen3_moe,
                                                     &olmoe,     &deepseek_v3, &gpt_oss};

// "llama, mixtral, ..." from one member of every family (for error messages).
inline std::string list(char const* family::*member) {
  std::string s;
  for (std::size_t i = 0; i < all.size(); ++i) {
    std::string_view const n = all[i]->*member;
    bool seen = false;  // families sharing a GGUF architecture
    for (std::size_t j = 0; j < i; ++j) seen = seen || n == all[j]->*member;
    if (!seen) s += (s.empty() ? "" : ", ") + std::string(n);
  }
  return s;
}

}  // namespace architectures

inline architectures::family const& family_of(architecture a) {
  for (auto const* f : architectures::all)
    if (f->id == a) return *f;
  switchyard::detail::fail<invalid_argument>("model::family_of", "architecture ", static_cast<int>(a), " has no table");
}

inline char const* name(architecture a) { return family_of(a).name; }

}  // namespace model
SWITCHYARD_NAMESPACE_END
