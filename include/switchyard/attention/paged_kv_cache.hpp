#pragma once
// A paged KV cache (Kwon et al. 2023, vLLM's PagedAttention): keys and values live in fixed-size
// blocks of block_size tokens drawn from one shared pool; each sequence owns a block table (the
// list of its blocks, in order, anywhere in the pool) and a length. Blocks return to the pool when
// a sequence is released, so memory follows the tokens actually cached, not the longest possible
// sequence, and sequences of any mix of lengths share one allocation that never grows.
//
// Storage formats E: float, format::bf16, format::f16 (plain), and std::int8_t or format::e4m3
// (scaled). Scaled formats keep one f32 scale per token per head for K and one for V: the scale
// of a token's head vector is fixed when it is appended (absmax / 127 or / 448), so appends never
// requantize what is already cached; the scale costs 4 bytes per head_dim bytes (3% at D = 128).
//
// Layout of one block, per KV head h (chosen for the decode kernel, paged_attention.hpp):
//   K^T  [key_dim][block_size]       transposed: a score tile is an outer product over d;
//   V    [block_size][value_stride]  row-major, rows padded with zeros to a multiple of 32.
// With value_is_key_prefix (MLA's latent cache: the value is the first value_dim entries of the
// key) V is not stored; the kernel reads it from K.
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/tensor_view.hpp"

SWITCHYARD_NAMESPACE_BEGIN
namespace attention {

// How a KV element format stores a value.
template <class E>
struct kv_format;
template <>
struct kv_format<float> {
  static constexpr bool scaled = false;
  static float encode(float x) noexcept { return x; }
};
template <>
struct kv_format<format::bf16> {
  static constexpr bool scaled = false;
  static format::bf16 encode(float x) noexcept { return format::bf16(x); }
};
template <>
struct kv_format<format::f16> {
  static constexpr bool scaled = false;
  static format::f16 encode(float x) noexcept { return format::f16(x); }
};
template <>
struct kv_format<std::int8_t> {
  static constexpr bool scaled = true;
  static constexpr float max_value = 127.0f;  // symmetric: -127..127
  static std::int8_t encode(float x) noexcept {
    float const r = std::nearbyint(x);  // round half to even (the default rounding mode)
    return static_cast<std::int8_t>(r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r));
  }
};
template <>
struct kv_format<format::e4m3> {
  static constexpr bool scaled = true;
  static constexpr float max_value = 448.0f;
  static format::e4m3 encode(float x) noexcept { return format::e4m3(x); }
};

template <class E>
concept kv_element = requires { kv_format<E>::scaled; };

template <class E>
float kv_to_float(E x) noexcept {
  if constexpr (std::is_same_v<E, float>) return x;
  else if constexpr (std::is_same_v<E, std::int8_t>) return static_cast<float>(x);
  else return format::to_float(x);
}

struct kv_cache_config {
  index_t kv_heads = 0;
  index_t key_dim = 0;
  index_t value_dim = 0;
  index_t block_size = 16;
  index_t blocks = 0;  // the pool
  bool value_is_key_prefix = false;
};

// A sequence's share of the cache, owned by the caller; pass it to append / attention / release.
struct kv_sequence {
  std::vector<std::int32_t> block_table;
  index_t length = 0;
};

template <kv_element E>
class paged_kv_cache {
 public:
  using element_type = E;
  static constexpr bool scaled = kv_format<E>::scaled;

  explicit paged_kv_cache(kv_cache_config const& c) : cfg_(c) {
    char const* where = "attention::paged_kv_cache";
    require(c.kv_heads > 0 && c.key_dim > 0 && c.value_dim > 0, where,
            "kv_heads, key_dim and value_dim must be positive; got ", c.kv_heads, ", ", c.key_dim, ", ", c.value_dim);
    require(c.block_size > 0 && c.block_size % 16 == 0 && c.block_size <= 1024, where,
            "block_size must be a multiple of 16 (the widest vector) up to 1024, got ", c.block_size);
    require(c.blocks > 0 && c.blocks < (index_t{1} << 31), where, "blocks must be in [1, 2^31), got ", c.blocks);
    require(!c.value_is_key_prefix || c.value_dim <= c.key_dim, where, "value_is_key_prefix needs value_dim (",
            c.value_dim, ") <= key_dim (", c.key_dim, ")");
    value_stride_ = (c.value_dim + 31) / 32 * 32;
    head_elems_ = c.key_dim * c.block_size + (c.value_is_key_prefix ? 0 : c.block_size * value_stride_);
    data_ = buffer<E>(static_cast<std::size_t>(c.blocks * c.kv_heads * head_elems_));
    if constexpr (scaled) scales_ = buffer<float>(static_cast<std::size_t>(c.blocks * c.kv_heads * 2 * c.block_size));
    free_.reserve(static_cast<std::size_t>(c.blocks));
    for (index_t b = c.blocks; b-- > 0;) free_.push_back(static_cast<std::int32_t>(b));  // pops 0, 1, 2, ...
  }

