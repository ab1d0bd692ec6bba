// core/dispatch.hpp over the lists of core/instances.hpp: every listed instance is reached, a value
// outside a list is refused with an error naming it and every compiled value, dispatch_at_most
// picks the smallest instance that fits. (model::load's use of the lists: tests/host/test_io.cpp.)
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "switchyard/core/dispatch.hpp"
#include "switchyard/core/format/bf16.hpp"
#include "switchyard/core/instances.hpp"
#include "switchyard/io/dtype.hpp"

namespace sy = switchyard;
using sy::instances::group_limit;

namespace {

// A tag with a name() beside it (found by ADL, as model::name(weight_format) is), and one without.
enum class named { one, two, three };
constexpr char const* name(named n) { return n == named::one ? "one" : n == named::two ? "two" : "three"; }
enum class unnamed { a, b, c };

std::string message_of(auto&& call) {
  try {
    call();
  } catch (sy::unsupported_config const& e) {
    return e.what();
  }
  return "(no unsupported_config thrown)";
}

}  // namespace

// Constant expressions: a dispatch can be checked at compile time.
static_assert(sy::dispatch_value(sy::instances::router_top_k{}, 6, {"test", "k"}, []<int K>() { return K * 10; }) == 60);
static_assert(sy::dispatch_at_most(sy::value_list<1, 2, 4, 8>{}, 3, {"test", "v"}, []<int V>() { return V; }) == 4);
static_assert(sy::last_value(sy::instances::device_experts_per_lane{}) == 8);
static_assert(sy::contains(sy::instances::deepseek_groups{}, group_limit{4, 2}));
static_assert(!sy::contains(sy::instances::deepseek_groups{}, group_limit{4, 1}));
static_assert(std::is_same_v<decltype(sy::value_list<1>{} + sy::value_list<2, 3>{}), sy::value_list<1, 2, 3>>);
static_assert(std::is_same_v<decltype(sy::type_list<int>{} + sy::type_list<>{} + sy::type_list<float>{}),
                             sy::type_list<int, float>>);

TEST_CASE("dispatch_value reaches every instance of a list, in the list's order", "[dispatch]") {
  std::vector<int> seen;
  sy::for_each_value(sy::instances::router_top_k{}, [&]<int K>() {
    int const got = sy::dispatch_value(sy::instances::router_top_k{}, K, {"test", "top_k"}, [&]<int V>() {
      seen.push_back(V);
      return V;
    });
    CHECK(got == K);
  });
  CHECK(seen == std::vector<int>{1, 2, 4, 6, 8});

  // Structural values: each DeepSeek group setting reaches its own instance.
  sy::for_each_value(sy::instances::deepseek_groups{}, [&]<group_limit G>() {
    auto const got = sy::dispatch_value(sy::instances::deepseek_groups{}, G, {"test", "groups"},
                                        []<group_limit H>() { return H.groups * 100 + H.kept; });
    CHECK(got == G.groups * 100 + G.kept);
  });

  // f's return passes through: void, and references (not copies).
  int calls = 0;
  sy::dispatch_value(sy::value_list<1, 2>{}, 2, {"test", "v"}, [&]<int>() { ++calls; });
  CHECK(calls == 1);
  int slot = 0;
  int& ref = sy::dispatch_value(sy::value_list<1, 2>{}, 1, {"test", "v"}, [&]<int>() -> int& { return slot; });
  CHECK(&ref == &slot);
  // A move-only result (model::load returns unique_ptrs).
  auto p = sy::dispatch_value(sy::value_list<1, 2>{}, 2, {"test", "v"}, []<int V>() { return std::make_unique<int>(V); });
  CHECK(*p == 2);
}

