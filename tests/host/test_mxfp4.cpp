// MXFP4 (gpt-oss's expert weights) against its peers (tests/data/mxfp4_reference.*, written by
// tools/make_mxfp4_reference.py): blocks dequantize to the gguf package's floats and f32 rows
// quantize to its bytes, bit for bit; Hugging Face rows convert to ggml's blocks byte for byte and
// to transformers' values; GGUF files with MXFP4 tensors (type 39) read and write. linear<mxfp4>
// (GEMV and GEMM, every ISA, odd row counts, poisoned outputs) against a float64 product on the
// dequantized weights, and a gpt-oss MoE layer on mxfp4 experts against the same layer in f32.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <vector>

#include "support/isas.hpp"
#include "support/poison.hpp"
#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/core/concepts.hpp"
#include "switchyard/core/format/mxfp4.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/linear/linear.hpp"
#include "switchyard/route/families.hpp"

namespace sy = switchyard;
namespace fmt = switchyard::format;
namespace tol = sy::test::tolerance;
using sy::index_t;
using Tr = fmt::traits<fmt::mxfp4>;

static_assert(sy::format_type<fmt::mxfp4> && !sy::scalar_format<fmt::mxfp4>);
static_assert(Tr::block_elems == 32 && Tr::block_bytes == 17 && sizeof(fmt::mxfp4) == 17);
static_assert(sy::io::info(sy::io::dtype::mxfp4).block_bytes == 17 && sy::io::info(sy::io::dtype::mxfp4).block_elems == 32);
static_assert(fmt::e8m0_half(128) == 1.0f && fmt::e8m0_half(127) == 0.5f && fmt::e8m0_half(255) == 0x1p127f &&
              fmt::e8m0_half(1) == 0x1p-127f && fmt::e8m0_half(0) == 0x1p-128f);

namespace {

std::vector<fmt::mxfp4> blocks_from(std::vector<std::uint8_t> const& bytes) {
  REQUIRE(bytes.size() % sizeof(fmt::mxfp4) == 0);
  std::vector<fmt::mxfp4> b(bytes.size() / sizeof(fmt::mxfp4));
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

// Random blocks: every code equally likely, exponents around 2^0 (e - 128 in [-9, 3]).
std::vector<fmt::mxfp4> random_blocks(std::size_t n, std::mt19937& g) {
  std::uniform_int_distribution<int> byte(0, 255), e(119, 131);
  std::vector<fmt::mxfp4> b(n);
  for (auto& blk : b) {
    blk.e = static_cast<std::uint8_t>(e(g));
    for (auto& q : blk.qs) q = static_cast<std::uint8_t>(byte(g));
  }
  return b;
}

std::vector<float> dequantized(std::vector<fmt::mxfp4> const& b) {
  std::vector<float> w(b.size() * 32);
  for (std::size_t i = 0; i < b.size(); ++i) Tr::dequantize(&b[i], w.data() + 32 * i);
  return w;
}

// linear<mxfp4> on [N, K] blocks against a float64 product on the same (dequantized) weights:
// GEMV rows 1..8, GEMM rows 9, 23, 70, with a bias, outputs poisoned first.
template <class Isa>
void check_linear(std::vector<fmt::mxfp4> const& q, index_t N, index_t K, sy::thread_pool& pool, std::mt19937& g) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> const w = dequantized(q);
  std::vector<float> bias(N);
  for (auto& v : bias) v = d(g);
  sy::linear<fmt::mxfp4> layer(sy::make_view(q.data(), N, K / 32), sy::make_view(static_cast<float const*>(bias.data()), N));
  REQUIRE(layer.in_features() == K);
  for (index_t T : {1, 2, 3, 5, 8, 9, 23, 70}) {
    std::vector<float> x(T * K), y(T * N);
    for (auto& v : x) v = d(g);
    sy::test::poison({y.data(), y.size()});
    layer.template operator()<Isa>(sy::make_view(static_cast<float const*>(x.data()), T, K), sy::make_view(y.data(), T, N), pool);
    for (index_t t = 0; t < T; ++t)
      for (index_t n = 0; n < N; ++n) {
        double want = bias[n], mag = std::fabs(bias[n]);
        for (index_t k = 0; k < K; ++k) {
          double const p = double(x[t * K + k]) * w[n * K + k];
          want += p, mag += std::fabs(p);
        }
        INFO("mxfp4 on " << Isa::name << ", N = " << N << ", K = " << K << ", T = " << T << ", row " << t << ", feature " << n);
        REQUIRE(std::fabs(double(y[t * N + n]) - want) <= tol::linear(K) * mag);
      }
  }
}

}  // namespace

