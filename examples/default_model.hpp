#pragma once
// The shipped model's folder (models/switchyard-tiny-moe) for the programs that default to it.
// Its absolute path is compiled into one small unit, default_model.cpp, and nowhere else, so the
// programs' own sources compile the same in every clone and a compiler cache serves them all.
namespace switchyard_examples {
char const* default_model() noexcept;
}  // namespace switchyard_examples
