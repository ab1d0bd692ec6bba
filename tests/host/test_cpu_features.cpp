// CPU feature detection, cross-checked against what the compiler targeted (a binary that runs
// must have every feature it was compiled for) and, on Linux, against /proc/cpuinfo's flags.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "switchyard/core/cpu_features.hpp"
#include "switchyard/core/simd/simd.hpp"

namespace sy = switchyard;

TEST_CASE("features include everything this binary was compiled for", "[cpu]") {
  auto const& f = sy::detect_cpu_features();
#if defined(__AVX2__)
  CHECK(f.avx2);
#endif
#if defined(__FMA__)
  CHECK(f.fma);
#endif
#if defined(__AVX512F__)
  CHECK(f.avx512f);
#endif
#if defined(__AVX512BW__)
  CHECK(f.avx512bw);
#endif
#if defined(__aarch64__)
  CHECK(f.neon);
#endif
  CHECK(sy::simd::native::supported(f));
  CHECK_NOTHROW(sy::simd::ensure_native_supported());
  CHECK(!f.describe().empty());
  INFO("detected: " << f.describe());
}

#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
TEST_CASE("features agree with /proc/cpuinfo", "[cpu]") {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  if (flags.empty()) {
    WARN("no flags line in /proc/cpuinfo; skipped");
    return;
  }
  auto const& f = sy::detect_cpu_features();
  INFO("detected: " << f.describe());
  CHECK(f.avx2 == flags.count("avx2"));
  CHECK(f.fma == flags.count("fma"));
  CHECK(f.f16c == flags.count("f16c"));
  CHECK(f.avx512f == flags.count("avx512f"));
  CHECK(f.avx512bw == flags.count("avx512bw"));
  CHECK(f.avx512vl == flags.count("avx512vl"));
  CHECK(f.avx512_vnni == flags.count("avx512_vnni"));
  CHECK(f.avx_vnni == flags.count("avx_vnni"));
}
#endif
