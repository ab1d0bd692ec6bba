// The whole model on the device (kernels/switchyard/device/) against the host model (model::load)
// on the same files, for every shipped architecture's tiny checkpoint (the GGUFs are in
// test_model_cuda_gguf.cu):
//   - the f32 path: both sides in bf16 weights with f32 activations (device: every projection
//     and expert on the GEMV kernels; host: model::weight_format::bf16, activation_format::f32),
//     so they hold the same numbers and differ only in the order of f32 sums: prefill logits of
//     every prompt row, then 8 decode steps fed the host's greedy tokens, within
//     tolerance::cuda_model_f32_* (a routing decision that flips, a missed key or a wrong row is
//     ~100x over it);
//   - the default path on f32 checkpoints (a 12-token prefill takes the bf16 tensor-core GEMMs)
//     against the host's f32 model, within tolerance::cuda_model_mma_*;
// and on the device alone: decode equals prefill, batched equals alone (also a mixed call),
// graph replay equals eager bit for bit (a padded bucket within a tight bound), greedy sample()
// equals the argmax of forward's logits, seeded sampling (sample() and forward_sample()) equals
// the host sampler on the device's own logits, a full cache throws allocation_error and changes
// nothing, bad tokens and foreign sequences are refused.
// Every logits buffer is NaN-poisoned before each call; each check prints a switchyard-record line
// (harness: tests/cuda/model_harness.cuh; the host side: model_host_reference.cpp, a host-compiler
// unit, since CUDA units name switchyard types in another inline namespace).
#define SWITCHYARD_DEVICE_TOP_K 2
#define SWITCHYARD_DEVICE_EXPERT_FORMATS(X) X(bf16, format::bf16)
#define SWITCHYARD_DEVICE_CACHE_FORMATS(X) X(f32, float)
// The tiny models have head_dim 16: their prefill takes paged_decode, never flash_attention (64 /
// 128 only), so the unit leaves the prefill kernels out (compile time).
#define SWITCHYARD_DEVICE_FLASH_PREFILL 0

#include "cuda/model_harness.cuh"
#include "switchyard/device/abi_model.cuh"

using namespace switchyard::test::model_cuda;

namespace {

void f32_path(char const* name) {
  compare_with_host(name, data_path(std::string("models/") + name), /*host bf16 weights*/ true,
                    device_options(dv::arithmetic::f32, dv::weight_storage::bf16), tol::cuda_model_f32_element,
                    tol::cuda_model_f32_nmse);
}
void default_path(char const* name) {
  compare_with_host(name, data_path(std::string("models/") + name), /*host bf16 weights*/ false,
                    device_options(dv::arithmetic::automatic, dv::weight_storage::as_stored),
                    tol::cuda_model_mma_element, tol::cuda_model_mma_nmse);
}

}  // namespace

// ---- every architecture against the host ----

#define SWITCHYARD_F32_PATH_CASE(arch)                                                                   \
  TEST_CASE("device model equals the host, f32 path, bf16 weights: " arch, "[cuda][model][host]") { \
    f32_path(arch);                                                                                      \
  }
SWITCHYARD_F32_PATH_CASE("llama")
SWITCHYARD_F32_PATH_CASE("mixtral")
SWITCHYARD_F32_PATH_CASE("mixtral_swa")
SWITCHYARD_F32_PATH_CASE("qwen2_moe")
SWITCHYARD_F32_PATH_CASE("qwen2_moe_swa")
SWITCHYARD_F32_PATH_CASE("qwen3_moe")
SWITCHYARD_F32_PATH_CASE("qwen3_moe_swa")
SWITCHYARD_F32_PATH_CASE("olmoe")
SWITCHYARD_F32_PATH_CASE("deepseek_v3")
SWITCHYARD_F32_PATH_CASE("gpt_oss")
SWITCHYARD_F32_PATH_CASE("gpt_oss_mxfp4")

// The tensor-core GEMMs (bf16 activations) against the f32 host. Left out: mixtral_swa,
// qwen2_moe and deepseek_v3, whose routers flip a token's experts under bf16 rounding (the host
// itself, run in bf16, moves their logits by 0.36-1.5 of a row's RMS: a different expert, not an
// error), so no bound separates rounding from a bug there; the f32 path covers them.
#define SWITCHYARD_DEFAULT_PATH_CASE(arch)                                                                  \
  TEST_CASE("device model within bf16 rounding of the f32 host, default path: " arch, "[cuda][model][host]") { \
    default_path(arch);                                                                                     \
  }
