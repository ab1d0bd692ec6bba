// Chat templates (generate/chat_template.hpp) against jinja2: every real template in
// tests/data/chat_templates/ over every conversation of reference.json
// (tools/make_chat_template_reference.py, checked there against transformers' own rendering),
// byte for byte, with the same pinned strftime_now date; errors named with line and column;
// raise_exception; and robustness: random and mutated templates never crash, hang or allocate
// without bound.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <switchyard/generate/chat_template.hpp>
#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/io/gguf.hpp>
#include <switchyard/io/gguf_writer.hpp>

#include "support/data_dir.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
using ojson = nlohmann::ordered_json;

namespace {

std::string read_file(std::string const& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string data(std::string const& name) { return std::string(SWITCHYARD_TEST_DATA_DIR) + "/chat_templates/" + name; }

std::tm pinned_time() {  // the reference's strftime_now: 2024-07-26 12:00:00
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 12;
  t.tm_wday = 5;  // a Friday
  t.tm_yday = 207;
  return t;
}

gen::chat_template make(std::string source) {
  gen::chat_template t(std::move(source));
  t.set_time(pinned_time());
  return t;
}

std::string render_string(std::string const& source, ojson const& ctx = ojson::object()) {
  auto t = make(source);
  return t.render(ctx);
}

}  // namespace

TEST_CASE("chat templates render byte-equal to jinja2 on the families' real templates", "[chat_template]") {
  ojson const ref = ojson::parse(read_file(data("reference.json")));
  std::map<std::string, gen::chat_template> templates;
  for (auto const& t : ref["templates"]) {
    std::string const file = t["file"];
    templates.emplace(file, make(read_file(data(file))));
  }
  std::size_t rendered = 0, raised = 0, errors = 0;
  for (auto const& c : ref["cases"]) {
    std::string const file = c["template"];
    bool const agp = c["add_generation_prompt"];
    INFO(file << " / " << c["conversation"].get<std::string>() << " / add_generation_prompt=" << agp);
    auto const& t = templates.at(file);
    auto run = [&]() -> std::string {
      if (c["plain"].get<bool>()) {
        std::vector<gen::chat_message> messages;
        for (auto const& m : c["messages"]) messages.push_back({m["role"], m["content"]});
        auto const& info = *std::find_if(ref["templates"].begin(), ref["templates"].end(),
                                         [&](ojson const& x) { return x["file"] == file; });
        return t.render(messages, agp, info["bos_token"], info["eos_token"]);
      }
      return t.render(c["context"]);
    };
    if (c.contains("output")) {
      std::string const expected = c["output"];
      std::string got;
      REQUIRE_NOTHROW(got = run());
      CHECK(got == expected);
      ++rendered;
    } else if (c.contains("raise_exception")) {
      std::string const message = c["raise_exception"];
      CHECK_THROWS_WITH(run(), Catch::Contains("the template raised an exception: " + message));
      CHECK_THROWS_AS(run(), sy::invalid_argument);
      ++raised;
    } else {
      INFO("jinja2: " << c["error"].get<std::string>());
      CHECK_THROWS_AS(run(), sy::format_error);
      ++errors;
    }
  }
  CHECK(rendered >= 400);
  CHECK(raised > 0);
  CHECK(errors > 0);
}

TEST_CASE("chat templates: the span overload passes what transformers passes", "[chat_template]") {
  auto const t = make(
      "{{ bos_token }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|"
      "{% for m in messages %}{{ m.role }}={{ m['content'] }};{% endfor %}");
  std::vector<gen::chat_message> const m = {{"system", "s"}, {"user", "u"}};
  CHECK(t.render(m, true, "<s>", "</s>") == "<s>|</s>|True|True|True|system=s;user=u;");
  CHECK(t.render(m, false) == "||True|True|False|system=s;user=u;");
}

TEST_CASE("chat templates: whitespace control, trim_blocks and lstrip_blocks", "[chat_template]") {
  CHECK(render_string("{% if true %}\n  x\n{% endif %}\n   {%+ if true %}y{% endif %}  {# c #}\nz\n") == "  x\n   y  z");
  CHECK(render_string("a  {{- 1 -}}  b") == "a1b");
  CHECK(render_string("a\n    {% if true %}\nb\n    {% endif %}\nc") == "a\nb\nc");
  CHECK(render_string("{% raw %}{{ x }}{% endraw %}") == "{{ x }}");
  CHECK(render_string("a\r\nb\rc\n") == "a\nb\nc");
  CHECK(render_string("{{ 'x' }}\n\n") == "x\n");
  CHECK(render_string("  {#- comment -#}  x") == "x");
}

TEST_CASE("chat templates: Python's values and operators", "[chat_template]") {
  CHECK(render_string("{{ 1/2 }} {{ 7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 1e16 }} {{ 0.1+0.2 }} {{ 1.0 }} {{ 1e-5 }}") ==
        "0.5 3 2 1024 1e+16 0.30000000000000004 1.0 1e-05");
  CHECK(render_string("{{ true }} {{ none }} {{ [1,'a',none,true,1.5] }} {{ {'a':'b\"c'} }} {{ ('x',) }}") ==
        "True None [1, 'a', None, True, 1.5] {'a': 'b\"c'} ('x',)");
  CHECK(render_string("{{ ['it\\'s', 'a\"b', 'both\\'\"'] }}") == "[\"it's\", 'a\"b', 'both\\'\"']");
  CHECK(render_string("{{ 'a' ~ none ~ x }} {{ [1,2] + [3] }} {{ 'ab' * 3 }}") == "aNone [1, 2, 3] ababab");
  CHECK(render_string("{% for a in [1,2,3] if a > 1 %}{{ loop.index }}/{{ loop.length }}{% endfor %}") == "1/22/2");
  CHECK(render_string("{{ 1 < 2 < 3 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }}") == "True True True True");
  CHECK(render_string("{{ ' a b '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }}") ==
        "['a', 'b'] ['a', 'b', '', 'c'] ['a', 'b c']");
  CHECK(render_string("{{ 'héllo'|length }} {{ 'héllo'[1] }} {{ 'héllo'[::-1] }} {{ [1,2,3][-1] }}") == "5 é olléh 3");
  CHECK(render_string("{{ {'b':1,'a':[1,2.5,none,true,'é']}|tojson }}") == "{\"b\": 1, \"a\": [1, 2.5, null, true, \"é\"]}");
  CHECK(render_string("{{ {'a':[1,{}]}|tojson(indent=2) }}") == "{\n  \"a\": [\n    1,\n    {}\n  ]\n}");
  CHECK(render_string("{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}") ==
        "1212121");
  CHECK(render_string("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "3");
  CHECK(render_string("{% macro m(a, b=2) %}{{ a }}-{{ b }}-{{ g }}{% endmacro %}{% set g = 3 %}{{ m(1) }} {{ m(b=5, a=4) }}") ==
        "1-2-3 4-5-3");
  CHECK(render_string("{{ none.foo }}|{{ 'abc'[10] }}|{{ [1][5] }}|{{ x is defined }}|{{ {'a': 1}.get('b', 7) }}") ==
        "|||False|7");
  CHECK(render_string("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% if not loop.last %},{% endif %}{% endfor %}") ==
        "a1,b2");
  CHECK(render_string("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}") ==
        "13");
  CHECK(render_string("{{ [3,1,2]|sort|join(',') }} {{ ['b','A','a']|unique|list }} {{ [{'r':'u'},{'r':'a'}]|selectattr('r','equalto','u')|list|length }}") ==
        "1,2,3 ['b', 'A'] 1");
  CHECK(render_string("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'hello world-foo'|title }}") ==
        "x|AB|  a\n  b|Hello World-Foo");
  CHECK(render_string("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d') }}") == "26 Jul 2024 2024-07-26");
}

TEST_CASE("chat templates: what cannot be rendered is named with its line and column", "[chat_template]") {
  auto parse_error = [](std::string const& source, std::string const& what) {
    INFO(source);
    CHECK_THROWS_AS(gen::chat_template(source), sy::format_error);
    CHECK_THROWS_WITH(gen::chat_template(source), Catch::Contains(what));
  };
  parse_error("{% include 'x.jinja' %}", "line 1, column 4: the {% include %} statement is not supported");
  parse_error("hello\n  {{ x | frobnicate }}", "line 2, column 10: unknown filter 'frobnicate'");
  parse_error("{{ x is frobbed }}", "unknown test 'frobbed'");
  parse_error("{% if x %}never closed", "line 1, column 4: unexpected end of template: the block opened here needs 'elif' or 'else' or 'endif'");
  parse_error("{{ x ", "the '{{' tag is never closed");
  parse_error("{{ 'abc }}", "unterminated string literal");
  parse_error("{% for x in y %}{% endif %}", "unexpected {% endif %}");
  parse_error("{% frobnicate %}", "unknown tag 'frobnicate'");
  parse_error("{{ (1 }}", "unexpected '}'");
  parse_error("{# open", "missing end of comment tag");
  parse_error("{{ x $ y }}", "unexpected character '$'");
  parse_error("{% do x %}", "unknown tag 'do'");
  parse_error("{{ 99999999999999999999 }}", "integer literal too large");

  auto render_error = [](std::string const& source, std::string const& what) {
    INFO(source);
    auto t = make(source);
    CHECK_THROWS_AS(t.render(ojson::object()), sy::format_error);
    CHECK_THROWS_WITH(t.render(ojson::object()), Catch::Contains(what));
  };
  render_error("\n\n  {{ 'a' + 1 }}", "line 3, column 10: can only concatenate str (not \"int\") to str");
  render_error("{{ x.y }}", "'x' is undefined");
  render_error("{{ 'abc'.frob() }}", "'str' object has no method 'frob'");
  render_error("{{ range(200000)|length }}", "range too big");
  render_error("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable");
  render_error("{{ [1].append(2) }}", "sandboxed");
  render_error("{{ 1 // 0 }}", "division by zero");
  render_error("{% set x = 1 %}{% set x.a = 2 %}", "not a namespace()");
}

TEST_CASE("chat templates: raise_exception is an invalid_argument carrying the message", "[chat_template]") {
  auto const t = make(
      "{% for m in messages %}{% if m.role == 'system' %}"
      "{{ raise_exception('System role not supported') }}{% endif %}{% endfor %}ok");
  std::vector<gen::chat_message> const ok = {{"user", "hi"}}, bad = {{"system", "s"}};
  CHECK(t.render(ok, false) == "ok");
  CHECK_THROWS_AS(t.render(bad, false), sy::invalid_argument);
  CHECK_THROWS_WITH(t.render(bad, false),
                    Catch::Contains("the template raised an exception: System role not supported (raise_exception at line 1, column 54)"));
}

TEST_CASE("chat templates: limits stop runaway templates", "[chat_template]") {
  auto limited = [](std::string const& source) {
    auto t = make(source);
    gen::jinja::limits l;
    l.max_steps = 200000;
    l.max_output_bytes = 1 << 16;
    t.set_limits(l);
    return t;
  };
  CHECK_THROWS_WITH(limited("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").render(ojson::object()),
                    Catch::Contains("evaluation steps"));
  CHECK_THROWS_WITH(limited("{{ 'x' * 100000000 }}").render(ojson::object()), Catch::Contains("more than 65536 bytes"));
  CHECK_THROWS_WITH(limited("{% for i in range(10000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}").render(ojson::object()),
                    Catch::Contains("more than 65536 bytes"));
  CHECK_THROWS_WITH(limited("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").render(ojson::object()),
                    Catch::Contains("macro calls nested deeper"));
  std::string deep(5000, '(');
  CHECK_THROWS_WITH(gen::chat_template("{{ " + deep + " }}"), Catch::Contains("deeper than"));
  std::string nested;
  for (int i = 0; i < 500; ++i) nested += "{% if true %}";
  CHECK_THROWS_WITH(gen::chat_template(nested), Catch::Contains("deeper than"));
  CHECK_THROWS_WITH(limited("{% set ns = namespace(a=1) %}{% set ns.a = [ns] %}{{ ns }}").render(ojson::object()),
                    Catch::Contains("nested deeper"));
}

TEST_CASE("chat templates: random and mutated templates never crash, hang or grow without bound", "[chat_template]") {
  // Every real template, cut, spliced and byte-flipped, plus random token soup: each must either
  // parse and render (within the limits) or throw a switchyard::error; nothing else may escape.
  std::vector<std::string> seeds;
  ojson const ref = ojson::parse(read_file(data("reference.json")));
  for (auto const& t : ref["templates"]) seeds.push_back(read_file(data(t["file"].get<std::string>())));
  static char const* const pieces[] = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", " if ", " for ", " in ", " endfor ", " endif ",
      " else ", " set ", " macro ", " endmacro ", "(", ")", "[", "]", "{", "}", "'", "\"", "|", " is ", " not ",
      " and ", " or ", "+", "-", "*", "**", "//", "~", ".", ",", ":", "=", "==", "x", "messages", "loop", "ns",
      "namespace(", "range(", "raise_exception(", "tojson", "length", "0", "1", "99999", "1e308", "\n", " ", "raw",
      "endraw", "recursive", "caller", "é", "\xff"};
  std::mt19937_64 rng(20240726);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  ojson ctx = ref["cases"][0].contains("context") ? ref["cases"][0]["context"] : ojson::object();
  ctx["messages"] = ojson::array({{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "u"}},
                                  {{"role", "assistant"}, {"content", "a"}}});
  gen::jinja::limits lim;
  lim.max_steps = 100000;
  lim.max_output_bytes = 1 << 18;
  lim.max_items = 100000;
  int parsed = 0, rendered = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string src;
    switch (iter % 3) {
      case 0: {  // token soup
        int const n = 1 + static_cast<int>(pick(60));
        for (int k = 0; k < n; ++k) src += pieces[pick(std::size(pieces))];
        break;
      }
      case 1: {  // a real template with bytes flipped, inserted, deleted
        src = seeds[pick(seeds.size())];
        int const edits = 1 + static_cast<int>(pick(8));
        for (int k = 0; k < edits && !src.empty(); ++k) {
          std::size_t const at = pick(src.size());
          switch (pick(3)) {
            case 0: src[at] = static_cast<char>(rng()); break;
            case 1: src.insert(at, pieces[pick(std::size(pieces))]); break;
            default: src.erase(at, 1 + pick(16));
          }
        }
        break;
      }
      default: {  // two real templates spliced at random points
        auto const& a = seeds[pick(seeds.size())];
        auto const& b = seeds[pick(seeds.size())];
        src = a.substr(0, pick(a.size() + 1)) + b.substr(pick(b.size() + 1));
      }
    }
    try {
      gen::chat_template t(src);
      ++parsed;
      t.set_time(pinned_time());
      t.set_limits(lim);
      for (bool agp : {false, true}) {
        ctx["add_generation_prompt"] = agp;
        std::string const out = t.render(ctx);
        CHECK(out.size() <= lim.max_output_bytes);
        ++rendered;
      }
    } catch (sy::error const&) {
      // refused with a message: fine
    }
  }
  CHECK(parsed > 100);
  CHECK(rendered > 50);
}

