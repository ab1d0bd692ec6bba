// The device sampler (kernels/switchyard/kernels/sample/sample.cuh) against the host's
// generate::sampler, draw for draw: 8 rows with different parameters -- greedy, temperature only,
// top-k 1 and 40, top-p 0.9, min-p 0.05, all of them together, temperature with a repetition
// penalty (and, in the "penalized" runs, a penalty on every row) -- over vocabularies of 1000,
// 32000 and 151936 tokens, 50 consecutive steps per seed. Each step has fresh random logits with
// planted ties (the top logit twice, a run of equal mid-range logits, -0 and +0) and -inf entries;
// histories repeat tokens and hold the vocabulary's first and last ids (and ids outside it, which
// both sides ignore), and grow by the host's token each step. Checked every step:
//   - the device's token equals the host sampler's (a mismatch is excused only where the host's
//     draw, top-p mass or min-p threshold lies within tolerance::sample_boundary of a boundary --
//     CUDA's double exp may differ from glibc's by an ulp; such draws are counted and recorded);
//   - the logits the device leaves equal the host's span after operator() bit for bit (the penalty);
// and after the 50 steps the device rng state equals a generate::rng advanced by the draws the
// host made (none for greedy rows), and the host sampler's next uniform equals the device state's.
// Further cases: the sampler replayed from a captured CUDA graph, and the all-greedy hint (one
// kernel, no sort) on greedy rows and on a row that breaks the hint (token -1, no draw).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda/device_array.cuh"
#include "support/tolerance.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/kernels/common/cuda_check.cuh"
#include "switchyard/kernels/sample/sample.cuh"

namespace gen = switchyard::generate;
namespace ks = switchyard::kernels::sample;
using switchyard::test::device_array;

