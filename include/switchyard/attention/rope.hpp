#pragma once
// Rotary position embedding (RoPE, Su et al. 2021) as the shipped families apply it.
//
// Each pair of dimensions (a, b) of a query or key head is rotated by the angle pos * inv_freq[i]:
//   a' = a cos - b sin,   b' = b cos + a sin.
// Two layouts pair the dimensions differently:
//   rotate_half  pairs i with i + rotary_dim/2 (Llama, Mixtral, Qwen, gpt-oss);
//   interleaved  pairs 2i with 2i+1 (GPT-J, and DeepSeek-V2/V3 as their original code does it;
//                Hugging Face's DeepSeek-V3 computes the same rotation and writes the pairs out
//                de-interleaved, a permutation of q and k that leaves q.k, hence attention, unchanged).
// Only the first rotary_dim dimensions rotate (partial rotary); the rest pass through.
//
// inv_freq[i] = theta^(-2i / rotary_dim), computed in f32 in the order transformers computes it
// so that angles agree to the last bit (all but rare frequencies); scalings change inv_freq and may scale cos and sin:
//   linear  inv_freq / factor (position interpolation);
//   yarn    per-frequency blend of interpolated and extrapolated inv_freq over a linear ramp between
//           the correction dimensions of beta_fast and beta_slow, and cos/sin scaled by an
//           attention factor 0.1 ln(factor) + 1 (or the mscale / mscale_all_dim ratio of DeepSeek).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

enum class rope_layout { rotate_half, interleaved };

struct rope_scaling {
  enum class kind { none, linear, yarn };
  kind type = kind::none;
  double factor = 1.0;
  // yarn only:
  index_t original_max_position = 0;  // the context the model was trained at
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 0.0, mscale_all_dim = 0.0;  // DeepSeek's pair; both 0: the paper's attention factor
  double attention_factor = 0.0;               // > 0 overrides the derived one
  bool truncate = true;                        // round the correction range outwards (transformers' default)
};

struct rope_config {
  index_t head_dim = 0;
  index_t rotary_dim = 0;  // 0: the whole head
  double theta = 10000.0;
  rope_layout layout = rope_layout::rotate_half;
  rope_scaling scaling = {};
};

// YaRN's magnitude correction 0.1 * m * ln(s) + 1 (1 for s <= 1). DeepSeek-V3 also multiplies the
// softmax scale by yarn_mscale(factor, mscale_all_dim)^2 (see mla.hpp).
inline double yarn_mscale(double scale, double m = 1.0) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

