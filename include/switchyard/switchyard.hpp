#pragma once
// Umbrella header for users: the host-side blocks and readers. Whole models and generation
// (model/load.hpp, model/causal_lm.hpp, generate/*.hpp) are included explicitly: the dynamic
// loader instantiates every weight format and router and costs a minute of compile time.
// Library code includes the specific headers it needs instead (faster builds, and the dependency
// rules in docs/architecture.md stay visible).
#include "switchyard/config.hpp"
#include "switchyard/version.hpp"

#include "switchyard/attention/flash_attention.hpp"
#include "switchyard/attention/gqa_attention.hpp"
#include "switchyard/attention/mask.hpp"
#include "switchyard/attention/mla_attention.hpp"
#include "switchyard/attention/paged_attention.hpp"
#include "switchyard/attention/paged_kv_cache.hpp"
#include "switchyard/attention/rope.hpp"
#include "switchyard/core/backend.hpp"
#include "switchyard/core/buffer.hpp"
#include "switchyard/core/concepts.hpp"
#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/error.hpp"
#include "switchyard/core/extents.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/format/f16.hpp"
#include "switchyard/core/format/fp8.hpp"
#include "switchyard/core/format/traits.hpp"
#include "switchyard/core/simd/simd.hpp"
#include "switchyard/core/tensor_view.hpp"
#include "switchyard/core/thread_pool.hpp"
#include "switchyard/expert/ffn_experts.hpp"
#include "switchyard/expert/glu_experts.hpp"
#include "switchyard/expert/moe.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/io/safetensors.hpp"

#include "switchyard/linear/linear.hpp"
#include "switchyard/linear/quantize.hpp"
#include "switchyard/linear/scaled_linear.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/norm/rms_norm.hpp"
#include "switchyard/route/expert_choice.hpp"
#include "switchyard/route/families.hpp"