namespace {

static_assert(std::is_trivially_copyable_v<gen::rng> && sizeof(gen::rng) == 4 * sizeof(std::uint64_t),
              "the test reads generate::rng's state as its four words");

std::vector<std::uint64_t> rng_words(gen::rng const& r) {
  std::vector<std::uint64_t> w(4);
  std::memcpy(w.data(), &r, sizeof r);
  return w;
}

ks::device_sampling_params to_device(gen::sampling_params const& p) {
  ks::device_sampling_params const d{.temperature = p.temperature, .top_p = p.top_p, .min_p = p.min_p,
                                     .repetition_penalty = p.repetition_penalty, .top_k = p.top_k};
  ks::check_params(d);
  return d;
}

// The 8 rows' parameters; `penalized` adds a repetition penalty to every row.
std::vector<gen::sampling_params> row_params(bool penalized, std::uint64_t seed0) {
  std::vector<gen::sampling_params> p = {
      {.temperature = 0.0f},                                    // greedy
      {.temperature = 0.8f},                                    // temperature only
      {.temperature = 1.0f, .top_k = 1},                        // top-k 1
      {.temperature = 0.7f, .top_k = 40},                       // top-k 40
      {.temperature = 1.0f, .top_p = 0.9f},                     // top-p
      {.temperature = 1.0f, .min_p = 0.05f},                    // min-p
      {.temperature = 0.9f, .top_k = 40, .top_p = 0.9f, .min_p = 0.05f, .repetition_penalty = 1.3f},  // all
      {.temperature = 1.1f, .repetition_penalty = 1.2f},        // temperature + penalty
  };
  for (std::size_t r = 0; r < p.size(); ++r) {
    p[r].seed = seed0 + 7919 * r;
    if (penalized && p[r].repetition_penalty == 1.0f) p[r].repetition_penalty = 1.1f + 0.25f * static_cast<float>(r);
  }
  return p;
}

// Random logits for one row: normal x 3, then the planted cases.
// The rows' histories as sample() takes them: every token in one array, row r's from offsets[r].
struct flat_histories {
  std::vector<std::int32_t> tokens, offsets{0};
};
flat_histories flatten(std::vector<std::vector<std::int32_t>> const& history) {
  flat_histories f;
  for (auto const& h : history) {
    f.tokens.insert(f.tokens.end(), h.begin(), h.end());
    f.offsets.push_back(static_cast<std::int32_t>(f.tokens.size()));
  }
  return f;
}

void fill_logits(std::span<float> l, std::mt19937_64& g, int step) {
  int const V = static_cast<int>(l.size());
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (auto& x : l) x = nd(g);
  std::uniform_int_distribution<int> id(0, V - 1);
  // The top logit twice (greedy and top-k 1 must take the lower id), on alternate steps.
  if (step % 2 == 0) {
    float const top = *std::max_element(l.begin(), l.end()) + 0.5f;
    int a = id(g), b = id(g);
    if (a == b) b = (a + 1) % V;
    l[static_cast<std::size_t>(a)] = top, l[static_cast<std::size_t>(b)] = top;
  }
  // A run of equal logits among the likely ones: their order must be by id.
  for (int i = 0; i < 6; ++i) l[static_cast<std::size_t>(id(g))] = 4.0f;
  // -0 and +0 are equal logits.
  l[static_cast<std::size_t>(id(g))] = -0.0f;
  l[static_cast<std::size_t>(id(g))] = 0.0f;
  // -inf entries, sometimes at the ends.
  for (int i = 0; i < 5; ++i) l[static_cast<std::size_t>(id(g))] = -std::numeric_limits<float>::infinity();
  if (step % 5 == 1) l[0] = -std::numeric_limits<float>::infinity();
  if (step % 5 == 3) l[static_cast<std::size_t>(V - 1)] = -std::numeric_limits<float>::infinity();
}

// Whether the host's draw for this step lies near a boundary where an ulp in exp() could change the
// outcome: the uniform near a cumulative probability of the kept candidates, the top-p mass near
// top_p, or a candidate's probability near the min-p threshold. `penalized` are the logits after
// the penalty, `u` the uniform the host draws.
bool near_boundary(std::vector<float> const& penalized, gen::sampling_params const& p, double u) {
  double const eps = switchyard::test::tolerance::sample_boundary;
  int const V = static_cast<int>(penalized.size());
  std::vector<int> idx(static_cast<std::size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    return penalized[static_cast<std::size_t>(a)] > penalized[static_cast<std::size_t>(b)];
  });
  std::size_t const n = p.top_k > 0 && p.top_k < V ? static_cast<std::size_t>(p.top_k) : idx.size();
  double const top = penalized[static_cast<std::size_t>(idx[0])] / double(p.temperature);
  std::vector<double> prob(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    prob[i] = std::exp(penalized[static_cast<std::size_t>(idx[i])] / double(p.temperature) - top);
    sum += prob[i];
  }
  bool near = false;
  double mass = 0;
  std::size_t keep = 0;
  while (keep < n) {
    if (p.min_p > 0.0f && std::fabs(prob[keep] - p.min_p * prob[0]) <= eps * prob[0]) near = true;
    if (p.min_p > 0.0f && prob[keep] < p.min_p * prob[0]) break;
    mass += prob[keep] / sum;
    ++keep;
    if (std::fabs(mass - p.top_p) <= eps) near = true;
    if (mass >= p.top_p) break;
  }
  double total = 0, c = 0;
  for (std::size_t i = 0; i < keep; ++i) total += prob[i];
  for (std::size_t i = 0; i < keep; ++i) {
    c += prob[i] / total;
    if (std::fabs(u - c) <= eps) near = true;
  }
  return near;
}

struct run_stats {
  int steps = 0, draws = 0, near = 0, excused = 0;
};

