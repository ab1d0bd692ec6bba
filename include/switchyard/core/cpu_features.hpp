#pragma once
// Run-time CPU feature detection: what this processor (and its OS) can execute.
// x86: CPUID leaves 1 and 7, with XGETBV confirming that the OS saves the AVX / AVX-512
// register state (a CPU bit alone is not enough: without OS support the instructions fault).
// AArch64: NEON is architectural; the dot-product extension comes from the kernel's HWCAP.
#include <string>

#include "switchyard/config.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SWITCHYARD_X86 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

SWITCHYARD_NAMESPACE_BEGIN

struct cpu_features {
  bool sse4_2 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx_vnni = false;
  bool amx_int8 = false;  // AMX tiles with int8 dot products, and the OS saving tile state (XCR0)
  bool neon = false;
  bool arm_dotprod = false;

  // "avx2 fma f16c ..." : the features present, for logs and benchmark headers.
  std::string describe() const {
    std::string s;
    auto add = [&](bool on, char const* name) {
      if (!on) return;
      if (!s.empty()) s += ' ';
      s += name;
    };
    add(sse4_2, "sse4.2"), add(avx, "avx"), add(avx2, "avx2"), add(fma, "fma"), add(f16c, "f16c");
    add(avx512f, "avx512f"), add(avx512bw, "avx512bw"), add(avx512dq, "avx512dq"), add(avx512vl, "avx512vl");
    add(avx512_vnni, "avx512_vnni"), add(avx512_bf16, "avx512_bf16"), add(avx_vnni, "avx_vnni");
    add(amx_int8, "amx_int8");
    add(neon, "neon"), add(arm_dotprod, "dotprod");
    return s.empty() ? std::string("none") : s;
  }
};

namespace detail {

inline cpu_features probe_cpu_features() {
  cpu_features f;
#if defined(SWITCHYARD_X86)
  // cpuid writes four registers, not all of them read every time; a plain variable written but
  // never read draws nvcc's "set but never used" warning, so the four live in one array.
  unsigned regs[4] = {};
  unsigned &a = regs[0], &b = regs[1], &c = regs[2], &d = regs[3];
  unsigned const max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return f;
  __cpuid_count(1, 0, a, b, c, d);
  bool const osxsave = (c >> 27) & 1;
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  bool const os_avx = (xcr0 & 0x6) == 0x6;        // XMM and YMM state
  bool const os_avx512 = (xcr0 & 0xE6) == 0xE6;   // plus opmask, ZMM_Hi256, Hi16_ZMM
  bool const os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA (Linux also wants a
                                                    // per-process request: int8_gemm_amx.hpp)
  f.sse4_2 = (c >> 20) & 1;
  f.fma = os_avx && ((c >> 12) & 1);
  f.avx = os_avx && ((c >> 28) & 1);
  f.f16c = os_avx && ((c >> 29) & 1);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = os_avx && ((b >> 5) & 1);
    f.avx512f = os_avx512 && ((b >> 16) & 1);
    f.avx512dq = os_avx512 && ((b >> 17) & 1);
    f.avx512bw = os_avx512 && ((b >> 30) & 1);
    f.avx512vl = os_avx512 && ((b >> 31) & 1);
    f.avx512_vnni = os_avx512 && ((c >> 11) & 1);
    f.amx_int8 = os_amx && ((d >> 24) & 1) && ((d >> 25) & 1);  // AMX-TILE, AMX-INT8
    unsigned const max_sub = a;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx_vnni = os_avx && ((a >> 4) & 1);
      f.avx512_bf16 = os_avx512 && ((a >> 5) & 1);
    }
  }
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  unsigned long const hwcap = getauxval(AT_HWCAP);
  f.arm_dotprod = (hwcap >> 20) & 1;  // HWCAP_ASIMDDP
#endif
#endif
  return f;
}

}  // namespace detail

// Detected once, on first use; thread-safe (a function-local static).
inline cpu_features const& detect_cpu_features() {
  static cpu_features const features = detail::probe_cpu_features();
  return features;
}

SWITCHYARD_NAMESPACE_END
