// Extents (static and dynamic), strides, element access, bounds checks, and the aligned buffer.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "switchyard/core/buffer.hpp"
#include "switchyard/core/tensor_view.hpp"

namespace sy = switchyard;

TEST_CASE("extents mix static and dynamic dimensions", "[tensor_view]") {
  using E = sy::extents<sy::dynamic, 128, sy::dynamic>;
  static_assert(E::rank == 3 && E::rank_dynamic == 2);
  static_assert(E::static_extent(1) == 128 && !E::is_static(0));
  E const e(7, 5);  // only the dynamic ones
  CHECK(e.extent(0) == 7);
  CHECK(e.extent(1) == 128);
  CHECK(e.extent(2) == 5);
  CHECK(e.size() == 7 * 128 * 5);
  E const all(7, 128, 5);  // every extent, static ones checked
  CHECK(all == e);
  CHECK_THROWS_AS(E(7, 64, 5), sy::index_error);
  constexpr sy::extents<4, 8> s;
  static_assert(s.size() == 32);
  sy::dextents<2> const d(s);  // static -> dynamic
  CHECK(d.extent(1) == 8);
  CHECK_THROWS_AS((sy::extents<4, 9>(d)), sy::index_error);  // dynamic -> static, checked
}

TEST_CASE("views index row-major and strided memory", "[tensor_view]") {
  float data[6 * 5];
  for (int i = 0; i < 30; ++i) data[i] = static_cast<float>(i);
  auto v = sy::make_view(data, 6, 5);
  CHECK(v.stride(0) == 5);
  CHECK(v.stride(1) == 1);
  CHECK(v.is_contiguous());
  CHECK(v(2, 3) == 13.0f);
  CHECK(v.row(4)[1] == 21.0f);
  // A transposed view: [5, 6] with strides (1, 5).
  sy::matrix_view<float> t(data, sy::dextents<2>(5, 6), sy::strides<2>{{1, 5}});
  CHECK(!t.is_contiguous());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) CHECK(t(j, i) == v(i, j));
  // Writes go through.
  v(1, 1) = -1.0f;
  CHECK(data[6] == -1.0f);
  // view<T> converts to view<T const> and to a static extent when it matches.
  sy::tensor_view<float const, sy::extents<sy::dynamic, 5>> c = v;
  CHECK(c(1, 1) == -1.0f);
}

TEST_CASE("element access is bounds-checked when checks are on", "[tensor_view]") {
  float data[12] = {};
  auto v = sy::make_view(data, 3, 4);
  if constexpr (SWITCHYARD_BOUNDS_CHECKS) {
    CHECK_THROWS_AS(v(3, 0), sy::index_error);
    CHECK_THROWS_AS(v(0, 4), sy::index_error);
    CHECK_THROWS_AS(v(-1, 0), sy::index_error);
    CHECK_THROWS_WITH(v(0, 4), Catch::Contains("index 4 out of range [0, 4) in dimension 1"));
    CHECK_THROWS_AS(v.row(3), sy::index_error);
  } else {
    SUCCEED("bounds checks are compiled out in this configuration");
  }
  CHECK_NOTHROW(v(2, 3));
}

TEST_CASE("buffer is 64-byte aligned, movable and bounded", "[buffer]") {
  for (std::size_t n : {1u, 7u, 17u, 65u, 987u}) {
    sy::buffer<float> b(n);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
    CHECK(b.size() == n);
  }
  sy::buffer<float> a(10);
  a[3] = 2.5f;
  sy::buffer<float> moved(std::move(a));
  CHECK(moved[3] == 2.5f);
  CHECK(a.data() == nullptr);
  CHECK(moved.view(2, 5)(0, 3) == 2.5f);
  CHECK_THROWS_AS(moved.view(3, 5), sy::invalid_argument);  // 15 > 10 elements
  CHECK_THROWS_AS(sy::buffer<float>(std::numeric_limits<std::size_t>::max() / 2), sy::allocation_error);
  CHECK_THROWS_WITH(sy::buffer<float>(1000, 100), Catch::Contains("refusing to allocate 4000 bytes (limit 100)"));
  sy::buffer<float> empty(0);
  CHECK(empty.data() == nullptr);
}