TEST_CASE("chat templates: each construct as jinja2 renders it", "[chat_template]") {
  ojson const ref = ojson::parse(read_file(data("reference.json")));
  ojson const& ctx = ref["snippet_context"];
  for (auto const& sn : ref["snippets"]) {
    std::string const source = sn["source"];
    INFO(source);
    if (sn.contains("output")) {
      std::string got;
      REQUIRE_NOTHROW(got = render_string(source, ctx));
      CHECK(got == sn["output"].get<std::string>());
    } else {
      CHECK_THROWS_AS(render_string(source, ctx), sy::error);
    }
  }
}

TEST_CASE("chat templates: the tokenizer exposes the template a model ships", "[chat_template]") {
  namespace fs = std::filesystem;
  fs::path const tok_json = fs::path(SWITCHYARD_TEST_DATA_DIR) / "tokenizer_llama3_variant.json";
  fs::path const dir = fs::temp_directory_path() / "switchyard_test_chat_template";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(tok_json, dir / "tokenizer.json");
  auto write = [&](fs::path const& p, std::string const& text) { std::ofstream(p, std::ios::binary) << text; };

  SECTION("no tokenizer_config.json: no template") {
    auto const tok = gen::tokenizer::load(dir);
    CHECK(tok.chat_template().empty());
    CHECK(tok.bos_token().empty());
  }
  SECTION("a string, with bos / eos as strings and as AddedToken objects") {
    write(dir / "tokenizer_config.json",
          R"({"chat_template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}", "bos_token": "<s>",)"
          R"( "eos_token": {"content": "</s>", "lstrip": false}})");
    auto const tok = gen::tokenizer::load(dir);
    CHECK(tok.chat_template() == "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}");
    CHECK(tok.bos_token() == "<s>");
    CHECK(tok.eos_token() == "</s>");
    std::vector<gen::chat_message> const m = {{"user", "hi"}};
    CHECK(gen::chat_template(tok.chat_template()).render(m, true, tok.bos_token(), tok.eos_token()) == "<s>hi</s>");
  }
  SECTION("a list of named templates: the default one") {
    write(dir / "tokenizer_config.json",
          R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
    CHECK(gen::tokenizer::load(dir).chat_template() == "D");
    write(dir / "tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"}]})");
    CHECK_THROWS_WITH(gen::tokenizer::load(dir), Catch::Contains("none named 'default'"));
    write(dir / "tokenizer_config.json", R"({"chat_template": 3})");
    CHECK_THROWS_AS(gen::tokenizer::load(dir), sy::format_error);
  }
  SECTION("chat_template.jinja beside it wins, as in transformers") {
    write(dir / "tokenizer_config.json", R"({"chat_template": "old"})");
    write(dir / "chat_template.jinja", "new");
    CHECK(gen::tokenizer::load(dir).chat_template() == "new");
  }
  SECTION("GGUF: tokenizer.chat_template and the BOS / EOS token texts") {
    sy::io::gguf_file const src(fs::path(SWITCHYARD_TEST_DATA_DIR) / "spm_vocab_bpe.gguf");
    sy::io::gguf_writer w;
    for (auto const& [k, v] : src.values())
      if (k != "general.alignment") w.set(k, v);
    w.set_string("tokenizer.chat_template", "{{ bos_token }}[{{ messages[0].content }}]");
    w.write((dir / "t.gguf").string());
    auto const tok = gen::tokenizer::load(dir / "t.gguf");
    CHECK(tok.chat_template() == "{{ bos_token }}[{{ messages[0].content }}]");
    auto const* spm = tok.get<gen::spm_tokenizer>();
    REQUIRE(spm);
    CHECK(tok.bos_token() == "<s>");
    CHECK(tok.eos_token() == "</s>");
  }
  fs::remove_all(dir);
}
