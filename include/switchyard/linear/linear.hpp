#pragma once
// linear<W>: a dense layer y = x W^T (+ b) whose weight is stored in format W, in PyTorch's
// [out_features, in_features] layout, activations f32. W is a scalar format (f32, bf16, f16,
// fp8) or a block format (core/format/gguf.hpp, int4.hpp), computed from the packed blocks. It holds views (the weights belong to the
// caller or to a loaded model), checks shapes once at construction and on each call, and picks
// the kernel by the number of rows: GEMV for decode (<= host::gemv_max_rows rows: bound by
// weight bytes), blocked GEMM for prefill.
//
//   switchyard::linear<switchyard::format::bf16> proj(w_view);   // w_view: [out, in] bf16
//   proj(x_view, y_view);                                         // x: [T, in] -> y: [T, out]
#include <type_traits>

#include "switchyard/core/concepts.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/linear/host/bf16_activations.hpp"
#include "switchyard/linear/host/block_kernels.hpp"
#include "switchyard/linear/host/int8_activations.hpp"
#include "switchyard/linear/host/int8_gemv_avx2.hpp"
#include "switchyard/linear/host/int8_gemm.hpp"
#include "switchyard/linear/host/q4k_int8_gemv.hpp"
#include "switchyard/linear/host/q6k_int8_gemv.hpp"
#include "switchyard/linear/host/q8_int8_gemv.hpp"
#include "switchyard/linear/host/sparse24_gemv.hpp"
#include "switchyard/linear/host/unpacked_int8_gemv.hpp"
#include "switchyard/linear/host/gemm.hpp"
#include "switchyard/linear/host/gemv.hpp"

SWITCHYARD_NAMESPACE_BEGIN

// The format activations are rounded to before the products. f32 (the default) keeps them exact;
// bf16 matches what bf16 engines compute and, with AVX512-BF16 and bf16 weights, runs twice the
// f32 FMA rate (linear/host/bf16_activations.hpp).
// int8 (block formats q4_0, q8_0, q4_K and int4 groups): activations rounded to int8 per weight
// block so the products become integer dot products (VNNI); decode rows through the GEMVs
// (linear/host/int8_activations.hpp, q8_int8_gemv.hpp, q4k_int8_gemv.hpp), prefill rows of
// q8_0, q4_0 and the k-quants (q4_K, q5_K, q6_K) through the int8 GEMM
// (linear/host/int8_gemm.hpp; int4 groups' prefill keeps f32 activations).
enum class activations { f32, bf16, int8 };

// Whether a row's result may depend on how many rows share the call.
// batch_invariant (the default): one summation order for every row count, so a token's output
// does not depend on its batch (the MoE layer's deterministic mode rests on it).
// fastest: prefill may take kernels with another order -- today the outer-product GEMM for bf16
// activations x bf16 weights with AVX512-BF16 (linear/host/bf16_outer_gemm.hpp, 1.1-2.0x the
// batch-invariant tile; the Mixtral MoE layer's prefill 1.5x); results then differ from the decode
// path's in the last bits, within the same tolerances.
enum class summation { batch_invariant, fastest };

template <class W>
class linear {
  static_assert(check_format<W>());

 public:
  // Block formats whose decode rows can take int8 activations.
  static constexpr bool takes_int8 =
      host::detail::nibble_format<W>::value || std::is_same_v<W, format::q8_0> || std::is_same_v<W, format::q4_K> ||
      std::is_same_v<W, format::q5_K> || std::is_same_v<W, format::q6_K> || host::detail::int8_unpackable<W>;
  using weight_format = W;
  static constexpr index_t block_elems = format::traits<W>::block_elems;

