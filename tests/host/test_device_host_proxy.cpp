// device::host_proxy (kernels/switchyard/device/host_proxy.hpp), the host half of the bridge to the
// device model, over a stand-in for the CUDA half: a switchyard_device_abi::model that runs a host
// model. The proxy must give what the host model gives directly -- the same logits bit for bit
// (prefill, decode, a mixed call with every row, last_rows 2), the same lengths, free blocks after
// truncate and release, a released sequence reusable -- throw the host's own allocation_error when
// the other side fails for a full cache (and change no length), refuse a foreign sequence, and
// hand forward_sample each request's random state and history, taking the advanced state back:
// the tokens and the streams equal generate::sampler's on the same logits. No GPU: the CUDA half
// (device/abi_model.cuh) is compiled by the device tests.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/device/host_proxy.hpp"
#include "switchyard/generate/sampler.hpp"
#include "switchyard/model/load.hpp"

namespace sy = switchyard;
namespace md = switchyard::model;
namespace abi = switchyard_device_abi;

namespace {

md::load_options options(sy::index_t blocks) {
  md::load_options o;
  o.activations = md::activation_format::f32;
  o.cache = {.block_size = 16, .blocks = blocks};
  return o;
}

// The stand-in for the CUDA half: handles into a table of host sequences, failures as abi::failure.
class host_device final : public abi::model {
 public:
  explicit host_device(std::unique_ptr<md::language_model> lm) : lm_(std::move(lm)) {}
  std::int32_t new_sequence() override {
    seqs_.push_back(lm_->new_sequence());
    return static_cast<std::int32_t>(seqs_.size() - 1);
  }
  void release(std::int32_t h) override { lm_->release(seqs_.at(static_cast<std::size_t>(h))); }
  void truncate(std::int32_t h, std::int64_t n) override { lm_->truncate(seqs_.at(static_cast<std::size_t>(h)), n); }
  std::int64_t length(std::int32_t h) const override { return seqs_.at(static_cast<std::size_t>(h)).length(); }
  void forward(abi::step const* steps, std::size_t count, float* logits, std::int64_t rows, std::int64_t ld,
               bool all) override {
    auto const s = convert(steps, count);
    sy::matrix_view<float> out(logits, sy::dextents<2>(rows, lm_->config().vocab), sy::strides<2>{{ld, 1}});
    guard([&] { lm_->forward(s, out, all ? md::which_logits::all : md::which_logits::last); });
  }
  void forward_sample(abi::step const* steps, std::size_t count, abi::sample_row const* rows, std::int32_t* out) override {
    sy::index_t const V = lm_->config().vocab;
    std::vector<float> logits(count * static_cast<std::size_t>(V));
    forward(steps, count, logits.data(), static_cast<std::int64_t>(count), V, false);
    for (std::size_t i = 0; i < count; ++i) {
      auto const& r = rows[i];
      if (!r.sample) continue;
      sy::generate::sampler s({.temperature = r.temperature, .top_k = r.top_k, .top_p = r.top_p, .min_p = r.min_p,
                               .repetition_penalty = r.repetition_penalty});
      s.random_stream().set_state({r.state[0], r.state[1], r.state[2], r.state[3]});
      out[i] = s(std::span<float>(logits.data() + i * static_cast<std::size_t>(V), static_cast<std::size_t>(V)),
                 std::span<std::int32_t const>(r.history, static_cast<std::size_t>(r.history_size)));
      auto const st = s.random_stream().state();
      for (int w = 0; w < 4; ++w) r.state[w] = st[static_cast<std::size_t>(w)];
    }
  }
  std::int64_t free_blocks() const override { return lm_->free_blocks(); }
  std::int64_t block_size() const override { return lm_->cache_block_size(); }
  std::int64_t vocab() const override { return lm_->config().vocab; }
  std::size_t handles() const { return seqs_.size(); }

 private:
  template <class F>
  static void guard(F&& f) {
    try {
      f();
    } catch (sy::allocation_error const& e) {
      throw abi::failure(abi::failure_kind::allocation_error, e.what());
    } catch (sy::error const& e) {
      throw abi::failure(abi::failure_kind::error, e.what());
    }
  }
  std::vector<md::step> convert(abi::step const* steps, std::size_t count) {
    std::vector<md::step> s;
    for (std::size_t i = 0; i < count; ++i)
      s.push_back({&seqs_.at(static_cast<std::size_t>(steps[i].sequence)),
                   std::span<std::int32_t const>(steps[i].tokens, static_cast<std::size_t>(steps[i].count)),
                   static_cast<sy::index_t>(steps[i].last_rows)});
    return s;
  }
  std::unique_ptr<md::language_model> lm_;
  std::vector<md::sequence> seqs_;
};

struct pair_of_models {
  std::unique_ptr<md::language_model> ref;  // the host model, called directly
  host_device* device = nullptr;            // owned by the proxy
  std::unique_ptr<sy::device::host_proxy> proxy;
};

pair_of_models open(std::string const& path, sy::index_t blocks = 64) {
  pair_of_models p;
  p.ref = md::load(path, options(blocks));
  auto dev = std::make_unique<host_device>(md::load(path, options(blocks)));
  p.device = dev.get();
  p.proxy = std::make_unique<sy::device::host_proxy>(std::move(dev), p.ref->config());
  return p;
}

std::vector<float> run(md::language_model& lm, std::vector<md::step> const& steps, sy::index_t rows,
                       md::which_logits which = md::which_logits::last) {
  std::vector<float> out(static_cast<std::size_t>(rows * lm.config().vocab), -1.0f);
  lm.forward(steps, sy::make_view(out.data(), rows, lm.config().vocab), which);
  return out;
}

std::vector<std::int32_t> prompt_of(int n, int salt) {
  std::vector<std::int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<std::int32_t>((i * 37 + 11 + salt * 101) % 256));
  return p;
}

}  // namespace

