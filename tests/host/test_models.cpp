// Whole models against transformers: tiny random-weight instances of every shipped architecture
// (tools/make_model_reference.py), loaded from their safetensors folder and from their GGUF, must
// give transformers' logits at every position; decoding token by token, and several sequences in
// one batched call, must give the same logits as prefill.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/linear/linear.hpp"  // host::int8_gemv_native
#include "switchyard/model/export_gguf.hpp"
#include "switchyard/model/gguf_config.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;
using sy::test::reference_file;

namespace {

struct reference {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::vector<float>> logits;  // [T, vocab] each
};

reference read_reference(std::string const& arch) {
  reference_file f("models/" + arch + "/reference.safetensors");
  reference r;
  for (int s = 0; f.contains("tokens_" + std::to_string(s)); ++s) {
    r.tokens.push_back(f.get("tokens_" + std::to_string(s)).as<std::int32_t>());
    r.logits.push_back(f.get("logits_" + std::to_string(s)).as<float>());
  }
  return r;
}

std::string model_path(std::string const& arch, bool gguf) {
  return std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/" + arch + (gguf ? "/model.gguf" : "");
}

// Largest |got - want| over a row, relative to the row's largest |want|.
double row_error(float const* got, float const* want, sy::index_t n) {
  double err = 0, scale = 0;
  for (sy::index_t i = 0; i < n; ++i) {
    err = std::max(err, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return err / std::max(scale, 1e-30);
}

void check_model(md::language_model& lm, reference const& ref, double tol = sy::test::tolerance::model_logits) {
  sy::index_t const V = lm.config().vocab;
  // Prefill: every position of each sequence at once.
  for (std::size_t s = 0; s < ref.tokens.size(); ++s) {
    auto seq = lm.new_sequence();
    sy::index_t const T = static_cast<sy::index_t>(ref.tokens[s].size());
    std::vector<float> logits(static_cast<std::size_t>(T * V));
    sy::test::poison(logits);
    md::step const st{&seq, ref.tokens[s]};
    lm.forward(std::span<md::step const>(&st, 1), sy::make_view(logits.data(), T, V), md::which_logits::all);
    for (sy::index_t t = 0; t < T; ++t) {
      INFO("prefill, sequence " << s << ", position " << t);
      CHECK(row_error(logits.data() + t * V, ref.logits[s].data() + t * V, V) <= tol);
    }
    lm.release(seq);
  }
  // Both sequences together: a 3-token prefill chunk each, then one token per call per sequence
  // (batched decode while both run, a lone decode after the shorter one ends).
  std::vector<md::sequence> seqs;
  for (std::size_t s = 0; s < ref.tokens.size(); ++s) seqs.push_back(lm.new_sequence());
  std::vector<std::size_t> pos(ref.tokens.size(), 0);
  for (bool first = true;; first = false) {
    std::vector<md::step> steps;
    std::vector<std::size_t> which;
    for (std::size_t s = 0; s < ref.tokens.size(); ++s) {
      std::size_t const n = first ? 3 : 1;
      if (pos[s] + n > ref.tokens[s].size()) continue;
      steps.push_back({&seqs[s], std::span<std::int32_t const>(ref.tokens[s]).subspan(pos[s], n)});
      which.push_back(s);
      pos[s] += n;
    }
    if (steps.empty()) break;
    std::vector<float> logits(steps.size() * static_cast<std::size_t>(V));
    sy::test::poison(logits);
    lm.forward(steps, sy::make_view(logits.data(), static_cast<sy::index_t>(steps.size()), V));
    for (std::size_t i = 0; i < steps.size(); ++i) {
      std::size_t const s = which[i], t = pos[s] - 1;
      INFO("incremental, sequence " << s << ", position " << t << " (" << steps.size() << " in the call)");
      CHECK(row_error(logits.data() + i * static_cast<std::size_t>(V), ref.logits[s].data() + t * static_cast<std::size_t>(V), V) <= tol);
    }
  }
  for (auto& s : seqs) lm.release(s);
}

}  // namespace

TEST_CASE("models match transformers' logits from safetensors and GGUF", "[model]") {
  for (std::string arch : {"llama", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"}) {
    reference const ref = read_reference(arch);
    {
      INFO(arch << " from safetensors");
      auto lm = md::load(model_path(arch, false));
      check_model(*lm, ref);
    }
    {
      INFO(arch << " from GGUF");
      auto lm = md::load(model_path(arch, true));
      check_model(*lm, ref);
    }
  }
}

TEST_CASE("sliding-window models match transformers beyond the window, from safetensors and an exported GGUF", "[model]") {
  // Window 4, sequences of 7 and 12 tokens: Mixtral slides on every layer, Qwen2-MoE on the layers
  // its layer_types names (layer 0), Qwen3-MoE on every layer with layer 1 a dense mlp_only layer.
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_swa";
  std::filesystem::create_directories(dir);
  for (std::string arch : {"mixtral_swa", "qwen2_moe_swa", "qwen3_moe_swa"}) {
    INFO(arch);
    reference const ref = read_reference(arch);
    auto const c = md::read_hf_config(model_path(arch, false));
    CHECK(c.sliding_window == 4);
    CHECK(c.window(0) == 4);
    CHECK(c.window(1) == (arch == "qwen2_moe_swa" ? 0 : 4));
    CHECK(c.is_moe_layer(1) == (arch != "qwen3_moe_swa"));
    check_model(*md::load(model_path(arch, false)), ref);
    sy::io::safetensors_checkpoint const ck(model_path(arch, false));
    auto const f32 = (dir / (arch + ".gguf")).string();
    md::export_gguf(c, md::hf_source(ck, c), f32, sy::io::dtype::f32);
    auto lm = md::load(f32);
    CHECK(lm->config().sliding_window == 4);
    check_model(*lm, ref);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("gpt-oss matches transformers: sinks, alternating windows, YaRN, biased clamped-SwiGLU experts, MXFP4", "[model]") {
  // gpt_oss: transformers' own f32 checkpoint (experts fused for x @ W, gate/up interleaved);
  // gpt_oss_mxfp4: experts in MXFP4 as OpenAI ships them, from safetensors and from the GGUF
  // llama.cpp's converter would write; then the f32 model through export_gguf and back.
  {
    INFO("gpt_oss from safetensors");
    auto lm = md::load(model_path("gpt_oss", false));
    CHECK(lm->config().window(0) == 4);
    CHECK(lm->config().window(1) == 0);
    check_model(*lm, read_reference("gpt_oss"));
  }
  reference const ref = read_reference("gpt_oss_mxfp4");
  for (bool gguf : {false, true}) {
    INFO("gpt_oss_mxfp4 from " << (gguf ? "GGUF" : "safetensors"));
    auto lm = md::load(model_path("gpt_oss_mxfp4", gguf));
    CHECK(lm->config().rope.scaling.type == sy::attention::rope_scaling::kind::yarn);
    CHECK_FALSE(lm->config().rope.scaling.truncate);
    check_model(*lm, ref);
  }
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_gpt_oss";
  std::filesystem::create_directories(dir);
  auto const c = md::read_hf_config(model_path("gpt_oss", false));
  sy::io::safetensors_checkpoint const ck(model_path("gpt_oss", false));
  auto const f32 = (dir / "gpt_oss-f32.gguf").string();
  md::export_gguf(c, md::hf_source(ck, c), f32, sy::io::dtype::f32);
  {
    INFO("gpt_oss through export_gguf");
    check_model(*md::load(f32), read_reference("gpt_oss"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a GGUF re-exported from a GGUF (the quantize tool's path) keeps the model: q/k rows not permuted twice", "[model]") {
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_regguf";
  std::filesystem::create_directories(dir);
  for (std::string arch : {"llama", "mixtral", "qwen3_moe", "deepseek_v3"}) {
    INFO(arch);
    sy::io::gguf_file const file(model_path(arch, true));
    auto const c = md::config_from_gguf(file);
    auto const out = (dir / (arch + ".gguf")).string();
    md::export_gguf(c, md::gguf_source(file, c), out, sy::io::dtype::f32);
    check_model(*md::load(out), read_reference(arch));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("load_options::progress is told each layer as it is built", "[model]") {
  std::vector<std::pair<sy::index_t, sy::index_t>> calls;
  auto lm = md::load(model_path("qwen3_moe", true),
                     {.progress = [&](sy::index_t done, sy::index_t layers) { calls.emplace_back(done, layers); }});
  sy::index_t const L = lm->config().layers;
  REQUIRE(calls.size() == static_cast<std::size_t>(L + 1));
  for (sy::index_t l = 0; l <= L; ++l) CHECK(calls[static_cast<std::size_t>(l)] == std::pair{l, L});
}

TEST_CASE("a loaded model keeps its caches consistent and rejects bad calls", "[model]") {
  auto lm = md::load(model_path("qwen3_moe", false));
  sy::index_t const V = lm->config().vocab;
  auto seq = lm->new_sequence();
  std::vector<float> logits(static_cast<std::size_t>(V));
  std::vector<std::int32_t> bad = {1, static_cast<std::int32_t>(V)};
  md::step st{&seq, bad};
  CHECK_THROWS_AS(lm->forward(std::span<md::step const>(&st, 1), sy::make_view(logits.data(), 1, V)), sy::invalid_argument);
  CHECK(seq.length() == 0);
  std::vector<std::int32_t> ok = {1, 2};
  st.tokens = ok;
  CHECK_THROWS_AS(lm->forward(std::span<md::step const>(&st, 1), sy::make_view(logits.data(), 1, V - 1)),
                  sy::invalid_argument);
  lm->forward(std::span<md::step const>(&st, 1), sy::make_view(logits.data(), 1, V));
  CHECK(seq.length() == 2);
  sy::index_t const free_before = lm->free_blocks();
  lm->release(seq);
  CHECK(lm->free_blocks() == free_before + 1);
  auto other = md::load(model_path("qwen3_moe", false));
  auto foreign = other->new_sequence();
  st.seq = &foreign;
  CHECK_THROWS_AS(lm->forward(std::span<md::step const>(&st, 1), sy::make_view(logits.data(), 1, V)), sy::invalid_argument);
}

// Logits of every position of every reference sequence (prefill).
std::vector<std::vector<float>> all_logits(md::language_model& lm, reference const& ref) {
  std::vector<std::vector<float>> out;
  sy::index_t const V = lm.config().vocab;
  for (auto const& toks : ref.tokens) {
    auto seq = lm.new_sequence();
    sy::index_t const T = static_cast<sy::index_t>(toks.size());
    out.emplace_back(static_cast<std::size_t>(T * V));
    md::step const st{&seq, toks};
    lm.forward(std::span<md::step const>(&st, 1), sy::make_view(out.back().data(), T, V), md::which_logits::all);
    lm.release(seq);
  }
  return out;
}

// f(sequence, position, row_error(a's row, b's row)) for every row of two [sequences][T x V] logits.
template <class F>
void for_each_row(std::vector<std::vector<float>> const& a, std::vector<std::vector<float>> const& b, sy::index_t V, F f) {
  for (std::size_t s = 0; s < a.size(); ++s)
    for (std::size_t t = 0; t < a[s].size() / static_cast<std::size_t>(V); ++t)
      f(s, t, row_error(a[s].data() + t * V, b[s].data() + t * V, V));
}

// Every row of a within tol of b's (row_error).
void check_rows(std::vector<std::vector<float>> const& a, std::vector<std::vector<float>> const& b, sy::index_t V,
                double tol) {
  for_each_row(a, b, V, [&](std::size_t s, std::size_t t, double e) {
    INFO("sequence " << s << ", position " << t);
    CHECK(e <= tol);
  });
}

TEST_CASE("export_gguf writes files that load back: f32 exactly as transformers, q8_0 as quantizing on load", "[model]") {
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_export";
  std::filesystem::create_directories(dir);
  for (std::string arch : {"llama", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"}) {
    INFO(arch);
    reference const ref = read_reference(arch);
    auto const c = md::read_hf_config(model_path(arch, false));
    sy::io::safetensors_checkpoint const ck(model_path(arch, false));
    md::hf_source const src(ck, c);
    auto const f32 = (dir / (arch + "-f32.gguf")).string();
    md::export_gguf(c, src, f32, sy::io::dtype::f32);
    check_model(*md::load(f32), ref);
    if (arch == "deepseek_v3") {  // its attn_k_b rows (nope = 16) are not whole q8_0 blocks: no q8_0 file
      std::filesystem::remove(f32);
      continue;
    }
    // q8_0: the file's model equals the safetensors model quantized while loading (same RTN
    // blocks), and stays near the f32 reference.
    auto const q8 = (dir / (arch + "-q8_0.gguf")).string();
    md::export_gguf(c, src, q8, sy::io::dtype::q8_0);
    auto from_file = md::load(q8);
    auto on_load = md::load(model_path(arch, false), {.weights = md::weight_format::q8_0});
    auto const a = all_logits(*from_file, ref), b = all_logits(*on_load, ref);
    check_rows(a, b, c.vocab, sy::test::tolerance::model_logits);
    // Loaded with the default activations: int8 on AVX512-VNNI / AVX2 builds, for prefill rows too
    // (linear/host/int8_gemm.hpp), where a router may flip a near-tie top-k choice on the
    // rounding (tolerance::int8_activations_routing_flips): an MoE model may have that many rows
    // past the bound, a dense one none.
    std::ptrdiff_t over = 0, rows = 0;
    for_each_row(a, ref.logits, c.vocab, [&](std::size_t, std::size_t, double e) {
      ++rows;
      over += e > sy::test::tolerance::q8_0_model_logits;
    });
    bool const int8_acts = sy::host::int8_gemv_native;
    CHECK(over <= (arch == "llama" || !int8_acts ? 0 : sy::test::tolerance::int8_activations_routing_flips(rows)));
    std::filesystem::remove(f32);
    std::filesystem::remove(q8);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("DeepSeek-V3 (MLA) in block formats: q8_0 stays near transformers, prefill and decode", "[model][quant]") {
  // MLA's projections in the model's format, kv_b_proj widened to f32 (attention::mla_kv_b_t):
  // quantized DeepSeek files load. Prefill (expanded form) and decode (absorbed form over the
  // latent cache) both checked (check_model).
  reference const ref = read_reference("deepseek_v3");
  auto q8 = md::load(model_path("deepseek_v3", false), {.weights = md::weight_format::q8_0});
  check_model(*q8, ref, sy::test::tolerance::q8_0_model_logits);
  // q4_0: the same path, coarser (4 bits on 64-wide rows of a random model): finite logits whose
  // cosine with the reference is well above chance (measured 0.91).
  auto q4 = md::load(model_path("deepseek_v3", false), {.weights = md::weight_format::q4_0});
  auto const a = all_logits(*q4, ref);
  double dot = 0, na = 0, nb = 0;
  for (std::size_t s = 0; s < a.size(); ++s)
    for (std::size_t i = 0; i < a[s].size(); ++i) {
      REQUIRE(std::isfinite(a[s][i]));
      dot += double(a[s][i]) * ref.logits[s][i], na += double(a[s][i]) * a[s][i], nb += double(ref.logits[s][i]) * ref.logits[s][i];
    }
  CHECK(dot / std::sqrt(na * nb) > 0.85);
}

TEST_CASE("f16 GGUF files compute their f16 values exactly: the same logits as widened to f32 on load", "[model]") {
  // An f16 model must round nothing but its matrices: norms, biases and routers stay f32 as the
  // file holds them. (Rounding Qwen3's q/k norms and DeepSeek's MLA norms to f16 moved the logits
  // by 1-5e-4 while the Mixtral layout, without such norms, stayed exact: issue 19.)
  auto const dir = std::filesystem::temp_directory_path() / "switchyard_test_f16_gguf";
  std::filesystem::create_directories(dir);
  for (std::string arch : {"llama", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"}) {
    INFO(arch);
    reference const ref = read_reference(arch);
    auto const c = md::read_hf_config(model_path(arch, false));
    sy::io::safetensors_checkpoint const ck(model_path(arch, false));
    auto const f16 = (dir / (arch + "-f16.gguf")).string();
    md::export_gguf(c, md::hf_source(ck, c), f16, sy::io::dtype::f16);
    auto as_f16 = md::load(f16);
    auto as_f32 = md::load(f16, {.weights = md::weight_format::f32});
    check_rows(all_logits(*as_f16, ref), all_logits(*as_f32, ref), c.vocab, sy::test::tolerance::model_logits);
    std::filesystem::remove(f16);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the shipped model matches transformers (bf16 safetensors) and stays close as q8_0 GGUF", "[model]") {
  std::string const dir = std::string(SWITCHYARD_TEST_DATA_DIR) + "/../../models/switchyard-tiny-moe";
  reference_file f("models/tiny_moe_reference.safetensors");
  reference ref;
  for (int s = 0; f.contains("tokens_" + std::to_string(s)); ++s) {
    ref.tokens.push_back(f.get("tokens_" + std::to_string(s)).as<std::int32_t>());
    ref.logits.push_back(f.get("logits_" + std::to_string(s)).as<float>());
  }
  REQUIRE(ref.tokens.size() == 3);
  auto lm = md::load(dir);
  CHECK(lm->config().arch == md::architecture::qwen3_moe);
  CHECK(lm->config().tie_embeddings);
  check_model(*lm, ref);
  auto q8 = md::load(dir + "/model-q8_0.gguf");
  check_model(*q8, ref, sy::test::tolerance::q8_0_model_logits);
}

// Logits of every position, one token per call: every row through the decode path.
std::vector<float> decode_logits(md::language_model& lm, std::vector<std::int32_t> const& toks) {
  sy::index_t const V = lm.config().vocab;
  std::vector<float> out(toks.size() * static_cast<std::size_t>(V));
  sy::test::poison(out);
  auto seq = lm.new_sequence();
  for (std::size_t t = 0; t < toks.size(); ++t) {
    md::step const st{&seq, std::span<std::int32_t const>(toks).subspan(t, 1)};
    lm.forward(std::span<md::step const>(&st, 1), sy::make_view(out.data() + t * static_cast<std::size_t>(V), 1, V));
  }
  lm.release(seq);
  return out;
}

TEST_CASE("q8_0 and q4_0 models decode with int8 activations by default (AVX512-VNNI / AVX2 builds), within their rounding of f32 activations",
          "[model][quant]") {
  namespace tol = sy::test::tolerance;
  for (std::string arch : {"mixtral", "qwen3_moe", "llama"}) {
    reference const ref = read_reference(arch);
    for (auto wf : {md::weight_format::q8_0, md::weight_format::q4_0}) {
      INFO(arch << (wf == md::weight_format::q8_0 ? " q8_0" : " q4_0"));
      auto fast = md::load(model_path(arch, false), {.weights = wf, .activations = md::activation_format::int8});
      auto exact = md::load(model_path(arch, false), {.weights = wf, .activations = md::activation_format::f32});
      auto automatic = md::load(model_path(arch, false), {.weights = wf});
      sy::index_t const V = fast->config().vocab;
      std::vector<double> errors;
      for (auto const& toks : ref.tokens) {
        auto const a = decode_logits(*fast, toks), b = decode_logits(*exact, toks), c = decode_logits(*automatic, toks);
        // automatic: int8 where the build has integer kernels (AVX512-VNNI, AVX2), else f32 (build.hpp)
        CHECK(c == (sy::host::int8_gemv_native ? a : b));
        for (std::size_t t = 0; t < toks.size(); ++t) errors.push_back(row_error(a.data() + t * V, b.data() + t * V, V));
      }
      std::sort(errors.begin(), errors.end());
      double const median = errors[errors.size() / 2];
      auto const outliers = std::count_if(errors.begin(), errors.end(), [](double e) { return e > tol::int8_activations_model_logits; });
      INFO("row errors of int8 against f32 activations: median " << median << ", largest " << errors.back());
      CHECK(errors.front() > 0);  // every row was rounded: not the f32 path
      CHECK(median <= tol::int8_activations_model_logits_median);
      // A dense model has no discontinuity; an MoE router may flip a near-tie top-k choice.
      CHECK(outliers <= (arch == "llama" ? 0 : tol::int8_activations_routing_flips(errors.size())));
    }
  }
  // Element-wise formats keep f32 under automatic; asking for what has no kernel fails.
  reference const ref = read_reference("qwen3_moe");
  auto b16 = md::load(model_path("qwen3_moe", false), {.weights = md::weight_format::bf16});
  auto b16_f32 = md::load(model_path("qwen3_moe", false), {.weights = md::weight_format::bf16,
                                                           .activations = md::activation_format::f32});
  CHECK(decode_logits(*b16, ref.tokens[0]) == decode_logits(*b16_f32, ref.tokens[0]));
  CHECK_THROWS_WITH(md::load(model_path("qwen3_moe", false), {.activations = md::activation_format::int8}),
                    Catch::Contains("int8 activations take block-quantized GGUF weights (q8_0, q4_0, q4_1, q5_0, q5_1, q2_K .. q6_K, iq4_nl, iq4_xs), not f32"));
  CHECK_THROWS_WITH(md::load(model_path("qwen3_moe", false), {.weights = md::weight_format::q8_0,
                                                               .activations = md::activation_format::bf16}),
                    Catch::Contains("bf16 activations take element-wise weights (f32, bf16, f16), not q8_0"));
}
