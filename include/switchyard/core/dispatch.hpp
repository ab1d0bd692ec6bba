#pragma once
// Run-time value -> compiled instance: the one helper behind every dynamic front (model::load's
// routers and formats, the device router's experts per lane), FlashInfer's DISPATCH macros and
// CCCL's policy lists as functions over named lists.
//
//   using top_ks = value_list<1, 2, 4, 6, 8>;           // the compiled set, named once
//   auto ffn = dispatch_value(top_ks{}, k, {"model::load", "num_experts_per_tok", "router"},
//                             [&]<int K>() { return make<route::mixtral<K>>(); });
//   // k = 3 throws unsupported_config: "switchyard::model::load: num_experts_per_tok = 3 has no
//   // compiled router (1, 2, 4, 6, 8 do)"
//
// A call instantiates f for exactly the entries of its list, so the list is the compile-time cost,
// in one place (core/instances.hpp holds the library's lists). The lists are plain types, usable
// in constant expressions on the host and the device; the dispatch functions run on the host
// (they throw) and are constexpr, so a test can check a dispatch in a static_assert.
//
// Values print in the error with operator<<, else with a name(v) or info(v).name found by ADL
// beside the type (model::name(weight_format), io::info(dtype)), else as the enum's integer.
#include <cstddef>
#include <ostream>
#include <sstream>
#include <string_view>
#include <type_traits>

#include "switchyard/config.hpp"
#include "switchyard/core/error.hpp"

SWITCHYARD_NAMESPACE_BEGIN

// A compiled set of values (ints, enums, structural aggregates), in dispatch order.
template <auto... Vs>
struct value_list {
  static constexpr std::size_t size = sizeof...(Vs);
};

// A compiled set of types; for dispatch_type, of tagged<Tag, T> entries.
template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

// An entry that a run-time tag (an enum value, an io::dtype) selects.
template <auto Tag, class T>
struct tagged {
  static constexpr auto tag = Tag;
  using type = T;
};

// Concatenation, so that an X-macro can build a list without separators:
//   decltype(type_list<>{} SWITCHYARD_MODEL_WEIGHT_FORMATS(ENTRY))  with ENTRY(n, W) = + type_list<...>{}
template <class... A, class... B>
constexpr type_list<A..., B...> operator+(type_list<A...>, type_list<B...>) {
  return {};
}
template <auto... A, auto... B>
constexpr value_list<A..., B...> operator+(value_list<A...>, value_list<B...>) {
  return {};
}

// What a dispatch selects, for its error message: "switchyard::<where>: <value> = 3 has no
// compiled <instance> (1, 2, 4, 6, 8 do)".
struct dispatch_what {
  std::string_view where;                 // the message's prefix, "model::load"
  std::string_view value;                 // the run-time value's name, "num_experts_per_tok"
  std::string_view instance = "instance"; // what the list's entries are, "router"
};

// The queries are __host__ __device__: a kernel may size itself by a list in a constant expression.
template <auto... Vs>
SWITCHYARD_HOST_DEVICE constexpr bool contains(value_list<Vs...>, auto const& v) {
  return ((v == Vs) || ...);
}

// The last (for an ascending list, the largest) value.
template <auto... Vs>
SWITCHYARD_HOST_DEVICE constexpr auto last_value(value_list<Vs...>) {
  static_assert(sizeof...(Vs) > 0, "switchyard: last_value of an empty value_list");
  std::common_type_t<decltype(Vs)...> const v[] = {Vs...};
  return v[sizeof...(Vs) - 1];
}

// f.template operator()<V>() for each V in order (tests walk every compiled instance with it).
template <auto... Vs, class F>
constexpr void for_each_value(value_list<Vs...>, F&& f) {
  (f.template operator()<Vs>(), ...);
}
template <class... Ts, class F>
constexpr void for_each_type(type_list<Ts...>, F&& f) {
  (f.template operator()<Ts>(), ...);
}

