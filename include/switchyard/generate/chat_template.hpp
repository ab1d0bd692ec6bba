#pragma once
// Chat templates: the Jinja `chat_template` a model ships (tokenizer_config.json, GGUF
// tokenizer.chat_template) rendered as transformers' apply_chat_template(tokenize=False) renders
// it -- jinja2's sandbox with trim_blocks and lstrip_blocks, loop controls, transformers' tojson,
// raise_exception and strftime_now -- byte for byte on the real templates of Qwen2/2.5/3,
// Llama 3.1/3.2/3.3, Mistral/Mixtral, DeepSeek-V3/V3.1/R1, OLMoE and gpt-oss
// (tests/host/test_chat_template.cpp, reference from tools/make_chat_template_reference.py).
//
//   generate::chat_template t(source);                      // parsed once; format_error if it cannot be
//   std::string prompt = t.render(messages, true, "<s>", "</s>");
//
// The context is what transformers passes: messages, tools = None, documents = None,
// add_generation_prompt, bos_token, eos_token; render(json) takes any context (tools, tool calls,
// enable_thinking, reasoning_effort, ...). A template that cannot be rendered -- a construct the
// subset lacks, a type error, a limit passed -- throws format_error with the line and column; the
// template's own raise_exception("...") throws invalid_argument carrying its message. Rendering is
// bounded (jinja::limits: output size, steps, macro depth, list size), so no template can hang or
// exhaust memory. Supported constructs: docs/generate.md, "Chat templates".
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "switchyard/core/error.hpp"
#include "switchyard/generate/jinja/ast.hpp"
#include "switchyard/generate/jinja/builtins.hpp"
#include "switchyard/generate/jinja/lexer.hpp"
#include "switchyard/generate/jinja/parser.hpp"
#include "switchyard/generate/jinja/render.hpp"
#include "switchyard/generate/jinja/value.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace generate {

struct chat_message {
  std::string role;
  std::string content;
};

class chat_template {
 public:
  static constexpr std::size_t max_source_bytes = std::size_t{1} << 20;

  // Parses the template once; throws switchyard::format_error naming the construct and
  // line:column it cannot handle.
  explicit chat_template(std::string source) : source_(std::move(source)) {
    require<format_error>(source_.size() <= max_source_bytes, "generate::chat_template",
                          "the template is larger than ", max_source_bytes, " bytes");
    body_ = std::make_shared<jinja::body_t>(jinja::parser::run(jinja::lexer::run(source_)));
  }

  // Renders messages as transformers' apply_chat_template(tokenize=False) does.
  std::string render(std::span<chat_message const> messages, bool add_generation_prompt,
                     std::string const& bos_token = {}, std::string const& eos_token = {}) const {
    nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::array()}};
    for (auto const& m : messages) ctx["messages"].push_back({{"role", m.role}, {"content", m.content}});
    ctx["tools"] = nullptr;
    ctx["documents"] = nullptr;
    ctx["add_generation_prompt"] = add_generation_prompt;
    ctx["bos_token"] = bos_token;
    ctx["eos_token"] = eos_token;
    return render(ctx);
  }

  // Renders over a whole context: an object whose keys are the template's variables (messages with
  // any fields, tools, add_generation_prompt, bos_token, ...), key order kept as given.
  std::string render(nlohmann::ordered_json const& context) const {
    require(context.is_object(), "generate::chat_template", "the context must be a JSON object");
    return render_value(jinja::from_json(context));
  }
  std::string render(nlohmann::json const& context) const {
    require(context.is_object(), "generate::chat_template", "the context must be a JSON object");
    return render_value(jinja::from_json(context));
  }

  // What strftime_now() returns (local time), fixed: for reproducible renderings (tests).
  void set_time(std::tm const& t) { now_ = t; }
  void set_limits(jinja::limits const& l) { limits_ = l; }
  jinja::limits const& limits() const noexcept { return limits_; }
  std::string const& source() const noexcept { return source_; }

 private:
  std::string source_;
  std::shared_ptr<jinja::body_t const> body_;
  std::optional<std::tm> now_;
  jinja::limits limits_;

  std::string render_value(jinja::value const& context) const {
    jinja::runtime rt;
    rt.lim = limits_;
    if (now_) {
      rt.now = *now_;
    } else {
      std::time_t const t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      localtime_r(&t, &rt.now);
    }
    jinja::renderer r(*body_, rt);
    return r.run(context);
  }
};

}  // namespace generate
SWITCHYARD_NAMESPACE_END