SWITCHYARD_DEFAULT_PATH_CASE("llama")
SWITCHYARD_DEFAULT_PATH_CASE("mixtral")
SWITCHYARD_DEFAULT_PATH_CASE("qwen2_moe_swa")
SWITCHYARD_DEFAULT_PATH_CASE("qwen3_moe")
SWITCHYARD_DEFAULT_PATH_CASE("qwen3_moe_swa")
SWITCHYARD_DEFAULT_PATH_CASE("olmoe")
SWITCHYARD_DEFAULT_PATH_CASE("gpt_oss")
SWITCHYARD_DEFAULT_PATH_CASE("gpt_oss_mxfp4")

// ---- the device against itself ----

TEST_CASE("device decode equals prefill (logits of token i decoded one at a time vs prefilled)", "[cuda][model]") {
  for (char const* name : {"llama", "mixtral", "deepseek_v3", "gpt_oss"}) {
    auto dev = dv::load(data_path(std::string("models/") + name), device_options(dv::arithmetic::f32, dv::weight_storage::as_stored));
    int const V = static_cast<int>(dev->config().vocab);
    auto const prompt = prompt_of(12, V, 1);
    auto a = dev->new_sequence(), b = dev->new_sequence();
    auto const pre = run_one(*dev, a, prompt, md::which_logits::all);
    std::vector<float> one;
    for (auto t : prompt) {
      auto const r = run_one(*dev, b, {t});
      one.insert(one.end(), r.begin(), r.end());
    }
    check_logits(name, "decode_vs_prefill", one, pre, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
  }
}

TEST_CASE("device batched equals alone (3 sequences of different lengths; prefill, decode, a mixed call)",
          "[cuda][model]") {
  for (char const* name : {"llama", "mixtral", "deepseek_v3"}) {
    auto dev = dv::load(data_path(std::string("models/") + name), device_options(dv::arithmetic::f32, dv::weight_storage::as_stored));
    int const V = static_cast<int>(dev->config().vocab);
    std::vector<std::vector<std::int32_t>> prompts = {prompt_of(5, V, 2), prompt_of(9, V, 3), prompt_of(3, V, 4)};
    std::vector<md::sequence> together, alone;
    for (int i = 0; i < 3; ++i) together.push_back(dev->new_sequence()), alone.push_back(dev->new_sequence());
    // Prefill: one call of three fresh prompts vs three calls.
    std::vector<md::step> steps;
    for (int i = 0; i < 3; ++i) steps.push_back({&together[static_cast<std::size_t>(i)], prompts[static_cast<std::size_t>(i)]});
    auto const batched = run(*dev, steps, 3);
    std::vector<float> single;
    for (int i = 0; i < 3; ++i) {
      auto const r = run_one(*dev, alone[static_cast<std::size_t>(i)], prompts[static_cast<std::size_t>(i)]);
      single.insert(single.end(), r.begin(), r.end());
    }
    check_logits(name, "batched_prefill", batched, single, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
    // Decode: three single tokens in one call, twice.
    for (int round = 0; round < 2; ++round) {
      std::vector<std::int32_t> next;
      for (int i = 0; i < 3; ++i) next.push_back(argmax(single.data() + i * V, V));
      std::vector<std::vector<std::int32_t>> toks = {{next[0]}, {next[1]}, {next[2]}};
      steps.clear();
      for (int i = 0; i < 3; ++i) steps.push_back({&together[static_cast<std::size_t>(i)], toks[static_cast<std::size_t>(i)]});
      auto const b = run(*dev, steps, 3);
      single.clear();
      for (int i = 0; i < 3; ++i) {
        auto const r = run_one(*dev, alone[static_cast<std::size_t>(i)], toks[static_cast<std::size_t>(i)]);
        single.insert(single.end(), r.begin(), r.end());
      }
      check_logits(name, "batched_decode", b, single, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
    }
    // Mixed: a decode step, a continuing chunk of 4 and a fresh prompt, with every row returned.
    auto fresh_t = dev->new_sequence(), fresh_a = dev->new_sequence();
    std::vector<std::int32_t> const d1 = {7}, chunk = prompt_of(4, V, 5), p3 = prompt_of(6, V, 6);
    steps = {{&together[0], d1}, {&together[1], chunk}, {&fresh_t, p3}};
    auto const mixed = run(*dev, steps, 11, md::which_logits::all);
    std::vector<float> parts;
    for (auto [s, t] : {std::pair{&alone[0], &d1}, std::pair{&alone[1], &chunk}, std::pair{&fresh_a, &p3}}) {
      auto const r = run_one(*dev, *s, *t, md::which_logits::all);
      parts.insert(parts.end(), r.begin(), r.end());
    }
    check_logits(name, "mixed_call", mixed, parts, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
  }
}

TEST_CASE("device decode graph replay equals the eager path", "[cuda][model][graph]") {
  for (char const* name : {"mixtral", "deepseek_v3", "gpt_oss"}) {
    auto dev = dv::load(data_path(std::string("models/") + name),
                        device_options(dv::arithmetic::automatic, dv::weight_storage::as_stored, /*graphs*/ true));
    int const V = static_cast<int>(dev->config().vocab);
    // Two identical sets of 4 sequences (a full bucket) and of 3 (a padded bucket of 4).
    for (int B : {4, 3}) {
      std::vector<md::sequence> g, e;
      std::vector<std::vector<std::int32_t>> prompts;
      for (int i = 0; i < B; ++i) {
        prompts.push_back(prompt_of(3 + 2 * i, V, 10 + i));
        g.push_back(dev->new_sequence());
        e.push_back(dev->new_sequence());
        (void)run_one(*dev, g.back(), prompts.back());
        (void)run_one(*dev, e.back(), prompts.back());
      }
      std::vector<std::vector<std::int32_t>> toks;
      for (int i = 0; i < B; ++i) toks.push_back({static_cast<std::int32_t>((31 * i + 5) % V)});
      for (int step = 0; step < 3; ++step) {
        std::vector<md::step> gs, es;
        for (int i = 0; i < B; ++i) gs.push_back({&g[static_cast<std::size_t>(i)], toks[static_cast<std::size_t>(i)]}),
            es.push_back({&e[static_cast<std::size_t>(i)], toks[static_cast<std::size_t>(i)]});
        dev->set_graphs(true);
        auto const replay = run(*dev, gs, B);
        dev->set_graphs(false);
        auto const eager = run(*dev, es, B);
        dev->set_graphs(true);
        CHECK(dev->captured_graphs() == 1);  // one bucket (4), captured once, replayed after
        if (B == 4) {
          // Same batch size: the same launches with the same arguments -> the same bits.
          bool const same = std::memcmp(replay.data(), eager.data(), replay.size() * sizeof(float)) == 0;
          std::printf("switchyard-record: model=%s check=graph_bits step=%d equal=%d\n", name, step, same ? 1 : 0);
          CHECK(same);
        } else {
          // A padded bucket computes 4 rows where the eager call computes 3: the split counts and
          // GEMM paths may differ by batch size, so within the same-path bound, not bit for bit.
          check_logits(name, "graph_padded", replay, eager, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
        }
        for (int i = 0; i < B; ++i) toks[static_cast<std::size_t>(i)] = {argmax(eager.data() + i * V, V)};
      }
      for (auto& s : g) dev->release(s);
      for (auto& s : e) dev->release(s);
    }
    CHECK(dev->free_blocks() == 64);
  }
}

TEST_CASE("device greedy sample() equals the argmax of forward's logits", "[cuda][model][sample]") {
  auto dev = dv::load(data_path("models/mixtral"), device_options(dv::arithmetic::automatic, dv::weight_storage::as_stored, true));
  int const V = static_cast<int>(dev->config().vocab);
  std::vector<md::sequence> f, s;
  for (int i = 0; i < 2; ++i) f.push_back(dev->new_sequence()), s.push_back(dev->new_sequence());
  std::vector<std::vector<std::int32_t>> next = {prompt_of(7, V, 20), prompt_of(4, V, 21)};
  std::vector<sy::generate::sampling_params> const greedy(2);
  for (int step = 0; step < 6; ++step) {
    auto const logits = run(*dev, {{&f[0], next[0]}, {&f[1], next[1]}}, 2);
    std::vector<std::int32_t> got(2, -1);
    std::vector<md::step> const ss = {{&s[0], next[0]}, {&s[1], next[1]}};
    dev->sample(ss, greedy, got);
    for (int i = 0; i < 2; ++i) {
      std::int32_t const want = argmax(logits.data() + i * V, V);
      std::printf("switchyard-record: model=mixtral check=greedy_sample step=%d row=%d want=%d got=%d\n", step, i, want,
                  got[static_cast<std::size_t>(i)]);
      CHECK(got[static_cast<std::size_t>(i)] == want);
      next[static_cast<std::size_t>(i)] = {want};
    }
  }
}

TEST_CASE("device seeded sampling equals the host sampler on the device's own logits", "[cuda][model][sample]") {
  auto dev = dv::load(data_path("models/qwen3_moe"), device_options(dv::arithmetic::automatic, dv::weight_storage::as_stored, true));
  int const V = static_cast<int>(dev->config().vocab);
  sy::generate::sampling_params p;
  p.temperature = 0.9f;
  p.top_k = 40;
  p.top_p = 0.92f;
  p.min_p = 0.01f;
  p.repetition_penalty = 1.3f;
  p.seed = 1234;
  auto a = dev->new_sequence(), b = dev->new_sequence(), c = dev->new_sequence();
  sy::generate::sampler host(p);      // draws for sequence a's logits
  sy::generate::rng stream(p.seed);   // forward_sample's request stream for sequence c
  std::vector<std::int32_t> history = prompt_of(9, V, 30);
  std::vector<std::int32_t> feed = history;
  for (int step = 0; step < 8; ++step) {
    auto logits = run_one(*dev, a, feed);
    std::int32_t const want = host(std::span<float>(logits.data(), static_cast<std::size_t>(V)), history);
    std::vector<std::int32_t> got(1, -1), got_fs(1, -1);
    std::vector<md::step> const sb = {{&b, feed}}, sc = {{&c, feed}};
    dev->sample(sb, std::span<sy::generate::sampling_params const>(&p, 1), got);
    sy::generate::sample_request const req{.sample = true, .params = &p, .stream = &stream, .history = history};
    dev->forward_sample(sc, std::span<sy::generate::sample_request const>(&req, 1), got_fs);
    std::printf("switchyard-record: model=qwen3_moe check=seeded_sample step=%d want=%d sample=%d forward_sample=%d\n",
                step, want, got[0], got_fs[0]);
    CHECK(got[0] == want);
    CHECK(got_fs[0] == want);
    CHECK(stream.state() == host.random_stream().state());  // one draw each, the same draws
    history.push_back(want);
    feed = {want};
  }
}

TEST_CASE("device forward_sample leaves the rows that do not sample alone and draws nothing for them",
          "[cuda][model][sample]") {
  // The f32 path: the GEMV kernels for any T, so row 0's logits in a batch of 11 tokens are those
  // of the same prompt alone (the reference below).
  auto dev = dv::load(data_path("models/olmoe"), device_options(dv::arithmetic::f32, dv::weight_storage::as_stored, true));
  int const V = static_cast<int>(dev->config().vocab);
  auto a = dev->new_sequence(), b = dev->new_sequence(), ref = dev->new_sequence();
  auto const pa = prompt_of(6, V, 40), pb = prompt_of(5, V, 41);
  sy::generate::sampling_params p;
  p.temperature = 0.7f;
  p.seed = 99;
  sy::generate::rng stream(p.seed), untouched(7);
  auto const before = untouched.state();
  // Row 0 samples; row 1 is a prompt chunk that does not end its prompt (no token, no draw).
  std::vector<sy::generate::sample_request> const req = {
      {.sample = true, .params = &p, .stream = &stream, .history = pa},
      {.sample = false, .params = nullptr, .stream = &untouched, .history = {}}};
  std::vector<std::int32_t> out = {-7, -7};
  std::vector<md::step> const steps = {{&a, pa}, {&b, pb}};
  dev->forward_sample(steps, req, out);
  auto logits = run_one(*dev, ref, pa);
  sy::generate::sampler host(p);
  std::int32_t const want = host(std::span<float>(logits.data(), static_cast<std::size_t>(V)), pa);
  std::printf("switchyard-record: model=olmoe check=forward_sample_rows want=%d got=%d untouched=%d\n", want, out[0], out[1]);
  CHECK(out[0] == want);
  CHECK(out[1] == -7);
  CHECK(untouched.state() == before);
  CHECK(stream.state() == host.random_stream().state());
  CHECK(a.length() == 6);
  CHECK(b.length() == 5);
}

TEST_CASE("device abi_model (the CUDA half of the host bridge) gives the device model's logits and failures",
          "[cuda][model][abi]") {
  dv::load_options o = device_options(dv::arithmetic::f32, dv::weight_storage::as_stored);
  o.blocks = 4;
  auto direct = dv::load(data_path("models/mixtral"), o);
  auto bridged = dv::make_abi_model(dv::load(data_path("models/mixtral"), o));
  int const V = static_cast<int>(direct->config().vocab);
  REQUIRE(bridged->vocab() == V);
  auto const p = prompt_of(10, V, 50);
  auto s = direct->new_sequence();
  auto const want = run_one(*direct, s, p, md::which_logits::all);
  std::int32_t const h = bridged->new_sequence();
  std::vector<float> got(want.size(), std::numeric_limits<float>::quiet_NaN());
  switchyard_device_abi::step const st{.sequence = h, .tokens = p.data(), .count = 10, .last_rows = 1};
  bridged->forward(&st, 1, got.data(), 10, V, /*all*/ true);
  check_logits("mixtral", "abi_forward", got, want, V, tol::cuda_model_same_path, tol::cuda_model_same_path_nmse);
  CHECK(bridged->length(h) == 10);
  CHECK(bridged->free_blocks() == direct->free_blocks());
  // A full cache and a bad handle come back as failures of the matching kind.
  auto const big = prompt_of(60, V, 51);
  switchyard_device_abi::step const too_long{.sequence = bridged->new_sequence(), .tokens = big.data(), .count = 60};
  std::vector<float> row(static_cast<std::size_t>(V));
  try {
    bridged->forward(&too_long, 1, row.data(), 1, V, false);
    FAIL("no failure");
  } catch (switchyard_device_abi::failure const& e) {
    CHECK(e.kind() == switchyard_device_abi::failure_kind::allocation_error);
  }
  switchyard_device_abi::step const bad{.sequence = 99, .tokens = p.data(), .count = 1};
  try {
    bridged->forward(&bad, 1, row.data(), 1, V, false);
    FAIL("no failure");
  } catch (switchyard_device_abi::failure const& e) {
    CHECK(e.kind() == switchyard_device_abi::failure_kind::index_error);
  }
  bridged->release(h);
  CHECK(bridged->free_blocks() == 4);
}

TEST_CASE("device model refuses what the host refuses: a full cache, bad tokens, foreign sequences",
          "[cuda][model][errors]") {
  dv::load_options o = device_options(dv::arithmetic::automatic, dv::weight_storage::as_stored);
  o.blocks = 2;  // 32 tokens in all
  auto dev = dv::load(data_path("models/llama"), o);
  int const V = static_cast<int>(dev->config().vocab);
  auto s = dev->new_sequence(), t = dev->new_sequence();
  CHECK_THROWS_AS(run_one(*dev, s, prompt_of(40, V)), sy::allocation_error);
  CHECK(dev->free_blocks() == 2);
  CHECK(s.length() == 0);
  (void)run_one(*dev, s, prompt_of(20, V));
  CHECK(dev->free_blocks() == 0);
  CHECK_THROWS_AS(run_one(*dev, t, prompt_of(5, V)), sy::allocation_error);
  CHECK(t.length() == 0);
  CHECK_THROWS_AS(run_one(*dev, s, {static_cast<std::int32_t>(V)}), sy::error);
  CHECK_THROWS_AS(run_one(*dev, s, {-1}), sy::error);
  CHECK(s.length() == 20);
  auto other = dv::load(data_path("models/llama"), o);  // a sequence of another model
  auto foreign = other->new_sequence();
  CHECK_THROWS_AS(run_one(*dev, foreign, {1}), sy::error);
  dev->truncate(s, 10);
  CHECK(dev->free_blocks() == 1);
  (void)run_one(*dev, t, prompt_of(5, V));  // the freed block serves another sequence
  dev->release(s);
  dev->release(t);
  CHECK(dev->free_blocks() == 2);
}
