#pragma once
// A progress bar on stderr for the examples' long steps (loading a model, writing a GGUF): drawn in
// place on a terminal, silent otherwise (logs and CI output stay clean). Each call says (done,
// total); the bar ends its line at done == total.
#include <cstdio>
#include <functional>
#include <string>
#include <unistd.h>

#include <switchyard/config.hpp>

namespace switchyard_examples {

// `what` names the step ("loading", "quantize"), `unit` what is counted ("layers").
inline std::function<void(switchyard::index_t, switchyard::index_t)> progress_bar(std::string what, std::string unit) {
  if (!isatty(fileno(stderr))) return {};
  return [what = std::move(what), unit = std::move(unit)](switchyard::index_t done, switchyard::index_t total) {
    constexpr int width = 30;
    int const filled = total > 0 ? static_cast<int>(width * done / total) : width;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, ' ');
    std::fprintf(stderr, "\r%s [%s] %lld / %lld %s", what.c_str(), bar.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), unit.c_str());
    if (done >= total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace switchyard_examples