TEST_CASE("mxfp4 dequantizes the gguf package's blocks bit for bit", "[quant][mxfp4]") {
  sy::test::reference_file ref("mxfp4_reference.safetensors");
  auto const blocks = blocks_from(ref.get("dequant.bytes").as<std::uint8_t>());
  auto const want = ref.get("dequant.y").as<float>();
  REQUIRE(want.size() == blocks.size() * 32);
  float got[32];
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    Tr::dequantize(&blocks[b], got);
    for (int i = 0; i < 32; ++i)
      if (std::memcmp(&got[i], &want[b * 32 + i], 4) != 0)
        FAIL("block " << b << " (e = " << int(blocks[b].e) << ") element " << i << ": " << got[i] << " but gguf gives "
                      << want[b * 32 + i]);
  }
}

TEST_CASE("mxfp4 quantizes f32 rows to the gguf package's bytes", "[quant][mxfp4]") {
  sy::test::reference_file ref("mxfp4_reference.safetensors");
  auto const x = ref.get("quant.x").as<float>();
  auto const want = ref.get("quant.bytes").as<std::uint8_t>();
  REQUIRE(want.size() == x.size() / 32 * 17);
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    fmt::mxfp4 q;
    Tr::quantize(x.data() + 32 * b, &q);
    auto const* p = reinterpret_cast<std::uint8_t const*>(&q);
    for (int i = 0; i < 17; ++i)
      if (p[i] != want[17 * b + i])
        FAIL("block " << b << " byte " << i << ": " << int(p[i]) << " but gguf writes " << int(want[17 * b + i]));
  }
}

TEST_CASE("mxfp4's quantizer: noise within bounds, zeros, clamped exponents", "[quant][mxfp4]") {
  std::mt19937 g(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(256 * 64), y(32);
  for (auto& v : x) v = d(g);
  double num = 0, den = 0;
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    fmt::mxfp4 q;
    Tr::quantize(x.data() + 32 * b, &q);
    Tr::dequantize(&q, y.data());
    for (int i = 0; i < 32; ++i) {
      double const e = double(y[i]) - x[32 * b + i];
      num += e * e, den += double(x[32 * b + i]) * x[32 * b + i];
    }
  }
  INFO("NMSE " << num / den);
  CHECK(num / den < tol::quant_nmse::mxfp4);
  fmt::mxfp4 q;
  std::vector<float> z(32, 0.0f);
  Tr::quantize(z.data(), &q);
  CHECK(q.e == 0);
  for (auto c : q.qs) CHECK(c == 0);
  // Below 2^-125 ggml's exponent wraps around u8; ours stays at the smallest scale, 2^-128.
  z[3] = 0x1p-127f, z[4] = -0x1p-130f;
  Tr::quantize(z.data(), &q);
  Tr::dequantize(&q, y.data());
  CHECK(q.e == 0);
  CHECK(y[3] == 0x1p-127f);
  CHECK(y[4] == 0.0f);
  // Not finite: the largest finite exponent; NaNs take code 0, as ggml's search leaves them.
  z[3] = INFINITY, z[4] = NAN;
  Tr::quantize(z.data(), &q);
  CHECK(q.e == 254);
  CHECK((q.qs[4] & 0x0F) == 0);
}

