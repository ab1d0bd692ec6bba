// Device memory handed to a host kernel must not compile: the backend is part of the view's type.
#include "switchyard/norm/rms_norm.hpp"

int main() {
  float x[4] = {1, 2, 3, 4}, w[2] = {1, 1}, y[4];
  switchyard::dextents<2> const e(2, 2);
#ifdef SWITCHYARD_SHOULD_FAIL
  switchyard::tensor_view<float const, switchyard::dextents<2>, switchyard::backend::cuda> xv(x, e);
#else
  switchyard::tensor_view<float const, switchyard::dextents<2>, switchyard::backend::host> xv(x, e);
#endif
  switchyard::norm::rms_norm(xv, switchyard::make_view<float const>(w, 2), switchyard::make_view(y, 2, 2), 1e-6f);
  return 0;
}