class rotary_embedding {
 public:
  explicit rotary_embedding(rope_config const& c) : cfg_(c) {
    if (cfg_.rotary_dim == 0) cfg_.rotary_dim = cfg_.head_dim;
    index_t const dim = cfg_.rotary_dim;
    require(cfg_.head_dim > 0 && dim > 0 && dim <= cfg_.head_dim && dim % 2 == 0, "attention::rotary_embedding",
            "rotary_dim must be even and in (0, head_dim]; got rotary_dim ", dim, " for head_dim ", cfg_.head_dim);
    require(std::isfinite(cfg_.theta) && cfg_.theta > 1.0, "attention::rotary_embedding", "theta must be > 1, got ",
            cfg_.theta);
    auto const& s = cfg_.scaling;
    require(s.type == rope_scaling::kind::none || (std::isfinite(s.factor) && s.factor > 0.0),
            "attention::rotary_embedding", "scaling factor must be > 0, got ", s.factor);
    index_t const half = dim / 2;
    inv_freq_.resize(static_cast<std::size_t>(half));
    // theta ** (arange(0, dim, 2).float() / dim) rounded to f32, then the reciprocal in f32, as
    // transformers computes it. The power is taken in double and rounded once: PyTorch's f32 pow
    // is correctly rounded for all but rare arguments, glibc's powf is not always.
    auto pos_freq = [&](index_t i) {
      float const e = static_cast<float>(2 * i) / static_cast<float>(dim);
      return static_cast<float>(std::pow(static_cast<double>(static_cast<float>(cfg_.theta)), static_cast<double>(e)));
    };
    for (index_t i = 0; i < half; ++i) inv_freq_[i] = 1.0f / pos_freq(i);
    if (s.type == rope_scaling::kind::linear) {
      for (auto& f : inv_freq_) f = f / static_cast<float>(s.factor);
    } else if (s.type == rope_scaling::kind::yarn) {
      require(s.original_max_position > 0, "attention::rotary_embedding",
              "yarn needs original_max_position (the trained context), got ", s.original_max_position);
      double const two_pi = 2.0 * 3.14159265358979323846;
      auto correction_dim = [&](double rotations) {
        return (static_cast<double>(dim) * std::log(static_cast<double>(s.original_max_position) / (rotations * two_pi))) /
               (2.0 * std::log(cfg_.theta));
      };
      double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
      if (s.truncate) low = std::floor(low), high = std::ceil(high);
      low = std::max(low, 0.0), high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
      float const lo = static_cast<float>(low), width = static_cast<float>(high - low);
      for (index_t i = 0; i < half; ++i) {
        float const p = pos_freq(i);
        float const extrapolated = 1.0f / p, interpolated = 1.0f / (static_cast<float>(s.factor) * p);
        float const ramp = std::clamp((static_cast<float>(i) - lo) / width, 0.0f, 1.0f);
        float const keep = 1.0f - ramp;  // weight of the extrapolated (unscaled) frequency
        inv_freq_[i] = interpolated * (1.0f - keep) + extrapolated * keep;
      }
      if (s.attention_factor > 0.0) attention_factor_ = static_cast<float>(s.attention_factor);
      else if (s.mscale != 0.0 && s.mscale_all_dim != 0.0)
        attention_factor_ = static_cast<float>(yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim));
      else attention_factor_ = static_cast<float>(yarn_mscale(s.factor));
    }
  }

  rope_config const& config() const noexcept { return cfg_; }
  index_t head_dim() const noexcept { return cfg_.head_dim; }
  index_t rotary_dim() const noexcept { return cfg_.rotary_dim; }
  float attention_factor() const noexcept { return attention_factor_; }
  std::span<float const> inv_freq() const noexcept { return inv_freq_; }

  // cos and sin (rotary_dim / 2 each) of the angles at `position`, times the attention factor.
  void cos_sin(index_t position, float* cos, float* sin) const noexcept {
    float const p = static_cast<float>(position);
    for (std::size_t i = 0; i < inv_freq_.size(); ++i) {
      float const angle = inv_freq_[i] * p;  // one f32 rounding, as the reference's matmul
      cos[i] = std::cos(angle) * attention_factor_;
      sin[i] = std::sin(angle) * attention_factor_;
    }
  }

  // Rotates one head vector in place with precomputed cos/sin.
  void rotate(float* x, float const* cos, float const* sin) const noexcept {
    index_t const half = cfg_.rotary_dim / 2;
    if (cfg_.layout == rope_layout::rotate_half) {
      for (index_t i = 0; i < half; ++i) {
        float const a = x[i], b = x[i + half];
        x[i] = a * cos[i] - b * sin[i];
        x[i + half] = b * cos[i] + a * sin[i];
      }
    } else {
      for (index_t i = 0; i < half; ++i) {
        float const a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cos[i] - b * sin[i];
        x[2 * i + 1] = b * cos[i] + a * sin[i];
      }
    }
  }

  // x [T, heads, head_dim] (last dimension contiguous), token t at position positions[t], in place.
  void apply(tensor_view<float, dextents<3>> x, std::span<index_t const> positions,
             thread_pool& pool = thread_pool::shared()) const {
    check_shape(x, static_cast<index_t>(positions.size()));
    for (std::size_t t = 0; t < positions.size(); ++t)
      require(positions[t] >= 0, "attention::rotary_embedding", "position of token ", t, " is negative (",
              positions[t], ")");
    run(x, [&](index_t t) { return positions[static_cast<std::size_t>(t)]; }, pool);
  }
  // Token t at position first_position + t.
  void apply(tensor_view<float, dextents<3>> x, index_t first_position, thread_pool& pool = thread_pool::shared()) const {
    check_shape(x, x.extent(0));
    require(first_position >= 0, "attention::rotary_embedding", "positions must be >= 0, got ", first_position);
    run(x, [&](index_t t) { return first_position + t; }, pool);
  }

 private:
  void check_shape(tensor_view<float, dextents<3>> x, index_t positions) const {
    require(x.extent(2) == cfg_.head_dim, "attention::rotary_embedding", "heads have ", x.extent(2),
            " dimensions but the embedding was built for head_dim ", cfg_.head_dim);
    require(x.extent(0) == positions, "attention::rotary_embedding", "x has ", x.extent(0), " tokens but ",
            positions, " positions were given");
    require(x.stride(2) == 1, "attention::rotary_embedding", "head vectors must be contiguous");
  }
  template <class Position>
  void run(tensor_view<float, dextents<3>> x, Position position, thread_pool& pool) const {
    index_t const half = cfg_.rotary_dim / 2;
    pool.parallel_for(0, x.extent(0), 16, [&](index_t lo, index_t hi) {
      std::vector<float> cs(static_cast<std::size_t>(2 * half));
      for (index_t t = lo; t < hi; ++t) {
        cos_sin(position(t), cs.data(), cs.data() + half);
        for (index_t h = 0; h < x.extent(1); ++h) rotate(&x(t, h, 0), cs.data(), cs.data() + half);
      }
    });
  }

  rope_config cfg_;
  std::vector<float> inv_freq_;
  float attention_factor_ = 1.0f;
};

}  // namespace attention
SWITCHYARD_NAMESPACE_END
