// A negative static extent must be refused where the user writes it.
#include "switchyard/core/extents.hpp"

int main() {
#ifdef SWITCHYARD_SHOULD_FAIL
  switchyard::extents<4, -5> e;
#else
  switchyard::extents<4, 5> e;
#endif
  return static_cast<int>(e.size()) == 20 ? 0 : 1;
}