  kv_cache_config const& config() const noexcept { return cfg_; }
  index_t block_size() const noexcept { return cfg_.block_size; }
  index_t free_blocks() const noexcept { return static_cast<index_t>(free_.size()); }
  index_t value_stride() const noexcept { return value_stride_; }
  std::size_t bytes() const noexcept { return data_.size() * sizeof(E) + scales_.size() * sizeof(float); }

  // Appends n tokens: k [n, kv_heads, key_dim], v [n, kv_heads, value_dim] (v ignored, may be
  // empty, with value_is_key_prefix). Takes blocks from the pool as needed; throws
  // allocation_error, changing nothing, if the pool cannot hold them.
  template <class KT, class VT = float const>
  void append(kv_sequence& seq, tensor_view<KT, dextents<3>> k, tensor_view<VT, dextents<3>> v = {}) {
    char const* where = "attention::paged_kv_cache::append";
    index_t const n = k.extent(0), bs = cfg_.block_size;
    require(k.extent(1) == cfg_.kv_heads && k.extent(2) == cfg_.key_dim && (n == 0 || k.stride(2) == 1), where,
            "k is [", n, ", ", k.extent(1), ", ", k.extent(2), "] but the cache holds [tokens, ", cfg_.kv_heads, ", ",
            cfg_.key_dim, "] with contiguous head vectors");
    if (!cfg_.value_is_key_prefix)
      require(v.extent(0) == n && v.extent(1) == cfg_.kv_heads && v.extent(2) == cfg_.value_dim &&
                  (n == 0 || v.stride(2) == 1),
              where, "v is [", v.extent(0), ", ", v.extent(1), ", ", v.extent(2), "] but should be [", n, ", ",
              cfg_.kv_heads, ", ", cfg_.value_dim, "]");
    require(static_cast<index_t>(seq.block_table.size()) == (seq.length + bs - 1) / bs, where,
            "the sequence's block table (", seq.block_table.size(), " blocks) does not match its length (",
            seq.length, " tokens): not a sequence of this cache?");
    index_t const need = (seq.length + n + bs - 1) / bs - static_cast<index_t>(seq.block_table.size());
    require<allocation_error>(need <= free_blocks(), where, "the pool has ", free_blocks(), " free blocks of ",
                              cfg_.blocks, " but ", need, " more are needed for ", n, " tokens");
    for (index_t i = 0; i < need; ++i) {
      seq.block_table.push_back(free_.back());
      free_.pop_back();
    }
    for (index_t t = 0; t < n; ++t, ++seq.length) {
      index_t const block = seq.block_table[static_cast<std::size_t>(seq.length / bs)], slot = seq.length % bs;
      for (index_t h = 0; h < cfg_.kv_heads; ++h) {
        E* kt = key_block(block, h);
        float const ks = store_scale(&k(t, h, 0), cfg_.key_dim, block, h, 0, slot);
        for (index_t d = 0; d < cfg_.key_dim; ++d) kt[d * bs + slot] = kv_format<E>::encode(to_f32(k(t, h, d)) / ks);
        if (cfg_.value_is_key_prefix) continue;
        E* vr = value_block(block, h) + slot * value_stride_;
        float const vs = store_scale(&v(t, h, 0), cfg_.value_dim, block, h, 1, slot);
        for (index_t d = 0; d < value_stride_; ++d)
          vr[d] = kv_format<E>::encode(d < cfg_.value_dim ? to_f32(v(t, h, d)) / vs : 0.0f);
      }
    }
  }

  // Keeps the sequence's first `length` tokens: the blocks past them return to the pool, and the
  // next append writes over the slots of the dropped tokens -- nothing is copied, and the cache is
  // as if the dropped tokens had never been appended (speculative decoding rolls back rejected
  // draft tokens so). length in [0, seq.length].
  void truncate(kv_sequence& seq, index_t length) {
    char const* where = "attention::paged_kv_cache::truncate";
    require(length >= 0 && length <= seq.length, where, "keeps ", length, " tokens of a sequence of ", seq.length);
    index_t const bs = cfg_.block_size, keep = (length + bs - 1) / bs;
    while (static_cast<index_t>(seq.block_table.size()) > keep) {
      auto const b = seq.block_table.back();
      require(b >= 0 && b < cfg_.blocks, where, "block ", b, " is not in the pool");
      free_.push_back(b);
      seq.block_table.pop_back();
    }
    seq.length = length;
  }

