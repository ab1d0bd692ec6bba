#pragma once
// Dense linear layers on the device: the front of linear/ (gemv.cuh: the decode kernel,
// gemm_mma.cuh: the prefill kernel, embed.cuh: the embedding lookup). Device pointers in and out,
// the caller owns every buffer, nothing synchronizes the host and nothing allocates, so every call
// is a fixed launch a CUDA graph can hold.
//
//   namespace kl = switchyard::kernels::linear;
//   kl::device_matrix<switchyard::format::bf16> w{.data = d_w, .rows = out_features, .cols = in_features};
//   kl::linear_path ran = kl::gemm(x, in_features, T, w, bias_or_null, y, out_features, false, stream);
//
// Every weight format of common/device_format.cuh (f32, bf16, f16, fp8 e4m3 / e5m2, int8 codes,
// q8_0, q4_0, int4_group<G, A>, sparse24), int8 / fp8 codes with per-row or 128 x 128 block
// scales. Requirements (refused with a message naming them): cols a multiple of 8 and of the
// format's block; x 16-byte aligned with ldx a multiple of 4 (activations are read 8 at a time);
// the weights aligned for their decoder (weight_alignment<W>); ldx >= cols, ldy >= rows; y must
// not overlap x.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "switchyard/kernels/linear/embed.cuh"
#include "switchyard/kernels/linear/gemm_mma.cuh"
#include "switchyard/kernels/linear/gemv.cuh"
#include "switchyard/kernels/linear/matrix.cuh"

SWITCHYARD_NAMESPACE_BEGIN
namespace kernels::linear {

// The kernel a call with T rows takes. automatic: the GEMV while T <= gemv_tokens (8: every
// weight byte is read once and the call is bound by the weights' bytes, as the host's
// gemv_max_rows), the tensor-core GEMM beyond (the GEMV would read the weights once per 8 rows).
// A forced path is taken for any T.
template <class W>
linear_path linear_path_for(int T, linear_path requested) {
  if (requested != linear_path::automatic) return requested;
  return T <= gemv_tokens ? linear_path::gemv : linear_path::mma;
}

// y[t, r] = (accumulate ? y[t, r] : 0) + sum_c x[t, c] W[r, c] (+ bias[r] if bias) for t < T.
// x: [T, cols] f32 with row stride ldx; y: [T, rows] f32 with row stride ldy (device pointers).
// With row_scales the sum is scaled before the bias (W[r, c] = code x scale_r); block scales
// multiply each weight as it is decoded. accumulate = true is how a model adds o_proj / down_proj
// into the residual stream in place. Returns the path that ran; `tag` (optional, int[2] in device
// memory) receives the kernel's own record of what ran -- gemv_tag or mma_tag, then the GEMV's k
// splits (gemv_k_splits(rows); 0 for the GEMM) -- for tests.
template <class W>
linear_path gemm(float const* x, int ldx, int T, device_matrix<W> const& w, float const* bias, float* y, int ldy,
                 bool accumulate, cudaStream_t stream, linear_path path = linear_path::automatic, int* tag = nullptr) {
  char const* where = "kernels::linear::gemm";
  detail::check_matrix(w, where);
  linear_path const ran = linear_path_for<W>(T, path);
  require(T >= 0, where, "T = ", T, " rows");
  require(ran != linear_path::mma || (T + mma_bm - 1) / mma_bm <= mma_max_row_tiles, where, "T = ", T,
          " rows exceed the tensor-core grid (", mma_max_row_tiles, " tiles of ", mma_bm, ")");
  if (T == 0) return ran;
  require(x != nullptr && y != nullptr, where, "x and y must be device pointers, got null");
  require(detail::aligned(x, 16) && ldx % 4 == 0, where,
          "x must be 16-byte aligned with a row stride (ldx = ", ldx, ") that is a multiple of 4");
  require(ldx >= w.cols && ldy >= w.rows, where, "row strides ldx = ", ldx, ", ldy = ", ldy, " are shorter than the [",
          w.rows, ", ", w.cols, "] weight's rows");
  auto launch = [&]<bool BS>() {
    linear_args<W> const a{x, ldx, T, w.data, w.rows, w.cols, w.row_scales, w.block_scales, bias, y, ldy, accumulate,
                           tag};
    if (ran == linear_path::gemv) {
      auto gemv = [&]<int KS>() {
        int const per_block = gemv_rows_per_block_for(KS);
        unsigned const blocks = static_cast<unsigned>((w.rows + per_block - 1) / per_block);
        gemv_kernel<W, BS, KS><<<blocks, gemv_warps * 32, 0, stream>>>(a);
      };
      int const splits = gemv_k_splits(w.rows);
      if (splits == 4) gemv.template operator()<4>();
      else if (splits == 2) gemv.template operator()<2>();
      else gemv.template operator()<1>();
      detail::check_launch(where, "the GEMV");
    } else {
      dim3 const grid(static_cast<unsigned>((w.rows + mma_bn - 1) / mma_bn), static_cast<unsigned>((T + mma_bm - 1) / mma_bm));
      mma_kernel<W, BS><<<grid, mma_threads, 0, stream>>>(a);
      detail::check_launch(where, "the tensor-core GEMM");
    }
  };
  if constexpr (takes_scales<W>) {
    if (w.block_scales) launch.template operator()<true>();
    else launch.template operator()<false>();
  } else {
    launch.template operator()<false>();
  }
  return ran;
}

// Embedding lookup: out[t, :] = row tokens[t] of table, dequantized to f32 exactly as the host's
// format::traits<W>::dequantize / the model's embed_row (times the row's scale or block scale
// where the table has them). out: [T, cols], contiguous, 16-byte aligned. A token id outside
// [0, rows) gives a NaN row (it cannot be refused without synchronizing).
template <class W>
void embed_rows(device_matrix<W> const& table, std::int32_t const* tokens, int T, float* out, cudaStream_t stream) {
  char const* where = "kernels::linear::embed_rows";
  detail::check_matrix(table, where);
  require(T >= 0, where, "T = ", T, " tokens");
  if (T == 0) return;
  require(tokens != nullptr && out != nullptr, where, "tokens and out must be device pointers, got null");
  require(detail::aligned(out, 16), where, "out must be 16-byte aligned");
  auto launch = [&]<bool BS>() {
    embed_kernel<W, BS><<<static_cast<unsigned>(T), embed_threads, 0, stream>>>(
        table.data, table.rows, table.cols, table.row_scales, table.block_scales, tokens, out);
    detail::check_launch(where, "the embedding lookup");
  };
  if constexpr (takes_scales<W>) {
    if (table.block_scales) launch.template operator()<true>();
    else launch.template operator()<false>();
  } else {
    launch.template operator()<false>();
  }
}

}  // namespace kernels::linear
SWITCHYARD_NAMESPACE_END