// 50 steps of the 8 rows over `vocab` tokens, the host sampler against the device.
run_stats run_steps(int vocab, bool penalized, std::uint64_t seed0) {
  constexpr int rows = 8, steps = 50;
  auto const params = row_params(penalized, seed0);
  std::vector<gen::sampler> host;
  std::vector<ks::device_sampling_params> dparams;
  std::vector<std::uint64_t> seeds;
  for (auto const& p : params) {
    host.emplace_back(p);
    dparams.push_back(to_device(p));
    seeds.push_back(p.seed);
  }
  // Histories: repeated tokens, the vocabulary's ends, and ids outside it (ignored by both sides).
  std::vector<std::vector<std::int32_t>> history(rows);
  std::mt19937_64 g(seed0 ^ static_cast<std::uint64_t>(vocab));
  for (int r = 0; r < rows; ++r) {
    auto& h = history[static_cast<std::size_t>(r)];
    h = {0, vocab - 1, 0, 5, 5, 5, vocab - 1, -1, vocab, 17, 17};
    for (int i = 0; i < 20; ++i) h.push_back(static_cast<std::int32_t>(g() % 64));  // repeats among few ids
  }

  device_array<ks::device_sampling_params> dp(dparams);
  device_array<std::uint64_t> state(static_cast<std::size_t>(rows) * 4);
  state.poison();
  ks::seed_states(seeds.data(), rows, state.get(), nullptr);
  SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
  {
    auto const s = state.download();
    for (int r = 0; r < rows; ++r) {
      INFO("row " << r << ": seed_states against generate::rng(" << seeds[static_cast<std::size_t>(r)] << ")");
      REQUIRE(std::vector<std::uint64_t>(s.begin() + 4 * r, s.begin() + 4 * r + 4) ==
              rng_words(gen::rng(seeds[static_cast<std::size_t>(r)])));
    }
  }
  std::size_t const ws_bytes = ks::sample_workspace_bytes(rows, vocab);
  device_array<char> ws(ws_bytes);
  device_array<float> dlogits(static_cast<std::size_t>(rows) * vocab);
  device_array<std::int32_t> dtokens(rows);
  std::vector<int> draws(rows, 0);
  run_stats st;

  for (int step = 0; step < steps; ++step) {
    std::vector<float> logits(static_cast<std::size_t>(rows) * vocab);
    for (int r = 0; r < rows; ++r)
      fill_logits(std::span<float>(logits).subspan(static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab)), g, step);
    auto const flat = flatten(history);
    device_array<std::int32_t> dh(flat.tokens), doff(flat.offsets);
    dlogits.upload(logits);
    dtokens.poison();
    ws.poison();
    ks::sample(dlogits.get(), rows, vocab, dp.get(), dh.get(), doff.get(), state.get(), dtokens.get(), ws.get(),
               ws_bytes, nullptr);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    auto const dev_tokens = dtokens.download();
    auto const dev_logits = dlogits.download();

    for (int r = 0; r < rows; ++r) {
      auto const& p = params[static_cast<std::size_t>(r)];
      std::span<float> row(logits.data() + static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab));
      std::vector<float> const before(row.begin(), row.end());
      // The host's draw, looked at before it is made: a copy of the sampler gives the uniform.
      bool near = false;
      if (p.temperature != 0.0f) {
        gen::sampler probe = host[static_cast<std::size_t>(r)];
        std::vector<float> pen(before);
        std::vector<double> dist;
        probe.distribution(pen, history[static_cast<std::size_t>(r)], dist);
        near = near_boundary(pen, p, probe.uniform());
        ++draws[static_cast<std::size_t>(r)];
        ++st.draws;
      }
      std::int32_t const want = host[static_cast<std::size_t>(r)](row, history[static_cast<std::size_t>(r)]);
      std::int32_t const got = dev_tokens[static_cast<std::size_t>(r)];
      st.near += near ? 1 : 0;
      std::size_t bad_logits = 0, first_bad = 0;
      for (std::size_t i = 0; i < row.size(); ++i)
        if (std::memcmp(&row[i], &dev_logits[static_cast<std::size_t>(r) * vocab + i], sizeof(float)) != 0)
          if (bad_logits++ == 0) first_bad = i;
      INFO("vocab " << vocab << (penalized ? ", penalized" : "") << ", step " << step << ", row " << r << " (T "
                    << p.temperature << ", top_k " << p.top_k << ", top_p " << p.top_p << ", min_p " << p.min_p
                    << ", penalty " << p.repetition_penalty << "): host token " << want << ", device " << got
                    << (near ? " (the draw is near a boundary)" : "") << "; " << bad_logits
                    << " logits differ after the penalty (first " << first_bad << ")");
      REQUIRE(bad_logits == 0);
      REQUIRE(got >= 0);
      REQUIRE(got < vocab);
      if (got != want) {
        REQUIRE(near);  // only a draw within sample_boundary of a boundary may differ
        ++st.excused;
      }
      history[static_cast<std::size_t>(r)].push_back(want);  // both sides continue from the host's token
    }
    ++st.steps;
  }
  // The draw counts: the device state equals a host rng advanced by the host's draws, and the next
  // uniform of each host sampler equals the device state's.
  auto const s = state.download();
  for (int r = 0; r < rows; ++r) {
    gen::rng ref(seeds[static_cast<std::size_t>(r)]);
    for (int i = 0; i < draws[static_cast<std::size_t>(r)]; ++i) (void)ref.next();
    std::vector<std::uint64_t> dev(s.begin() + 4 * r, s.begin() + 4 * r + 4);
    INFO("row " << r << ": " << draws[static_cast<std::size_t>(r)] << " draws on the host");
    REQUIRE(dev == rng_words(ref));
    REQUIRE(host[static_cast<std::size_t>(r)].uniform() == ks::rng_uniform(dev.data()));
  }
  std::printf("switchyard-record: requested=sample ran=sample check=tokens/vocab%d%s err=%d bound=0 nmse=0 "
              "nmse_bound=0 draws=%d near_boundary=%d excused=%d\n",
              vocab, penalized ? "/penalized" : "", st.excused, st.draws, st.near, st.excused);
  std::fflush(stdout);
  return st;
}

}  // namespace