namespace detail {

// Calls the I-th entry's f (I < the list's length, checked by the caller). A recursion as deep as
// the list is long: a handful of entries.
template <auto V, auto... Rest, class F>
constexpr decltype(auto) call_value_at(std::size_t i, F& f) {
  if constexpr (sizeof...(Rest) > 0)
    if (i != 0) return call_value_at<Rest...>(i - 1, f);
  return f.template operator()<V>();
}
template <class E, class... Rest, class F>
constexpr decltype(auto) call_type_at(std::size_t i, F& f) {
  if constexpr (sizeof...(Rest) > 0)
    if (i != 0) return call_type_at<Rest...>(i - 1, f);
  return f.template operator()<typename E::type>();
}

namespace dispatch_adl {
void name() = delete;  // only ADL finds name(v) and info(v) below, never a switchyard function
void info() = delete;

template <class T>
void write(std::ostream& os, T const& v) {
  if constexpr (requires { os << v; }) os << v;
  else if constexpr (requires { name(v); }) os << name(v);
  else if constexpr (requires { info(v).name; }) os << info(v).name;
  else if constexpr (std::is_enum_v<T>) os << +static_cast<std::underlying_type_t<T>>(v);
  else static_assert(std::is_enum_v<T>, "switchyard::dispatch: give the value type an operator<< or a name()");
}
}  // namespace dispatch_adl

template <auto... Vs>
constexpr bool strictly_ascending() {
  std::common_type_t<decltype(Vs)...> const v[] = {Vs...};
  for (std::size_t i = 1; i < sizeof...(Vs); ++i)
    if (!(v[i - 1] < v[i])) return false;
  return true;
}

// Thrown when no entry fits: the value and every compiled one.
template <class T, class... Listed>
[[noreturn]] void no_instance(dispatch_what const& what, T const& v, std::string_view qualifier,
                              Listed const&... listed) {
  std::ostringstream os;
  os << what.value << " = ";
  dispatch_adl::write(os, v);
  os << " has no compiled " << what.instance << qualifier << " (";
  int n = 0;
  ((os << (n++ ? ", " : ""), dispatch_adl::write(os, listed)), ...);
  os << (sizeof...(Listed) == 1 ? " does)" : " do)");
  fail<unsupported_config>(what.where, os.str());
}

}  // namespace detail

// f.template operator()<V>() for the V of the list equal to v; unsupported_config listing the
// list's values when none is.
template <auto... Vs, class T, class F>
constexpr decltype(auto) dispatch_value(value_list<Vs...>, T const& v, dispatch_what const& what, F&& f) {
  static_assert(sizeof...(Vs) > 0, "switchyard::dispatch_value: an empty instance list");
  std::size_t i = 0;
  if (!((v == Vs || (++i, false)) || ...)) detail::no_instance(what, v, "", Vs...);
  return detail::call_value_at<Vs...>(i, f);
}

// f.template operator()<V>() for the smallest V >= v of an ascending list (an instance sized for
// at most V: experts per lane); unsupported_config when v exceeds the largest.
template <auto... Vs, class T, class F>
constexpr decltype(auto) dispatch_at_most(value_list<Vs...>, T const& v, dispatch_what const& what, F&& f) {
  static_assert(sizeof...(Vs) > 0, "switchyard::dispatch_at_most: an empty instance list");
  static_assert(detail::strictly_ascending<Vs...>(),
                "switchyard::dispatch_at_most: the list must be strictly ascending");
  std::size_t i = 0;
  if (!((v <= Vs || (++i, false)) || ...)) detail::no_instance(what, v, " that large", Vs...);
  return detail::call_value_at<Vs...>(i, f);
}

// f.template operator()<typename E::type>() for the entry E of a list of tagged<Tag, T> whose tag
// equals `tag`; unsupported_config listing the tags when none does.
template <class... Es, class T, class F>
constexpr decltype(auto) dispatch_type(type_list<Es...>, T const& tag, dispatch_what const& what, F&& f) {
  static_assert(sizeof...(Es) > 0, "switchyard::dispatch_type: an empty instance list");
  std::size_t i = 0;
  if (!((tag == Es::tag || (++i, false)) || ...)) detail::no_instance(what, tag, "", Es::tag...);
  return detail::call_type_at<Es...>(i, f);
}

SWITCHYARD_NAMESPACE_END