TEST_CASE("Hugging Face MXFP4 rows convert to ggml's blocks and to transformers' values", "[quant][mxfp4]") {
  sy::test::reference_file ref("mxfp4_reference.safetensors");
  auto const bt = ref.get("hf.blocks");
  std::size_t const rows = static_cast<std::size_t>(bt.shape[0]), groups = static_cast<std::size_t>(bt.shape[1]);
  REQUIRE(bt.shape[2] == 16);
  auto const blocks = bt.as<std::uint8_t>(), scales = ref.get("hf.scales").as<std::uint8_t>();
  auto const ggml = ref.get("hf.ggml").as<std::uint8_t>();
  auto const want = ref.get("hf.y").as<float>();
  REQUIRE(want.size() == rows * groups * 32);
  std::vector<fmt::mxfp4> row(groups);
  float got[32];
  int negative_zeros = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    fmt::mxfp4_from_hf(blocks.data() + r * groups * 16, scales.data() + r * groups, groups, row.data());
    REQUIRE(std::memcmp(row.data(), ggml.data() + r * groups * 17, groups * 17) == 0);
    for (std::size_t gi = 0; gi < groups; ++gi) {
      Tr::dequantize(&row[gi], got);
      for (int i = 0; i < 32; ++i) {
        float const w = want[(r * groups + gi) * 32 + i];
        INFO("row " << r << " group " << gi << " element " << i << ": " << got[i] << ", transformers " << w);
        if (w == 0.0f && std::signbit(w)) {  // transformers' code 8 is -0.0; ggml's +0
          ++negative_zeros;
          REQUIRE(std::memcmp(&got[i], &w, 4) != 0);
          REQUIRE(got[i] == 0.0f);
        } else {
          REQUIRE(std::memcmp(&got[i], &w, 4) == 0);
        }
      }
    }
  }
  CHECK(negative_zeros > 0);
}

TEST_CASE("GGUF files with MXFP4 tensors (ggml type 39) read, validate and write", "[quant][mxfp4][io]") {
  namespace io = sy::io;
  sy::test::reference_file ref("mxfp4_reference.safetensors");
  auto const bytes = ref.get("gguf.bytes").as<std::uint8_t>();
  io::gguf_file f(std::filesystem::path(SWITCHYARD_TEST_DATA_DIR) / "mxfp4_reference.gguf");
  auto const& t = f.at("blk.0.ffn_gate_exps.weight");
  CHECK(t.dtype == io::dtype::mxfp4);
  CHECK(t.shape == std::vector<std::int64_t>{2, 3, 64});
  REQUIRE(t.data.size() == bytes.size());
  CHECK(std::memcmp(t.data.data(), bytes.data(), bytes.size()) == 0);
  std::uint32_t id = 0;
  CHECK((io::dtype_to_ggml(io::dtype::mxfp4, id) && id == 39));
  std::int64_t const ok[] = {3, 64}, ragged[] = {3, 48};
  CHECK(io::tensor_bytes(io::dtype::mxfp4, ok) == 3 * 2 * 17);
  CHECK(io::tensor_bytes(io::dtype::mxfp4, ragged) == -1);

  auto const path = std::filesystem::temp_directory_path() / "switchyard_test_mxfp4.gguf";
  io::gguf_writer w;
  w.add_tensor("w", io::dtype::mxfp4, {2, 3, 64}, std::as_bytes(std::span<std::uint8_t const>(bytes)));
  w.write(path.string());
  {
    io::gguf_file back(path);
    auto const& tb = back.at("w");
    CHECK(tb.dtype == io::dtype::mxfp4);
    CHECK(tb.shape == std::vector<std::int64_t>{2, 3, 64});
    CHECK(std::memcmp(tb.data.data(), bytes.data(), bytes.size()) == 0);
  }
  std::filesystem::remove(path);
}

TEMPLATE_LIST_TEST_CASE("linear<mxfp4> equals a float64 product on its dequantized weights", "[quant][mxfp4][linear]",
                        sy::test::all_isas) {
  using Isa = TestType;
  if (!sy::test::runnable<Isa>()) return;
  sy::thread_pool pool(3);
  std::mt19937 g(7);
  // N = 37: not a multiple of any row tile; K = 32 (one block), 96, and 6176 (x past L1: the
  // AVX-512 GEMV takes several weight rows per load of x, with 37 % 4 rows left over).
  for (index_t K : {32, 96, 6176}) check_linear<Isa>(random_blocks(std::size_t(37 * K / 32), g), 37, K, pool, g);
  // Quantized normal weights (codes as a real model has them), 1 and 5 output features.
  std::normal_distribution<float> d(0.0f, 0.05f);
  for (index_t N : {1, 5}) {
    index_t const K = 320;
    std::vector<float> wf(N * K);
    for (auto& v : wf) v = d(g);
    std::vector<fmt::mxfp4> q(std::size_t(N * K / 32));
    for (std::size_t b = 0; b < q.size(); ++b) Tr::quantize(wf.data() + 32 * b, &q[b]);
    check_linear<Isa>(q, N, K, pool, g);
  }
}

