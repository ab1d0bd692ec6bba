// linear<W> with a W that is not a format must fail to compile with switchyard's own message,
// not a template backtrace. Built twice by CTest: without SWITCHYARD_SHOULD_FAIL it must build.
#include "switchyard/linear/linear.hpp"

int main() {
#ifdef SWITCHYARD_SHOULD_FAIL
  using layer = switchyard::linear<int>;
#else
  using layer = switchyard::linear<switchyard::format::bf16>;
#endif
  return sizeof(layer) > 0 ? 0 : 1;
}
