// RoPE against transformers' rope-init functions and apply_rotary_pos_emb
// (tests/data/attention_rope.safetensors): default, linear, yarn with DeepSeek's mscale pair,
// partial rotary, rotate-half and interleaved layouts, positions up to 70000.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "support/reference_file.hpp"
#include "support/tolerance.hpp"
#include "switchyard/attention/rope.hpp"

namespace sy = switchyard;
namespace at = switchyard::attention;
namespace tol = sy::test::tolerance;

namespace {
at::rope_config config_from(std::vector<double> const& p) {
  at::rope_config c;
  c.head_dim = static_cast<sy::index_t>(p[0]);
  c.rotary_dim = static_cast<sy::index_t>(p[1]);
  c.theta = p[2];
  c.layout = p[3] == 0 ? at::rope_layout::rotate_half : at::rope_layout::interleaved;
  int const kind = static_cast<int>(p[4]);
  c.scaling.type = kind == 0 ? at::rope_scaling::kind::none
                   : kind == 1 ? at::rope_scaling::kind::linear
                               : at::rope_scaling::kind::yarn;
  c.scaling.factor = p[5];
  c.scaling.original_max_position = static_cast<sy::index_t>(p[6]);
  c.scaling.beta_fast = p[7];
  c.scaling.beta_slow = p[8];
  c.scaling.mscale = p[9];
  c.scaling.mscale_all_dim = p[10];
  return c;
}
}  // namespace

TEST_CASE("rope matches transformers for every layout and scaling", "[rope]") {
  sy::test::reference_file ref("attention_rope.safetensors");
  int cases = 0;
  for (int i = 0; ref.contains("case" + std::to_string(i) + ".x"); ++i, ++cases) {
    std::string const c = "case" + std::to_string(i);
    auto const cfg = config_from(ref.get(c + ".params").as<double>());
    at::rotary_embedding rope(cfg);
    // inv_freq computed the way transformers computes it: equal to the last bit but where
    // PyTorch's pow is off by an ulp (rare), and then within one ulp.
    auto const inv = ref.get(c + ".inv_freq").as<float>();
    REQUIRE(rope.inv_freq().size() == inv.size());
    std::size_t exact = 0;
    for (std::size_t j = 0; j < inv.size(); ++j) {
      INFO(c << " inv_freq[" << j << "]");
      exact += rope.inv_freq()[j] == inv[j];
      CHECK(std::fabs(rope.inv_freq()[j] - inv[j]) <= std::ldexp(1.0f, std::ilogb(inv[j]) - 23));
    }
    CHECK(exact + 1 >= inv.size());
    CHECK(rope.attention_factor() == Approx(ref.get(c + ".attention_factor").as<float>()[0]).epsilon(1e-7));

    auto const xt = ref.get(c + ".x");
    auto const T = xt.shape[0], H = xt.shape[1], D = xt.shape[2];
    auto x = xt.as<float>();
    auto const want = ref.get(c + ".y").as<float>();
    auto const pos = ref.get(c + ".positions").as<std::int64_t>();
    sy::thread_pool pool(2);
    rope.apply(sy::make_view(x.data(), T, H, D), std::span<sy::index_t const>(pos.data(), pos.size()), pool);
    for (sy::index_t r = 0; r < T * H; ++r) {
      double mx = 0;
      for (sy::index_t d = 0; d < D; ++d) mx = std::max(mx, std::fabs(double(xt.as<float>()[r * D + d])));
      for (sy::index_t d = 0; d < D; ++d) {
        INFO(c << " token " << r / H << " (position " << pos[r / H] << ") head " << r % H << " dim " << d);
        sy::index_t const half = cfg.rotary_dim / 2;
        sy::index_t const pair = cfg.layout == at::rope_layout::rotate_half ? d % half : d / 2;
        double const angle = d < cfg.rotary_dim ? double(pos[r / H]) * inv[static_cast<std::size_t>(pair)] : 0.0;
        REQUIRE(std::fabs(x[r * D + d] - want[r * D + d]) <=
                tol::rope(angle) * mx * std::max(1.0f, rope.attention_factor()));
      }
    }
  }
  CHECK(cases >= 7);
}

TEST_CASE("rope rejects bad configurations and shapes", "[rope]") {
  CHECK_THROWS_WITH(at::rotary_embedding({.head_dim = 64, .rotary_dim = 33}), Catch::Contains("rotary_dim must be even"));
  CHECK_THROWS_WITH(at::rotary_embedding({.head_dim = 64, .theta = 0.5}), Catch::Contains("theta must be > 1"));
  at::rope_config y{.head_dim = 64};
  y.scaling.type = at::rope_scaling::kind::yarn;
  y.scaling.factor = 4;
  CHECK_THROWS_WITH(at::rotary_embedding(y), Catch::Contains("original_max_position"));
  at::rotary_embedding rope({.head_dim = 8});
  std::vector<float> x(2 * 3 * 8, 1.0f);
  CHECK_THROWS_WITH(rope.apply(sy::make_view(x.data(), 2, 3, 8), -1), Catch::Contains("positions must be >= 0"));
  CHECK_NOTHROW(rope.apply(sy::make_view(x.data(), 3, 2, 8), 0));
  CHECK_THROWS_WITH(rope.apply(sy::make_view(x.data(), 2, 6, 4), 0), Catch::Contains("heads have 4 dimensions"));
}