  // weight [out, in] with contiguous rows; bias [out] or empty. For a block format (q4_0, q4_K,
  // int4 groups, ...) the view holds blocks: [out, in / block_elems].
  explicit linear(matrix_view<W const> weight, vector_view<float const> bias = {},
                  activations act = activations::f32, summation sum = summation::batch_invariant)
      : weight_(weight), bias_(bias), act_(act), sum_(sum) {
    require(weight.stride(1) == 1, "linear", "weight rows must be contiguous (stride(1) == 1), got stride ",
            weight.stride(1));
    require(bias.data() == nullptr || (bias.extent(0) == weight.extent(0) && bias.stride(0) == 1), "linear",
            "bias has ", bias.extent(0), " elements (stride ", bias.stride(0), ") but the weight has ",
            weight.extent(0), " output features");
    if constexpr (block_elems > 1) {
      require(act == activations::f32 || (act == activations::int8 && takes_int8), "linear",
              format::traits<W>::name, " weights take f32 activations", takes_int8 ? " or int8" : "");
    } else {
      require(act != activations::int8, "linear", "int8 activations take GGUF block-quantized or int4 group weights, not ",
              format::traits<W>::name);
    }
  }

  index_t in_features() const noexcept { return weight_.extent(1) * block_elems; }
  index_t out_features() const noexcept { return weight_.extent(0); }
  matrix_view<W const> weight() const noexcept { return weight_; }
  activations activation_format() const noexcept { return act_; }
  summation summation_order() const noexcept { return sum_; }

  // x [T, in] -> y [T, out]; y must not overlap x.
  template <simd::isa Isa = simd::native>
  void operator()(matrix_view<float const> x, matrix_view<float> y, thread_pool& pool = thread_pool::shared()) const {
    require(x.extent(1) == in_features(), "linear", "x has ", x.extent(1), " columns but the layer takes ",
            in_features(), " input features");
    require(y.extent(0) == x.extent(0) && y.extent(1) == out_features(), "linear", "y is [", y.extent(0), ", ",
            y.extent(1), "] but should be [", x.extent(0), ", ", out_features(), "]");
    require(x.stride(1) == 1 && y.stride(1) == 1, "linear", "rows of x and y must be contiguous");
    float const* b = bias_.data();
    if constexpr (block_elems > 1) {
      if constexpr (takes_int8) {
        if (act_ == activations::int8 && x.extent(0) <= host::gemv_max_rows) {
#if defined(SWITCHYARD_INT8_GEMV_YMM)
          if constexpr (host::detail::int8_ymm_format<W>) {
            host::block_gemv_int8_ymm(x, weight_, b, y, pool);
            return;
          }
#endif
          if constexpr (std::is_same_v<W, format::q8_0>) host::block_gemv_q8_int8(x, weight_, b, y, pool);
          else if constexpr (std::is_same_v<W, format::q4_K> || std::is_same_v<W, format::q5_K>)
            host::block_gemv_kquant_int8(x, weight_, b, y, pool);
          else if constexpr (std::is_same_v<W, format::q6_K>) host::block_gemv_q6K_int8(x, weight_, b, y, pool);
          else if constexpr (host::detail::int8_unpackable<W>) host::block_gemv_unpacked_int8(x, weight_, b, y, pool);
          else host::block_gemv_int8(x, weight_, b, y, pool);
          return;
        }
        // Prefill: the int8 GEMM (q8_0, q4_0, q4_K, q5_K, q6_K; int4 groups keep the f32 panels below).
        if constexpr (host::detail::int8_gemm_format<W>) {
          if (act_ == activations::int8) {
            host::block_gemm_int8(x, weight_, b, y, pool);
            return;
          }
        }
      }
      if constexpr (host::detail::is_sparse24<W> && std::is_same_v<Isa, simd::native>) {
        if (x.extent(0) <= host::gemv_max_rows) {
          host::sparse24_gemv(x, weight_, b, y, pool);
          return;
        }
      }
      if (x.extent(0) <= host::gemv_max_rows) host::block_gemv<Isa>(x, weight_, b, y, pool);
      else host::block_gemm<Isa>(x, weight_, b, y, pool);
      return;
    } else if (act_ == activations::bf16) host::gemm_bf16_activations<Isa>(x, weight_, b, y, pool, sum_ == summation::fastest);
    else if (x.extent(0) <= host::gemv_max_rows) host::gemv<Isa>(x, weight_, b, y, pool);
    else host::gemm<Isa>(x, weight_, b, y, pool);
  }

 private:
  matrix_view<W const> weight_;
  vector_view<float const> bias_;
  activations act_;
  summation sum_;
};

SWITCHYARD_NAMESPACE_END
