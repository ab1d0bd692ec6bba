#pragma once
// The one place for test tolerances, per format and operation, each with its derivation.
// Three kinds of comparison (docs/testing in architecture.md):
//   exact         integer-valued or bit-defined results (format conversions, index math);
//   derived bound f32 arithmetic: a bound from the operands' norms and the unit roundoff;
//   NMSE          quantized and attention paths (later issues): ggml's production thresholds.
#include <cfloat>
#include <cstddef>
#include <cstdint>

namespace switchyard::test::tolerance {

// Unit roundoff of f32 (half of FLT_EPSILON): one correctly rounded operation errs by at most u.
inline constexpr double u32 = FLT_EPSILON / 2.0;

// Format conversions (bf16, f16, fp8 <-> f32): exact. Every bit of the result must equal the
// PyTorch reference; NaN payloads aside (the result must be a NaN wherever the reference is).
inline constexpr double format_conversion = 0.0;

// RMSNorm of a row of n elements, |y_i - ref_i| <= rms_norm(n) * |ref_i|.
// Sum of n squares: recursive summation errs by at most (n-1)u relative (Higham, Accuracy and
// Stability, 4.2); the blocked sums of both implementations do better but are not assumed to.
// Mean, +eps, sqrt, reciprocal and the two products add about 6u. Both sides err, so double it,
// and the square root halves the sum's relative error: 2 * ((n-1)/2 + 6) u = (n + 11) u.
inline constexpr double rms_norm(std::int64_t n) { return (static_cast<double>(n) + 11.0) * u32; }

// Linear y = x W^T + b over K products, |y - ref| <= linear(K) * (sum_k |x_k w_k| + |b|).
// Each side's dot product errs by at most K u times the sum of absolute products (Higham 3.1,
// gamma_K ~ K u), plus one rounding for the bias; two sides: 2 (K + 1) u. bf16 weights add no
// term: both sides use the same bf16 values widened exactly to f32.
inline constexpr double linear(std::int64_t k) { return 2.0 * (static_cast<double>(k) + 1.0) * u32; }

// Router weights over E experts, |w - ref| <= router_weight(E) * |ref|. Softmax: E exps (each
// within 2u in both libraries), a sum of E terms (E u), a division; renormalization adds a sum of
// k <= E terms and a division; scaling one product. Both sides: 2 (E + E + 8) u.
inline constexpr double router_weight(std::int64_t experts) { return 2.0 * (2.0 * experts + 8.0) * u32; }

// MoE block output (f32 arithmetic, f32 or bf16-valued weights): per element, relative to the
// largest |ref| of its row. The expert path is two dot products (H terms, then F terms), an exp
// in the activation, the routing weight and a sum over k choices; each dot product errs by at
// most its length times u times the sum of absolute products, bounded here by the row's scale.
// Both sides: 2 (H + F + k + 16) u.
inline constexpr double moe_output(std::int64_t hidden, std::int64_t intermediate, std::int64_t k) {
  return 2.0 * (static_cast<double>(hidden + intermediate + k) + 16.0) * u32;
}

// MoE block with activations rounded to bf16 (activations::bf16) against the f32 reference, as a
// normalized mean squared error sum (y - ref)^2 / sum ref^2. Rounding to bf16 errs by at most
// 2^-9 relative (uniform-ish, RMS ~ 2^-9 / sqrt 3); the expert path rounds twice (x, then h), so
// the relative RMS error is ~ 2^-9 sqrt(2/3) = 1.6e-3 and the NMSE ~ 2.5e-6 (measured: 7-9e-6 on
// the Mixtral reference; errors through SiLU and the sum over k add up). Bound: 40x the estimate,
// still 5x tighter than ggml's 5e-4 for quantized matmul.
inline constexpr double moe_bf16_activations_nmse = 1e-4;

// The device MoE layer's prefill path (tensor-core GEMM, kernels/switchyard/kernels/expert/
// grouped_mma.cuh) against the host layer in f32, as an NMSE: it rounds x and h to bf16 (as
// moe_bf16_activations_nmse above: ~2.5e-6 estimated, 7-9e-6 measured on the host) and, for block
// formats, each dequantized weight to bf16 (a third rounding of the same size; bf16, fp8 and f16
// weights are exact in their operand type). Three roundings: ~4e-6 estimated; bound 2e-4 (50x),
// still below ggml's 5e-4 for its CUDA matmuls.
inline constexpr double cuda_mma_nmse = 2e-4;

// The fp8 grouped GEMM (e4m3 weights on sm_89+, kernels/.../grouped_mma_fp8.cuh) rounds x and h
// to e4m3 per 128 columns: 3 mantissa bits, a relative error of up to 2^-4 per element, ~7e-4
// NMSE per rounding for values spread over a binade. Two roundings (x before gate_up, h before
// down) plus the bf16 h: 1.7-1.9e-3 simulated at the test shapes (tools/fp8_recipe_nmse.py,
// PyTorch's float8_e4m3fn); bound 1e-2, which a wrong scale or fragment (NMSE of order 1) still
// fails by far.
inline constexpr double cuda_fp8_mma_nmse = 1e-2;

// The same two paths per element, since an NMSE over a whole output passes a handful of wrong
// elements: |y - ref| <= bound * RMS of the token's reference row. An element's error is a sum of
// many independent roundings, so it scales with its row's typical magnitude, not with the
// element. tools/cuda_element_bounds.py simulates both recipes on a SwiGLU FFN at the test shapes
// (200 tokens x 20 seeds, float64 reference): the largest |err| / row RMS is 1.7-2.3e-2 for bf16
// operands, 2.4-3.2e-2 with the weights rounded to bf16 as well (block formats, block-scaled
// codes), and 0.24-0.35 for fp8 (tails of 7-8 sigma: the down projection sums products of
// normals). Bounds: 2.5x and 2x that. A wrong element (a missed tile, a wrong row, a stale or
// NaN value) is off by about its own size, which for most elements is a row RMS or more.
inline constexpr double cuda_mma_element = 8e-2;
inline constexpr double cuda_fp8_mma_element = 0.7;

// The device SwiGLU (kernels/switchyard/kernels/linear/elementwise.cuh) against the host's
// expert::silu_glu::apply, relative to each element: the same f32 expression, gate / (1 +
// exp(-gate)) * up, but CUDA's expf (at most 2 ulp, CUDA C Programming Guide, "Mathematical
// Functions") against the C library's (at most 1 ulp): the exponentials differ by at most 3 ulp,
// i.e. 6u relative; 1 + e carries at most that relative difference (e / (1 + e) <= 1) plus one
// rounding on each side, the division and the product one more each: 6u + 2 (3u) = 12u. Bound 16u.
inline constexpr double cuda_silu_glu = 16.0 * u32;

// RoPE at rotation angle a (position * inv_freq), |y - ref| <= rope(a) * max|x| over the head.
// Both sides form the angle with one f32 product of the same operands; inv_freq itself agrees to
// the bit except where PyTorch's f32 pow is not correctly rounded (rare; one ulp), which moves the
// angle by up to a * 2u and the output by that times |x|. cos and sin come from different
// libraries (glibc vs SLEEF, 1 ulp each, the attention factor one more rounding), and
// a' = a cos - b sin adds two products and a sum: (2 + 2 + 3) u per term, two terms, doubled.
inline constexpr double rope(double angle) { return (16.0 + 2.0 * angle) * u32; }

// Attention output against a float64 reference, per element, relative to max |v| of the head:
//   scores: a D-term dot product, D u sum|q_d k_d| scale, which for unit-scale inputs is
//     ~0.64 sqrt(D) <= 9 (D <= 192); a score error delta moves the output by <= 2 delta max|v|
//     (softmax is 1-Lipschitz per row in this sense), and the log2(e) prescale one more u: ~20 D u;
//   probabilities: exp2 within 2 ulp, running max rescales (one product each per tile), the sum
//     l over S terms (S u) and P.V over S terms (S u): ~(2 S + 16) u.
// The bound is worst-case (errors add linearly); measured errors are ~100x below it.
inline constexpr double attention(std::int64_t d, std::int64_t s) {
  return (20.0 * static_cast<double>(d) + 2.0 * static_cast<double>(s) + 16.0) * u32;
}

// A decoder attention block (projections, attention, output projection) against transformers
// in f32, per element relative to the largest |ref| of the output. Each projection is a dot
// product over its input width (hidden for q/k/v, Hq*D for the output), each within its length
// times u of the sum of absolute products, which random unit-scale weights keep within a small
// multiple of the output scale; attention adds its own bound. Both sides err: twice the sum.
inline constexpr double attention_block(std::int64_t hidden, std::int64_t q_width, std::int64_t head_dim,
                                        std::int64_t s) {
  return 2.0 * (static_cast<double>(hidden + q_width) + 8.0) * u32 + 2.0 * attention(head_dim, s);
}

// Device attention on bf16 tensor cores (kernels/switchyard/kernels/attention/flash_mma.cuh,
// flash_wgmma.cuh) against the host's f32 flash attention. The device rounds q, k, the
// probabilities and v to bf16 (relative 2^-9 each, RMS 2^-9 / sqrt 3 = 1.1e-3). A score of unit
// scale (q.k scale, unit-normal inputs) moves by ~sqrt(2) 1.1e-3 = 1.6e-3 absolute, which moves
// each weight by that relative; the p and v roundings add 1.1e-3 each. The output is a weighted
// mean of v, and its error a weighted mean of these relative errors times v, so relative to the
// output row's RMS the error is ~sqrt(1.6^2 + 2 1.1^2) 1e-3 = 2.4e-3 RMS, 1.2e-2 at 5 sigma.
// Per element: |out - ref| <= cuda_attention_element * RMS of the (token, head) reference row (a
// row that sees no key must be exactly 0); bound 4x the 5-sigma tail. NMSE ~6e-6 estimated;
// bound 5e-4, ggml's production threshold for its flash attention. A missed or doubled key tile
// moves a row by about sqrt(64 / keys) of its RMS, which both bounds catch at the test sizes.
inline constexpr double cuda_attention_element = 5e-2;
inline constexpr double cuda_attention_nmse = 5e-4;

// Device paged decode (kernels/.../attention/paged_decode.cuh) against the host's paged_attention
// on the same cache bytes, per element relative to the RMS of the (token, head) reference row. Both
// sides compute in f32 from the same stored codes and scales; they differ only in the order of
// sums and in exp2 (2 ulp: exp2f on the device, the host's polynomial). A score is a dot product
// of Dk <= 576 terms (random-walk rounding ~sqrt(576) u = 1.4e-6 of its scale, ~1e-6 absolute in
// the base-2 logit), which moves each weight by that relative; the sums of weights and of weighted values run over S <= 1000
// keys (~sqrt(1000) u = 1.9e-6 relative), the merge rescales each split once more (a few u).
// The output is a weighted mean of v, so relative to its row's RMS the error is ~3e-6 RMS, 1.5e-5
// at 5 sigma; bound 1e-4 (as cuda_mla_decode). A single key more or less -- an off-by-one at a
// split, tile or window edge -- moves a row by its weight times |v - out|: at S = 1000 and unit
// normal scores a key's weight is e^z / (S e^0.5) = e^z / 1650 (z the key's score), |v - out| ~ 1,
// and the row's RMS ~ sqrt(e / S) = 0.05 (the weights' effective count is S / e), so a typical key
// (z = 0) moves the row by 1.2e-2 of its RMS, 120x this bound, and even a key of z = -3 by 6e-4,
// 6x. (The former worst-case bound, 2 attention(D, S) of max |v|, was ~1000x the measured
// error and passed such a shift.)
inline constexpr double cuda_decode_element = 1e-4;

// Device MLA absorbed decode (kernels/.../attention/mla_decode.cuh) against the host's three
// stages in f32 (W_uk absorbed into q over nope terms, decode over the latent cache, W_uv over rank
// terms), per element relative to the RMS of the (token, head) reference row. Both sides compute
// in f32 and differ only in the order of sums of at most rank + rope = 576 terms; such a sum's
// rounding error is a random walk of about sqrt(K) u of its scale (2.9e-6 for K = 1216, all three
// stages), which the softmax passes on with factors of order 1. Tails of 5 sigma: 1.5e-5; bound
// 1e-4. (The worst-case attention(D, S) bound, relative to max |c|, is 10-100x the size of these
// outputs and would pass a missed tile.) A missed or doubled 128-key tile moves a row by about
// sqrt(128 / keys) of its RMS.
inline constexpr double cuda_mla_decode = 1e-4;

// The whole model on the device (kernels/switchyard/device/) against the host model on the same
// file, logits per element relative to the RMS of their reference row (tests/cuda/test_model_cuda.cu).
// f32 path: both sides hold bf16 weights and compute in f32 (device GEMV kernels, host
// activations::f32), so they differ only in the order of f32 sums (dot products of <= 96 terms,
// ~sqrt(K) u = 5e-7 of their scale), in expf / cosf against glibc (1-2 ulp) and in the split of
// the attention merge: ~1e-5 of a row's RMS after 2-3 layers, 2e-3 is 200x that. A token routed to
// another expert, a key missed or a row misplaced moves logits by 0.1-1.5 of the row's RMS.
inline constexpr double cuda_model_f32_element = 2e-3;
inline constexpr double cuda_model_f32_nmse = 1e-6;
// Default path on f32 checkpoints: a 12-token prefill takes the tensor-core GEMMs, which round
// activations (and f32 weights) to bf16, and the expert banks are bf16 on the device (no f32
// expert kernels). Measured on the host as a proxy (the same model in bf16 weights and bf16
// activations against f32, 12-token prefill + 8 decode steps): worst 0.032 of a row's RMS, NMSE
// <= 4.2e-5 on the models whose routing does not flip under that rounding (mixtral_swa, qwen2_moe
// and deepseek_v3 flip: 0.36-1.5, and are left to the f32 path). Bounds: ~5x and ~12x.
inline constexpr double cuda_model_mma_element = 0.15;
inline constexpr double cuda_model_mma_nmse = 5e-4;
// A GGUF of llama-quantize's types on the f32 path: q8_0 / q4_0 / bf16 / f16 kept, the others
// (iq4_nl, mxfp4, q4_1, q5_0, q5_1) widened to bf16 on the device while the host computes them
// exactly (likewise q4_K / q6_K of the Q4_K_M files); rounding those weights to bf16 is a part of
// what the all-bf16 proxy measured (worst 0.015 / 0.018 / 0.022 of a row's RMS, NMSE 1.6e-5 /
// 1.7e-5 / 1.8e-5 on llama-R2, llama-Q4_K_M, mixtral-Q4_K_M). Their prefill (head_dim 64) takes
// flash_attention, whose bf16 products the proxy's bf16 activations stand in for. Bounds: ~2x and
// ~5x the worst.
inline constexpr double cuda_model_widened_element = 5e-2;
inline constexpr double cuda_model_widened_nmse = 1e-4;
// The device against itself on the same kernels (decode vs prefill, batched vs alone, a padded
// graph bucket vs the eager call; f32 path): the same arithmetic but for the attention split count
// and sum order, ~1e-6 of a row's RMS; 1e-4 leaves 100x and is ~1000x below a misplaced key.
inline constexpr double cuda_model_same_path = 1e-4;
inline constexpr double cuda_model_same_path_nmse = 1e-8;

// RoPE on the device (kernels/.../norm/rope.cuh): the same f32 angle as the host (same inv_freq,
// one rounded product), cos and sin from CUDA's cosf / sinf (2 ulp) against glibc's (1 ulp): rope()
// with 8 u more for the device's extra ulp on each of cos and sin, both terms, doubled.
inline constexpr double cuda_rope(double angle) { return rope(angle) + 8.0 * u32; }

// Round-to-nearest quantization of unit-normal weights, as a normalized mean squared error
// sum (deq - x)^2 / sum x^2. A uniform quantizer with step q adds noise of variance q^2 / 12; the
// step follows from the largest value of a block of n normals (about 2.1 sigma for n = 32,
// 1.8 for 16, 2.6 for 128) over the codes each format spreads it across. Bounds: twice that.
namespace quant_nmse {
inline constexpr double q8_0 = 2.0 * (2.1 / 127) * (2.1 / 127) / 12 * 1.3;      // step amax/127
inline constexpr double q4_0 = 2.0 * (2.1 / 8) * (2.1 / 8) / 12 * 1.3;          // step amax/8; -8..7 used
inline constexpr double q4_K = 2.0 * (4.2 / 15) * (4.2 / 15) / 12 * 1.3;        // sub-block range / 15, 6-bit scales
inline constexpr double q6_K = 2.0 * (1.8 / 32) * (1.8 / 32) / 12 * 1.3;        // sub-block amax / 32
inline constexpr double q5_0 = 2.0 * (2.1 / 16) * (2.1 / 16) / 12 * 1.3;         // step amax/16; -16..15 used
inline constexpr double q5_K = 2.0 * (4.2 / 31) * (4.2 / 31) / 12 * 1.3;        // sub-block range / 31
inline constexpr double q4_1 = 2.0 * (4.2 / 15) * (4.2 / 15) / 12 * 1.3;        // block range / 15
inline constexpr double q5_1 = 2.0 * (4.2 / 31) * (4.2 / 31) / 12 * 1.3;        // block range / 31
inline constexpr double q2_K = 2.0 * (3.6 / 3) * (3.6 / 3) / 12 * 1.3;          // sub-block (16) range / 3
inline constexpr double q3_K = 2.0 * (1.8 / 4) * (1.8 / 4) / 12 * 1.3;          // sub-block (16) amax / 4
inline constexpr double iq4_nl = 2.0 * (2.1 / 8) * (2.1 / 8) / 12 * 1.3;        // 16 levels over +-amax, as q4_0
inline constexpr double iq4_xs = 2.0 * (2.1 / 8) * (2.1 / 8) / 12 * 1.3;        // the same, 6-bit sub-block scales
inline constexpr double int4_sym_g128 = 2.0 * (2.6 / 7) * (2.6 / 7) / 12 * 1.3;  // amax / 7
inline constexpr double int4_asym_g128 = 2.0 * (5.2 / 15) * (5.2 / 15) / 12 * 1.3;  // range / 15
// mxfp4: a power-of-two scale s = 2^(floor(log2 amax) - 2), so amax / s lies in [4, 8) (s ~ amax /
// 5.66, 0.37 sigma), and E2M1's steps grow with the value: s/2 below 2s (54% of unit normals at
// this s), s up to 4s (32%), 2s above (14%): mean step^2 / 12 ~ 1.02 s^2 / 12 (measured 1.32e-2,
// gguf's quantizer too).
inline constexpr double mxfp4 = 2.0 * (2.1 / 5.66) * (2.1 / 5.66) * 1.02 / 12 * 1.3;
}  // namespace quant_nmse

// linear with activations rounded to int8 per weight block (activations::int8: groups of 32 to
// 256) against f32 on the same weights, as an NMSE: the rounding errs uniformly within half a
// step of amax/127, variance (amax/127)^2 / 12 of x's for unit-normal groups: 2.3e-5 for groups of
// 32 (amax ~ 2.1), 4.7e-5 for 256 (amax ~ 3.0); independent errors carry over to y = sum w x in
// the same proportion. A 53-output sample scatters by ~2x: bound 4x the larger.
inline constexpr double int8_activations_nmse = 2e-4;
// The int8-activation kernels against the same rounded activations in double, relative to
// sum |w xq dx|: integer sums are exact, what is left is f32 scaling and adding (~K/32 groups
// or fewer, a few roundings of 2^-24 each) -- a wrong lane, scale or zero point is off by O(1).
inline constexpr double int8_activations_same_sums = 1e-5;

// Whole tiny models (2-3 layers, hidden 64) against transformers in f32: logits per row, relative
// to the row's largest |logit|. Each layer adds an attention block's error (attention_block, a few
// 1e-6 at these sizes) and an FFN's, and the residual stream carries them on; top-k routing is
// discontinuous, but the reference models' router logits are spread (tools/make_model_reference.py)
// so no token's choice flips. Measured: 4e-7 to 1.2e-6 (docs/models.md); 2e-5 leaves 15x.
inline constexpr double model_logits = 2e-5;

// The llama.cpp conformance suite (test_conformance): files made by llama-quantize (hidden 256, 1-2
// layers, every type), f32 activations against a float64 forward pass of the same dequantized
// weights, per row relative to the row's largest |logit| -- issue 19's bar. Quantization error is
// not in it (both sides compute the file's own weights), so what is left is f32 arithmetic over
// K = 256 sums through 1-2 layers. Measured: 2.4e-7 (llama) to 1.2e-6 (gpt-oss), 8x under.
inline constexpr double conformance_logits = 1e-5;

// The same tiny models with every matrix in q8_0 (RTN) against the f32 reference logits. q8_0's
// weight noise is ~0.6% relative (quant_nmse::q8_0 = 1.5e-5 NMSE, i.e. 0.4% RMS); it passes
// through ~10 projections in series, adding in quadrature, so logits move by a few percent of
// their row maximum at most. Bound: 5%.
inline constexpr double q8_0_model_logits = 5e-2;

// The same tiny models in q8_0 / q4_0, decoded with int8 activations against f32 activations on
// the same blocks: each projection's input is rounded to 8 bits per 32 (int8_activations_nmse,
// ~1% RMS of its output), through ~10 projections in series. Measured on the llama, mixtral and
// qwen3_moe test models (19 decode rows each): row errors 0.6-2.5e-2, medians 1.0-1.3e-2. Bounds:
// 5e-2 per row, 2e-2 for the median. A router may flip a near-tie top-k choice on the rounding
// (one qwen3_moe q8_0 row: 0.18), as it may on any other rounding: at most 1 row in 16 of an MoE
// model may pass the per-row bound; a dense model none.
inline constexpr double int8_activations_model_logits = 5e-2;
inline constexpr double int8_activations_model_logits_median = 2e-2;
inline constexpr std::ptrdiff_t int8_activations_routing_flips(std::size_t rows) {
  return static_cast<std::ptrdiff_t>(rows / 16);
}

// llama.cpp's logits on the same llama-quantize mix (tests/data/mixed_gguf), switchyard with int8
// activations: both round activations to 8 bits per block, but llama.cpp does so for every format
// (q8_K for the K formats) and switchyard for q8_0 / q4_0 / q4_K only (the q6_K, q5_K, q5_0 and
// q5_1 matrices take f32), and the two sum in other orders. Measured per row (max error over the
// row's largest |logit|, hidden 256, 2 layers): medians 1.2-2.3e-2, maxima 1.8-2.7e-2 apart from
// routing flips (a flipped row: 0.45). Bounds: 5e-2 per row, 3e-2 for the median, and
// int8_activations_routing_flips rows past the per-row bound.
inline constexpr double llama_cpp_mixed_logits = 5e-2;
inline constexpr double llama_cpp_mixed_logits_median = 3e-2;

// The device sampler (kernels/switchyard/kernels/sample/sample.cuh) against generate::sampler:
// tokens must be equal, except where the host's draw u in [0, 1) lies within this distance of a
// cumulative probability of the kept candidates (or the top-p mass of top_p, or a probability of
// the min-p threshold, relative to the top probability). The two sides do the same double
// arithmetic in the same order except exp(), where CUDA's result is within 1 ulp and glibc's is
// correctly rounded: a probability may differ by 2^-52 relative, the sums built from up to 152k of
// them by at most ~152k x 2^-53 ~ 2e-11. 1e-9 is 50x that. A uniform lands that close to one of
// the boundaries with probability ~2e-9 x (kept candidates) per draw -- rare, and counted -- and
// a real mismatch needs it within ~2e-11: expected never in the test's few thousand draws.
inline constexpr double sample_boundary = 1e-9;

}  // namespace switchyard::test::tolerance