  // Returns the sequence's blocks to the pool and empties it.
  void release(kv_sequence& seq) {
    for (auto b : seq.block_table) {
      require(b >= 0 && b < cfg_.blocks, "attention::paged_kv_cache::release", "block ", b, " is not in the pool");
      free_.push_back(b);
    }
    seq.block_table.clear();
    seq.length = 0;
  }

  // Dequantized copy of a sequence's cached keys and values, k [length, kv_heads, key_dim],
  // v [length, kv_heads, value_dim] (tests, debugging, and moving a sequence elsewhere).
  void gather(kv_sequence const& seq, tensor_view<float, dextents<3>> k, tensor_view<float, dextents<3>> v) const {
    require(k.extent(0) == seq.length && k.extent(1) == cfg_.kv_heads && k.extent(2) == cfg_.key_dim &&
                v.extent(0) == seq.length && v.extent(1) == cfg_.kv_heads && v.extent(2) == cfg_.value_dim,
            "attention::paged_kv_cache::gather", "k and v must be [", seq.length, ", ", cfg_.kv_heads, ", key_dim / value_dim]");
    index_t const bs = cfg_.block_size;
    for (index_t t = 0; t < seq.length; ++t) {
      index_t const block = seq.block_table[static_cast<std::size_t>(t / bs)], slot = t % bs;
      for (index_t h = 0; h < cfg_.kv_heads; ++h) {
        float const ks = key_scales(block, h) ? key_scales(block, h)[slot] : 1.0f;
        for (index_t d = 0; d < cfg_.key_dim; ++d) k(t, h, d) = kv_to_float(key_block(block, h)[d * bs + slot]) * ks;
        for (index_t d = 0; d < cfg_.value_dim; ++d) {
          if (cfg_.value_is_key_prefix) {
            v(t, h, d) = k(t, h, d);
          } else {
            float const vs = value_scales(block, h) ? value_scales(block, h)[slot] : 1.0f;
            v(t, h, d) = kv_to_float(value_block(block, h)[slot * value_stride_ + d]) * vs;
          }
        }
      }
    }
  }

  // Raw access for the kernels.
  E const* key_block(index_t block, index_t h) const noexcept { return data_.data() + (block * cfg_.kv_heads + h) * head_elems_; }
  E const* value_block(index_t block, index_t h) const noexcept { return key_block(block, h) + cfg_.key_dim * cfg_.block_size; }
  float const* key_scales(index_t block, index_t h) const noexcept {
    if constexpr (scaled) return scales_.data() + ((block * cfg_.kv_heads + h) * 2) * cfg_.block_size;
    else return nullptr;
  }
  float const* value_scales(index_t block, index_t h) const noexcept {
    if constexpr (scaled) return cfg_.value_is_key_prefix ? key_scales(block, h) : key_scales(block, h) + cfg_.block_size;
    else return nullptr;
  }

 private:
  E* key_block(index_t block, index_t h) noexcept { return data_.data() + (block * cfg_.kv_heads + h) * head_elems_; }
  E* value_block(index_t block, index_t h) noexcept { return key_block(block, h) + cfg_.key_dim * cfg_.block_size; }

  template <class T>
  static float to_f32(T x) noexcept {
    if constexpr (std::is_same_v<std::remove_const_t<T>, float>) return x;
    else return format::to_float(x);
  }
  // The scale of one head vector (1 for plain formats), recorded for scaled ones.
  template <class T>
  float store_scale(T const* x, index_t n, index_t block, index_t h, int which, index_t slot) {
    if constexpr (!scaled) {
      return 1.0f;
    } else {
      float amax = 0.0f;
      for (index_t d = 0; d < n; ++d) amax = std::fmax(amax, std::fabs(to_f32(x[d])));
      float const s = amax > 0.0f && std::isfinite(amax) ? amax / kv_format<E>::max_value : 1.0f;
      scales_[static_cast<std::size_t>(((block * cfg_.kv_heads + h) * 2 + which) * cfg_.block_size + slot)] = s;
      return s;
    }
  }

  kv_cache_config cfg_;
  index_t value_stride_ = 0, head_elems_ = 0;
  buffer<E> data_;
  buffer<float> scales_;
  std::vector<std::int32_t> free_;
};

}  // namespace attention
SWITCHYARD_NAMESPACE_END