TEST_CASE("host_proxy gives the logits, lengths and blocks of the model behind it", "[device][proxy]") {
  auto m = open(std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/mixtral");
  auto& ref = *m.ref;
  auto& px = *m.proxy;
  REQUIRE(px.config().vocab == ref.config().vocab);
  auto a = ref.new_sequence(), b = ref.new_sequence();
  auto pa = px.new_sequence(), pb = px.new_sequence();
  auto const p1 = prompt_of(7, 1), p2 = prompt_of(4, 2);
  // A prefill of two prompts, every row.
  CHECK(run(px, {{&pa, p1}, {&pb, p2}}, 11, md::which_logits::all) == run(ref, {{&a, p1}, {&b, p2}}, 11, md::which_logits::all));
  CHECK(pa.length() == 7);
  CHECK(pb.length() == 4);
  CHECK(px.free_blocks() == ref.free_blocks());
  // Decode, then a mixed call with last_rows 2.
  std::vector<std::int32_t> const t1 = {5}, t2 = {9}, chunk = prompt_of(3, 3);
  CHECK(run(px, {{&pa, t1}, {&pb, t2}}, 2) == run(ref, {{&a, t1}, {&b, t2}}, 2));
  CHECK(run(px, {{&pa, chunk, 2}, {&pb, t1}}, 3) == run(ref, {{&a, chunk, 2}, {&b, t1}}, 3));
  CHECK(pa.length() == a.length());
  // Truncate and release mirror the device side; a released sequence is used again.
  px.truncate(pa, 3);
  ref.truncate(a, 3);
  CHECK(px.free_blocks() == ref.free_blocks());
  CHECK(run(px, {{&pa, t2}}, 1) == run(ref, {{&a, t2}}, 1));
  px.release(pb);
  ref.release(b);
  CHECK(pb.length() == 0);
  CHECK(px.free_blocks() == ref.free_blocks());
  CHECK(run(px, {{&pb, p1}}, 1) == run(ref, {{&b, p1}}, 1));
  CHECK(m.device->handles() == 3);  // pb took a new twin after its release
  // A sequence of another model is refused before the device is asked.
  auto foreign = ref.new_sequence();
  CHECK_THROWS_AS(run(px, {{&foreign, t1}}, 1), sy::invalid_argument);
}

TEST_CASE("host_proxy throws the host's allocation_error for a full device cache, changing no length",
          "[device][proxy]") {
  auto m = open(std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/llama", 2);
  auto& px = *m.proxy;
  auto s = px.new_sequence();
  auto const long_prompt = prompt_of(40, 4);
  CHECK_THROWS_AS(run(px, {{&s, long_prompt}}, 1), sy::allocation_error);
  CHECK(s.length() == 0);
  CHECK(px.free_blocks() == 2);
  auto const ok = prompt_of(20, 5);
  (void)run(px, {{&s, ok}}, 1);
  CHECK(s.length() == 20);
}

TEST_CASE("host_proxy forward_sample carries each request's random state and history across", "[device][proxy]") {
  auto m = open(std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/qwen3_moe");
  auto& px = *m.proxy;
  auto& ref = *m.ref;
  int const V = static_cast<int>(ref.config().vocab);
  sy::generate::sampling_params p;
  p.temperature = 0.8f;
  p.top_k = 50;
  p.repetition_penalty = 1.2f;
  p.seed = 77;
  sy::generate::rng stream(p.seed), idle(5);
  auto const idle_before = idle.state();
  sy::generate::sampler host(p);
  auto a = px.new_sequence(), b = px.new_sequence(), r = ref.new_sequence();
  std::vector<std::int32_t> history = prompt_of(8, 6), feed = history;
  auto const other = prompt_of(5, 7);
  for (int step = 0; step < 5; ++step) {
    std::vector<md::step> const steps = {{&a, feed}, {&b, step == 0 ? std::span<std::int32_t const>(other) : std::span<std::int32_t const>(feed)}};
    std::vector<sy::generate::sample_request> const req = {{.sample = true, .params = &p, .stream = &stream, .history = history},
                                                           {.sample = false, .params = nullptr, .stream = &idle, .history = {}}};
    std::vector<std::int32_t> out = {-1, -7};
    px.forward_sample(steps, req, out);
    auto logits = run(ref, {{&r, feed}}, 1);
    std::int32_t const want = host(std::span<float>(logits.data(), static_cast<std::size_t>(V)), history);
    CHECK(out[0] == want);
    CHECK(out[1] == -7);
    CHECK(stream.state() == host.random_stream().state());
    history.push_back(want);
    feed = {want};
  }
  CHECK(idle.state() == idle_before);
  CHECK(a.length() == r.length());
}