TEST_CASE("a gpt-oss MoE layer runs on mxfp4 experts as on their dequantized weights", "[quant][mxfp4][moe]") {
  index_t const E = 4, H = 96, F = 64, T = 19;
  std::mt19937 g(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  // Blocks with exponents scaled to ~unit outputs: codes ~ 4 in size, so 2^(e-128) ~ 1 / (4 sqrt(K)).
  auto blocks = [&](std::size_t n, int e) {
    auto b = random_blocks(n, g);
    for (auto& blk : b) blk.e = static_cast<std::uint8_t>(e + int(blk.e % 2));
    return b;
  };
  auto const gq = blocks(std::size_t(E * 2 * F * H / 32), 128 - 6), dq = blocks(std::size_t(E * H * F / 32), 128 - 5);
  auto const gf = dequantized(gq), df = dequantized(dq);
  std::vector<float> gub(E * 2 * F), dnb(E * H), gate(E * H), gate_bias(E), x(T * H);
  for (auto& v : gub) v = 0.1f * d(g);
  for (auto& v : dnb) v = 0.1f * d(g);
  for (auto& v : gate) v = 3.0f * d(g) / std::sqrt(float(H));
  for (auto& v : gate_bias) v = 0.1f * d(g);
  for (auto& v : x) v = d(g);
  using qbank = sy::expert::glu_experts<fmt::mxfp4, sy::expert::gpt_oss_glu>;
  using fbank = sy::expert::glu_experts<float, sy::expert::gpt_oss_glu>;
  auto const gubv = sy::make_view<float const>(gub.data(), E, 2 * F), dnbv = sy::make_view<float const>(dnb.data(), E, H);
  qbank const qe(sy::tensor_view<fmt::mxfp4 const, sy::dextents<3>>(gq.data(), sy::dextents<3>(E, 2 * F, H / 32)),
                 sy::tensor_view<fmt::mxfp4 const, sy::dextents<3>>(dq.data(), sy::dextents<3>(E, H, F / 32)), gubv, dnbv);
  fbank const fe(sy::tensor_view<float const, sy::dextents<3>>(gf.data(), sy::dextents<3>(E, 2 * F, H)),
                 sy::tensor_view<float const, sy::dextents<3>>(df.data(), sy::dextents<3>(E, H, F)), gubv, dnbv);
  REQUIRE(qe.hidden() == H);
  REQUIRE(qe.intermediate() == F);
  auto const gv = sy::make_view(static_cast<float const*>(gate.data()), E, H);
  auto const gbv = sy::make_view(static_cast<float const*>(gate_bias.data()), E);
  sy::expert::moe<sy::route::gpt_oss<2>, qbank> qlayer(gv, qe, gbv);
  sy::expert::moe<sy::route::gpt_oss<2>, fbank> flayer(gv, fe, gbv);
  sy::expert::moe_workspace ws;
  sy::thread_pool pool(2);
  for (index_t rows : {index_t{3}, T}) {  // decode (GEMV) and prefill (GEMM) per expert
    std::vector<float> y(rows * H), want(rows * H);
    sy::test::poison({y.data(), y.size()});
    qlayer(sy::make_view(static_cast<float const*>(x.data()), rows, H), sy::make_view(y.data(), rows, H), ws, {}, pool);
    flayer(sy::make_view(static_cast<float const*>(x.data()), rows, H), sy::make_view(want.data(), rows, H), ws, {}, pool);
    double const bound = tol::moe_output(H, F, 2);
    for (index_t t = 0; t < rows; ++t) {
      double scale = 0;
      for (index_t i = 0; i < H; ++i) scale = std::max(scale, double(std::fabs(want[t * H + i])));
      REQUIRE(scale > 0.1);
      for (index_t i = 0; i < H; ++i) {
        INFO("rows " << rows << " token " << t << " element " << i);
        REQUIRE(std::fabs(double(y[t * H + i]) - want[t * H + i]) <= bound * scale);
      }
    }
  }
}