TEST_CASE("a value outside the list is refused with the value and every compiled one", "[dispatch]") {
  auto const top_k = [](int k) {
    return message_of([&] {
      sy::dispatch_value(sy::instances::router_top_k{}, k, {"model::load", "num_experts_per_tok", "router"}, []<int>() {});
    });
  };
  CHECK(top_k(3) == "switchyard::model::load: num_experts_per_tok = 3 has no compiled router (1, 2, 4, 6, 8 do)");
  CHECK(top_k(0) == "switchyard::model::load: num_experts_per_tok = 0 has no compiled router (1, 2, 4, 6, 8 do)");
  CHECK(top_k(16) == "switchyard::model::load: num_experts_per_tok = 16 has no compiled router (1, 2, 4, 6, 8 do)");

  CHECK(message_of([] {
          sy::dispatch_value(sy::instances::deepseek_groups{}, group_limit{4, 1},
                             {"model::load", "deepseek n_group / topk_group", "router"}, []<group_limit>() {});
        }) == "switchyard::model::load: deepseek n_group / topk_group = 4/1 has no compiled router (8/4, 4/2, n/n do)");

  // The default noun, and one entry.
  CHECK(message_of([] { sy::dispatch_value(sy::value_list<64>{}, 96, {"attention", "head_dim"}, []<int>() {}); }) ==
        "switchyard::attention: head_dim = 96 has no compiled instance (64 does)");

  // The error is an unsupported_config, hence an invalid_argument.
  CHECK_THROWS_AS(sy::dispatch_value(sy::value_list<1>{}, 2, {"test", "v"}, []<int>() {}), sy::invalid_argument);
  // f is not called on a miss.
  bool called = false;
  CHECK_THROWS(sy::dispatch_value(sy::value_list<1>{}, 2, {"test", "v"}, [&]<int>() { called = true; }));
  CHECK_FALSE(called);
}

TEST_CASE("dispatch_at_most picks the smallest instance that fits and refuses beyond the largest", "[dispatch]") {
  using epl = sy::instances::device_experts_per_lane;
  auto const pick = [](int v) { return sy::dispatch_at_most(epl{}, v, {"test", "v"}, []<int V>() { return V; }); };
  CHECK(pick(1) == 1);
  CHECK(pick(2) == 2);
  CHECK(pick(3) == 4);
  CHECK(pick(4) == 4);
  CHECK(pick(5) == 8);
  CHECK(pick(8) == 8);
  CHECK(pick(-1) == 1);
  // launch_topk's use: E experts over 32 lanes, the if-chain it replaced (E <= 32, 64, 128, 256).
  for (int E = 1; E <= 256; ++E) {
    int const before = E <= 32 ? 1 : E <= 64 ? 2 : E <= 128 ? 4 : 8;
    INFO("E = " << E);
    CHECK(pick((E + 31) / 32) == before);
  }
  CHECK(message_of([&] { pick(9); }) == "switchyard::test: v = 9 has no compiled instance that large (1, 2, 4, 8 do)");
  CHECK(message_of([] {
          sy::dispatch_at_most(epl{}, 10, {"kernels::route::topk", "experts per lane", "router kernel"}, []<int>() {});
        }) == "switchyard::kernels::route::topk: experts per lane = 10 has no compiled router kernel that large "
              "(1, 2, 4, 8 do)");
}

TEST_CASE("dispatch_type maps a run-time tag to the type listed with it", "[dispatch]") {
  using by_name = sy::type_list<sy::tagged<named::one, float>, sy::tagged<named::two, sy::format::bf16>>;
  CHECK(sy::dispatch_type(by_name{}, named::one, {"test", "t"}, []<class T>() { return std::is_same_v<T, float>; }));
  CHECK(sy::dispatch_type(by_name{}, named::two, {"test", "t"},
                          []<class T>() { return std::is_same_v<T, sy::format::bf16>; }));
  // Tags print with name() found beside the enum, io::info(dtype).name, or else as integers.
  CHECK(message_of([] {
          sy::dispatch_type(by_name{}, named::three, {"model::load", "load_options::weights", "weight format"},
                            []<class>() {});
        }) == "switchyard::model::load: load_options::weights = three has no compiled weight format (one, two do)");
  using by_dtype = sy::type_list<sy::tagged<sy::io::dtype::f32, float>, sy::tagged<sy::io::dtype::bf16, sy::format::bf16>>;
  CHECK(message_of([] {
          sy::dispatch_type(by_dtype{}, sy::io::dtype::q5_K, {"model::load", "x.gguf: matrix dtype", "weight format"},
                            []<class>() {});
        }) == "switchyard::model::load: x.gguf: matrix dtype = q5_K has no compiled weight format (f32, bf16 do)");
  using by_number = sy::type_list<sy::tagged<unnamed::a, int>, sy::tagged<unnamed::b, long>>;
  CHECK(message_of([] { sy::dispatch_type(by_number{}, unnamed::c, {"test", "t"}, []<class>() {}); }) ==
        "switchyard::test: t = 2 has no compiled instance (0, 1 do)");
  // Every entry, in order.
  std::string order;
  sy::for_each_type(by_name{}, [&]<class E>() { order += name(E::tag); });
  CHECK(order == "onetwo");
}