TEST_CASE("device rng functions are generate::rng's (host side)", "[cuda][sample]") {
  for (std::uint64_t seed : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull}) {
    gen::rng ref(seed);
    std::uint64_t s[4];
    ks::rng_seed(seed, s);
    REQUIRE(std::vector<std::uint64_t>(s, s + 4) == rng_words(ref));
    for (int i = 0; i < 100; ++i) REQUIRE(ks::rng_next(s) == ref.next());
    REQUIRE(ks::rng_uniform(s) == ref.uniform());
  }
}

TEST_CASE("device sampler equals host draw for draw: vocab 1000", "[cuda][sample]") {
  run_steps(1000, false, 11);
  run_steps(1000, true, 12);
}
TEST_CASE("device sampler equals host draw for draw: vocab 32000", "[cuda][sample]") {
  run_steps(32000, false, 21);
  run_steps(32000, true, 22);
}
TEST_CASE("device sampler equals host draw for draw: vocab 151936", "[cuda][sample]") {
  run_steps(151936, false, 31);
  run_steps(151936, true, 32);
}

TEST_CASE("device sampler replayed from a captured CUDA graph equals host", "[cuda][sample]") {
  constexpr int rows = 8, vocab = 32000, steps = 10;
  auto const params = row_params(true, 41);
  std::vector<gen::sampler> host;
  std::vector<ks::device_sampling_params> dparams;
  std::vector<std::uint64_t> seeds;
  for (auto const& p : params) host.emplace_back(p), dparams.push_back(to_device(p)), seeds.push_back(p.seed);
  // A fixed history buffer: each row's history is its first `len` tokens (the graph sees fixed
  // pointers; the offsets are rewritten before each replay).
  constexpr int cap = 64;
  std::vector<std::vector<std::int32_t>> history(rows, std::vector<std::int32_t>{3, 3, vocab - 1, 0});
  device_array<ks::device_sampling_params> dp(dparams);
  device_array<std::uint64_t> state(static_cast<std::size_t>(rows) * 4);
  std::size_t const ws_bytes = ks::sample_workspace_bytes(rows, vocab);
  device_array<char> ws(ws_bytes);
  device_array<float> dlogits(static_cast<std::size_t>(rows) * vocab);
  device_array<std::int32_t> dtokens(rows), dh(static_cast<std::size_t>(rows) * cap), doff(rows + 1);
  cudaStream_t stream;
  // A blocking stream: the uploads and poisoning below (default stream) are ordered before each replay.
  SWITCHYARD_CUDA_CHECK(cudaStreamCreate(&stream));
  ks::seed_states(seeds.data(), rows, state.get(), stream);
  SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  SWITCHYARD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  ks::sample(dlogits.get(), rows, vocab, dp.get(), dh.get(), doff.get(), state.get(), dtokens.get(), ws.get(), ws_bytes,
             stream);
  SWITCHYARD_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  SWITCHYARD_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  std::mt19937_64 g(41);
  int mismatches = 0, near = 0;
  for (int step = 0; step < steps; ++step) {
    std::vector<float> logits(static_cast<std::size_t>(rows) * vocab);
    for (int r = 0; r < rows; ++r)
      fill_logits(std::span<float>(logits).subspan(static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab)), g, step);
    std::vector<std::int32_t> flat(static_cast<std::size_t>(rows) * cap, -1), offsets(rows + 1);
    for (int r = 0; r < rows; ++r) {
      auto const& h = history[static_cast<std::size_t>(r)];
      REQUIRE(static_cast<int>(h.size()) <= cap);
      std::copy(h.begin(), h.end(), flat.begin() + static_cast<std::ptrdiff_t>(r) * cap);
      offsets[static_cast<std::size_t>(r)] = r * cap;  // row r: [r cap, r cap + len) -- then -1 padding,
    }
    offsets[rows] = rows * cap;  // which both sides ignore (ids outside the vocabulary)
    dh.upload(flat);
    doff.upload(offsets);
    dlogits.upload(logits);
    dtokens.poison();
    ws.poison();
    SWITCHYARD_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    SWITCHYARD_CUDA_CHECK(cudaStreamSynchronize(stream));
    auto const got = dtokens.download();
    for (int r = 0; r < rows; ++r) {
      std::span<float> row(logits.data() + static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab));
      std::vector<std::int32_t> padded(flat.begin() + static_cast<std::ptrdiff_t>(r) * cap,
                                       flat.begin() + static_cast<std::ptrdiff_t>(r + 1) * cap);
      bool nb = false;
      if (params[static_cast<std::size_t>(r)].temperature != 0.0f) {
        gen::sampler probe = host[static_cast<std::size_t>(r)];
        std::vector<float> pen(row.begin(), row.end());
        std::vector<double> dist;
        probe.distribution(pen, padded, dist);
        nb = near_boundary(pen, params[static_cast<std::size_t>(r)], probe.uniform());
      }
      std::int32_t const want = host[static_cast<std::size_t>(r)](row, padded);
      near += nb ? 1 : 0;
      INFO("graph replay " << step << ", row " << r << ": host " << want << ", device " << got[static_cast<std::size_t>(r)]);
      if (got[static_cast<std::size_t>(r)] != want) {
        REQUIRE(nb);
        ++mismatches;
      }
      history[static_cast<std::size_t>(r)].push_back(want);
    }
  }
  std::printf("switchyard-record: requested=sample/graph ran=sample/graph check=tokens err=%d bound=0 nmse=0 "
              "nmse_bound=0 near_boundary=%d\n",
              mismatches, near);
  std::fflush(stdout);
  SWITCHYARD_CUDA_CHECK(cudaGraphExecDestroy(exec));
  SWITCHYARD_CUDA_CHECK(cudaGraphDestroy(graph));
  SWITCHYARD_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST_CASE("device sampler with the all-greedy hint equals host, and marks a non-greedy row -1", "[cuda][sample]") {
  constexpr int rows = 8, vocab = 32000, steps = 20;
  std::vector<gen::sampling_params> params(rows);
  for (int r = 0; r < rows; ++r)  // greedy; every other row with a repetition penalty
    params[static_cast<std::size_t>(r)] = {.temperature = 0.0f, .repetition_penalty = r % 2 ? 1.4f : 1.0f,
                                           .seed = 100u + static_cast<std::uint64_t>(r)};
  std::vector<gen::sampler> host;
  std::vector<ks::device_sampling_params> dparams;
  std::vector<std::uint64_t> seeds;
  for (auto const& p : params) host.emplace_back(p), dparams.push_back(to_device(p)), seeds.push_back(p.seed);
  std::vector<std::vector<std::int32_t>> history(rows, std::vector<std::int32_t>{1, 1, vocab - 1, 0, 0});
  device_array<ks::device_sampling_params> dp(dparams);
  device_array<std::uint64_t> state(static_cast<std::size_t>(rows) * 4);
  ks::seed_states(seeds.data(), rows, state.get(), nullptr);
  std::size_t const ws_bytes = ks::sample_workspace_bytes(rows, vocab);
  device_array<char> ws(ws_bytes);
  device_array<float> dlogits(static_cast<std::size_t>(rows) * vocab);
  device_array<std::int32_t> dtokens(rows);
  std::mt19937_64 g(51);
  auto step_once = [&](int step, std::vector<std::int32_t>& got, std::vector<float>& logits) {
    logits.assign(static_cast<std::size_t>(rows) * vocab, 0.0f);
    for (int r = 0; r < rows; ++r)
      fill_logits(std::span<float>(logits).subspan(static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab)), g, step);
    auto const flat = flatten(history);
    device_array<std::int32_t> dh(flat.tokens), doff(flat.offsets);
    dlogits.upload(logits);
    dtokens.poison();
    ws.poison();
    ks::sample(dlogits.get(), rows, vocab, dp.get(), dh.get(), doff.get(), state.get(), dtokens.get(), ws.get(),
               ws_bytes, nullptr, /*all_greedy=*/true);
    SWITCHYARD_CUDA_CHECK(cudaGetLastError());
    SWITCHYARD_CUDA_CHECK(cudaDeviceSynchronize());
    got = dtokens.download();
    return dlogits.download();
  };
  for (int step = 0; step < steps; ++step) {
    std::vector<std::int32_t> got;
    std::vector<float> logits;
    auto const dev_logits = step_once(step, got, logits);
    for (int r = 0; r < rows; ++r) {
      std::span<float> row(logits.data() + static_cast<std::size_t>(r) * vocab, static_cast<std::size_t>(vocab));
      std::int32_t const want = host[static_cast<std::size_t>(r)](row, history[static_cast<std::size_t>(r)]);
      INFO("all-greedy step " << step << ", row " << r);
      REQUIRE(got[static_cast<std::size_t>(r)] == want);
      REQUIRE(std::memcmp(row.data(), dev_logits.data() + static_cast<std::size_t>(r) * vocab,
                          static_cast<std::size_t>(vocab) * sizeof(float)) == 0);
      history[static_cast<std::size_t>(r)].push_back(want);
    }
  }
  // Row 3 is not greedy after all: the hint makes its token -1, and nobody draws.
  dparams[3].temperature = 1.0f;
  dp.upload(dparams);
  std::vector<std::int32_t> got;
  std::vector<float> logits;
  (void)step_once(steps, got, logits);
  for (int r = 0; r < rows; ++r) {
    INFO("row " << r << " after the broken hint: token " << got[static_cast<std::size_t>(r)]);
    if (r == 3) REQUIRE(got[3] == -1);
    else REQUIRE(got[static_cast<std::size_t>(r)] >= 0);
  }
  auto const s = state.download();
  for (int r = 0; r < rows; ++r)
    REQUIRE(std::vector<std::uint64_t>(s.begin() + 4 * r, s.begin() + 4 * r + 4) ==
            rng_words(gen::rng(seeds[static_cast<std::size_t>(r)])));
  std::printf("switchyard-record: requested=sample/all_greedy ran=sample/all_greedy check=tokens err=0 bound=0 "
              "nmse=0 nmse_bound=0\n");
  std::fflush(stdout);
}

TEST_CASE("device sampler rejects a workspace smaller than it needs", "[cuda][sample]") {
  device_array<char> ws(16);
  REQUIRE_THROWS_WITH(ks::sample(nullptr, 2, 100, nullptr, nullptr, nullptr, nullptr, nullptr, ws.get(), 16, nullptr),
                      Catch::Contains("kernels::sample::sample") && Catch::Contains("workspace"));
}
