// Checkpoint readers: every malformed case the loaders must refuse gets a format_error that says
// what is wrong, and valid files round-trip (GGUF writer -> reader).
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "support/data_dir.hpp"
#include "switchyard/core/format/gguf.hpp"
#include "switchyard/io/gguf.hpp"
#include "switchyard/io/gguf_writer.hpp"
#include "switchyard/io/json.hpp"
#include "switchyard/io/mapped_file.hpp"
#include "switchyard/io/safetensors.hpp"
#include "switchyard/model/hf_config.hpp"
#include "switchyard/model/build.hpp"  // detail::weight_formats (the instance lists)
#include "switchyard/model/load.hpp"

// The exception's type and its message (Catch2 v2 matches messages of any type only).
#define CHECK_THROWS_ERROR(expr, Type, matcher) \
  do {                                           \
    CHECK_THROWS_AS(expr, Type);                 \
    CHECK_THROWS_WITH(expr, matcher);            \
  } while (0)

namespace sy = switchyard;
namespace io = switchyard::io;

namespace {

std::vector<std::byte> bytes_of(std::string const& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// A safetensors image: the 8-byte length (or `length` when given), the header, `data` bytes.
std::vector<std::byte> safetensors_image(std::string const& header, std::size_t data, std::int64_t length = -1) {
  std::uint64_t const n = length < 0 ? header.size() : static_cast<std::uint64_t>(length);
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  s += header;
  s += std::string(data, '\x01');
  return bytes_of(s);
}

void expect_safetensors_error(std::vector<std::byte> const& img, std::string const& what) {
  INFO("expected an error mentioning: " << what);
  CHECK_THROWS_ERROR(io::parse_safetensors(img, "test.safetensors"), sy::format_error,
                       Catch::Matchers::Contains(what) && Catch::Matchers::Contains("test.safetensors"));
}

// Raw GGUF bytes, field by field, so that any field can be made wrong.
struct gguf_bytes {
  std::vector<std::byte> b;
  template <class T>
  gguf_bytes& put(T x) {
    std::byte tmp[sizeof(T)];
    std::memcpy(tmp, &x, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  gguf_bytes& str(std::string const& s) {
    put<std::uint64_t>(s.size());
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    return *this;
  }
  gguf_bytes& pad(std::size_t align) {
    while (b.size() % align) b.push_back(std::byte{0});
    return *this;
  }
};

// A valid file: one u32 key, one f32 tensor [2, 4] at offset 0; the pieces can be overridden.
struct gguf_spec {
  std::uint32_t magic = 0x46554747u, version = 3;
  std::uint64_t n_tensors = 1, n_kv = 1;
  std::string key = "general.alignment";
  std::uint32_t value_type = 4, value = 32;
  std::string tensor = "w";
  std::uint32_t dims = 2;
  std::uint64_t ne0 = 4, ne1 = 2;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;
  std::size_t data = 32;
};

std::vector<std::byte> gguf_image(gguf_spec const& s) {
  gguf_bytes g;
  g.put(s.magic).put(s.version).put(s.n_tensors).put(s.n_kv);
  g.str(s.key).put(s.value_type).put(s.value);
  g.str(s.tensor).put(s.dims).put(s.ne0);
  if (s.dims > 1) g.put(s.ne1);
  g.put(s.type).put(s.offset);
  g.pad(32);
  for (std::size_t i = 0; i < s.data; ++i) g.b.push_back(std::byte{0x3F});
  return g.b;
}

void expect_gguf_error(std::vector<std::byte> const& img, std::string const& what) {
  INFO("expected an error mentioning: " << what);
  CHECK_THROWS_ERROR(io::parse_gguf(img, "test.gguf"), sy::format_error,
                       Catch::Matchers::Contains(what) && Catch::Matchers::Contains("test.gguf"));
}

std::filesystem::path temp_dir(std::string const& name) {
  auto p = std::filesystem::temp_directory_path() / ("switchyard_test_io_" + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// The resident kilobytes of the mapping that starts at `p` (Linux /proc/self/smaps), -1 if none.
long resident_kb(void const* p) {
  std::ifstream f("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(p)));
  bool in = false;
  for (std::string line; std::getline(f, line);) {
    if (line.find('-') != std::string::npos && line.find(' ') > line.find('-') && std::isxdigit(line[0]))
      in = line.rfind(start, 0) == 0;
    else if (in && line.rfind("Rss:", 0) == 0)
      return std::stol(line.substr(4));
  }
  return -1;
}

}  // namespace

TEST_CASE("mapped_file: released pages leave the resident set and read back unchanged", "[io]") {
  auto const path = std::filesystem::temp_directory_path() / "switchyard_release_pages.bin";
  std::size_t const n = std::size_t{4} << 20;
  {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<char const*>(v.data()), static_cast<std::streamsize>(n));
  }
  io::mapped_file const f(path.string());
  auto const b = f.bytes();
  auto sum = [&] {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s = s * 31 + std::to_integer<std::uint64_t>(b[i]);
    return s;
  };
  std::uint64_t const before = sum();  // every page touched
  long const all = resident_kb(b.data());
  if (all < 0) {
    WARN("no /proc/self/smaps entry for the mapping: the resident set is not checked");
  } else {
    CHECK(all >= 4000);
  }
  f.release_pages(b.subspan(1000, n - 2000));  // a range that starts and ends inside a page
  f.release_pages(std::span<std::byte const>(reinterpret_cast<std::byte const*>(&n), sizeof n));  // not the file's: ignored
  if (all >= 0) {
    long const left = resident_kb(b.data());
    CHECK(left <= 8);  // at most the first and the last page, which the range only partly covers
  }
  CHECK(sum() == before);  // read back from the file
  std::filesystem::remove(path);
}


TEST_CASE("json: duplicate top-level keys and oversized files are refused with the file's name", "[io]") {
  CHECK(io::parse_json_unique(R"({"a":{"x":1,"x":2},"b":2})", "ok.json").at("b") == 2);  // nested: nlohmann's rule
  CHECK_THROWS_ERROR(io::parse_json_unique(R"({"a":1,"a":2})", "dup.json"), sy::format_error,
                     Catch::Matchers::Contains("dup.json") && Catch::Matchers::Contains("duplicate key 'a'"));
  CHECK_THROWS_ERROR(io::parse_json_unique("{", "bad.json"), sy::format_error, Catch::Matchers::Contains("invalid JSON"));
  auto const path = std::filesystem::temp_directory_path() / "switchyard_test_read_text.json";
  std::ofstream(path, std::ios::binary) << R"({"k":"v"})";
  CHECK(io::read_text_file(path, 9) == R"({"k":"v"})");
  CHECK_THROWS_ERROR(io::read_text_file(path, 8), sy::format_error, Catch::Matchers::Contains("larger than 8 bytes"));
  std::filesystem::remove(path);
  CHECK_THROWS_ERROR(io::read_text_file(path, 8), sy::format_error, Catch::Matchers::Contains("cannot open"));
}

// The readers share tensor_directory as a base that nothing deletes through: its destructor is
// protected (no delete through the base, no slicing), and the readers still move.
static_assert(!std::is_destructible_v<io::tensor_directory>);
static_assert(!std::is_move_constructible_v<io::tensor_directory>);
static_assert(std::is_move_constructible_v<io::gguf_file> && std::is_move_assignable_v<io::gguf_file>);
static_assert(std::is_move_constructible_v<io::safetensors_checkpoint> &&
              std::is_move_assignable_v<io::safetensors_checkpoint>);

TEST_CASE("safetensors: a valid image parses", "[io]") {
  auto img = safetensors_image(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      12);
  auto h = io::parse_safetensors(img, "ok");
  REQUIRE(h.tensors.size() == 2);
  CHECK(h.tensors[0].name == "a");
  CHECK(h.tensors[1].dtype == io::dtype::bf16);
  CHECK(h.tensors[1].data.size() == 4);
  CHECK(h.metadata.at("format") == "pt");
}

// DeepSeek-V3's checkpoint lists ~92 000 tensors. The header parse must stay linear in them (it
// was quadratic through nlohmann's callback parser: ~80 s at 100 000 entries, a few tenths now);
// a regression shows as this test running for minutes. Every entry must come back, in order,
// and a duplicate name at the very end must still be found.
TEST_CASE("safetensors: a header of 100 000 tensors parses, and a late duplicate is refused", "[io]") {
  std::string h = "{";
  int const n = 100000;
  for (int i = 0; i < n; ++i) {
    h += (i ? "," : "");
    h += "\"model.layers." + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
         std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  }
  auto const img = safetensors_image(h + "}", 4 * static_cast<std::size_t>(n));
  auto const parsed = io::parse_safetensors(img, "big.safetensors");
  REQUIRE(parsed.tensors.size() == static_cast<std::size_t>(n));
  CHECK(parsed.tensors[0].name == "model.layers.0.weight");
  CHECK(parsed.tensors[n - 1].name == "model.layers." + std::to_string(n - 1) + ".weight");
  CHECK(parsed.tensors[n - 1].data.data() == img.data() + 8 + h.size() + 1 + 4 * (n - 1));
  std::string const dup = h + R"(,"model.layers.7.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  expect_safetensors_error(safetensors_image(dup, 4 * static_cast<std::size_t>(n)), "duplicate key 'model.layers.7.weight'");
}

TEST_CASE("safetensors: every malformed case is refused with what and where", "[io]") {
  expect_safetensors_error(bytes_of("abc"), "shorter than the 8-byte header length");
  expect_safetensors_error(safetensors_image("{}", 0, 1000), "runs past the end of the file");
  expect_safetensors_error(safetensors_image("{}", 0, std::int64_t{1} << 40), "exceeds the limit");
  expect_safetensors_error(safetensors_image("{\"a\":", 0), "invalid JSON");
  expect_safetensors_error(safetensors_image("[1,2]", 0), "not a JSON object");
  expect_safetensors_error(safetensors_image("{\"\xff\xfe\":{}}", 0), "invalid JSON");  // bad UTF-8 name
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                           "duplicate key 'a'");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8),
                           "are not inside the 8 data bytes");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                           "but its data_offsets span 8 bytes");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8),
                           "unknown dtype");
  expect_safetensors_error(
      safetensors_image(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", 8),
      "data_offsets span");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                           "bad dimension");
  expect_safetensors_error(
      safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
      "overlaps");
  expect_safetensors_error(
      safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
      "a hole of 4 bytes");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
                           "trailing bytes");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "needs dtype, shape and data_offsets");
  expect_safetensors_error(safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
                           "are not inside");
  expect_safetensors_error(safetensors_image(R"({"__metadata__":{"k":1}})", 0), "is not a string");
}

TEST_CASE("safetensors: sharded index validation", "[io]") {
  auto dir = temp_dir("sharded");
  auto write = [&](std::string const& name, std::vector<std::byte> const& b) {
    std::ofstream f(dir / name, std::ios::binary);
    f.write(reinterpret_cast<char const*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  write("s1.safetensors", safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4));
  write("s2.safetensors", safetensors_image(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4));
  auto index = [&](std::string const& json) {
    std::ofstream(dir / "model.safetensors.index.json") << json;
  };
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  io::safetensors_checkpoint ok(dir);
  CHECK(ok.find("a") != nullptr);
  CHECK(ok.find("b") != nullptr);
  index(R"({"weight_map":{"a":"s1.safetensors","b":"../s2.safetensors"}})");
  CHECK_THROWS_ERROR(io::safetensors_checkpoint(dir), sy::format_error, Catch::Matchers::Contains("not a plain file name"));
  index(R"({"weight_map":{"a":"s2.safetensors"}})");
  CHECK_THROWS_ERROR(io::safetensors_checkpoint(dir), sy::format_error,
                     Catch::Matchers::Contains("shard s2.safetensors holds tensor 'b', which the index does not list"));
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"}})");
  CHECK_THROWS_ERROR(io::safetensors_checkpoint(dir), sy::format_error,
                       Catch::Matchers::Contains("tensor 'c' is not in its shard s2.safetensors"));
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})");
  CHECK_THROWS_AS(io::safetensors_checkpoint(dir), sy::format_error);
  index(R"({"weight_map":{"a":"missing.safetensors"}})");
  CHECK_THROWS_ERROR(io::safetensors_checkpoint(dir), sy::format_error, Catch::Matchers::Contains("cannot open"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("gguf: a valid image parses and every truncation is refused", "[io]") {
  auto const img = gguf_image({});
  auto h = io::parse_gguf(img, "ok");
  REQUIRE(h.tensors.size() == 1);
  CHECK(h.tensors[0].shape == std::vector<std::int64_t>{2, 4});
  CHECK(h.tensors[0].data.size() == 32);
  for (std::size_t n = 0; n < img.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_AS(io::parse_gguf(std::span<std::byte const>(img.data(), n), "t"), sy::format_error);
  }
}

TEST_CASE("gguf: a file without tensors may end before the data section's padding (llama.cpp's vocab-only files)", "[io]") {
  auto const dir = temp_dir("gguf_vocab_only");
  io::gguf_writer w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.write((dir / "v.gguf").string());
  std::ifstream in(dir / "v.gguf", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Cut the padding after the metadata: the header ends with the last key's value.
  std::size_t end = bytes.size();
  while (end > 0 && bytes[end - 1] == '\0') --end;
  for (std::size_t n : {bytes.size(), end}) {
    auto const* p = reinterpret_cast<std::byte const*>(bytes.data());
    auto const h = io::parse_gguf(std::span<std::byte const>(p, n), "vocab");
    CHECK(h.tensors.empty());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("gguf: every malformed case is refused with what and where", "[io]") {
  auto with = [](auto f) {
    gguf_spec s;
    f(s);
    return gguf_image(s);
  };
  expect_gguf_error(with([](gguf_spec& s) { s.magic = 0x12345678; }), "bad magic");
  expect_gguf_error(with([](gguf_spec& s) { s.version = 1; }), "version 1");
  expect_gguf_error(with([](gguf_spec& s) { s.n_kv = std::uint64_t{1} << 60; }), "metadata count");
  expect_gguf_error(with([](gguf_spec& s) { s.n_tensors = std::uint64_t{1} << 60; }), "tensor count");
  expect_gguf_error(with([](gguf_spec& s) { s.key = "bad\xc3("; }), "not valid UTF-8");
  expect_gguf_error(with([](gguf_spec& s) { s.value_type = 13; }), "unknown value type 13");
  expect_gguf_error(with([](gguf_spec& s) { s.value_type = 6; }), "general.alignment must be a u32");
  expect_gguf_error(with([](gguf_spec& s) { s.value = 48; }), "not a power of two");
  expect_gguf_error(with([](gguf_spec& s) { s.dims = 5; }), "5 dimensions");
  expect_gguf_error(with([](gguf_spec& s) { s.ne0 = 0; }), "dimension 0 = 0");
  expect_gguf_error(with([](gguf_spec& s) { s.type = 99; }), "ggml type 99");
  expect_gguf_error(with([](gguf_spec& s) { s.type = 16; }), "ggml type 16 (IQ2_XXS), which switchyard does not read");
  expect_gguf_error(with([](gguf_spec& s) { s.type = 8; }), "not a valid q8_0 shape");  // 4 columns: not whole blocks
  expect_gguf_error(with([](gguf_spec& s) { s.ne0 = s.ne1 = std::uint64_t{1} << 40; }), "not a valid f32 shape");
  expect_gguf_error(with([](gguf_spec& s) { s.offset = 4; }), "not a multiple of the alignment");
  expect_gguf_error(with([](gguf_spec& s) { s.offset = 64; }), "runs past the end of the file");
  expect_gguf_error(with([](gguf_spec& s) { s.data = 16; }), "runs past the end of the file");
  expect_gguf_error(with([](gguf_spec& s) { s.tensor = ""; }), "empty name");
  // A string length far past the file, and an array claiming more elements than bytes remain.
  gguf_bytes big;
  big.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
  big.put<std::uint64_t>(std::uint64_t{1} << 62);
  for (int i = 0; i < 64; ++i) big.b.push_back(std::byte{'a'});
  expect_gguf_error(big.b, "exceeds the limit");
  gguf_bytes arr;
  arr.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
  arr.str("tokens").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(std::uint64_t{1} << 50);
  expect_gguf_error(arr.b, "claims");
  // Arrays nested past the limit.
  gguf_bytes deep;
  deep.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
  deep.str("deep").put<std::uint32_t>(9);
  for (int i = 0; i < 6; ++i) deep.put<std::uint32_t>(9).put<std::uint64_t>(1);
  expect_gguf_error(deep.b, "nests arrays deeper");
  // Duplicate keys and tensors, overlapping tensors.
  gguf_bytes dup;
  dup.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(2);
  dup.str("k").put<std::uint32_t>(4).put<std::uint32_t>(1).str("k").put<std::uint32_t>(4).put<std::uint32_t>(2);
  expect_gguf_error(dup.b, "duplicate key 'k'");
  for (bool same_name : {true, false}) {
    gguf_bytes two;
    two.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(2).put<std::uint64_t>(0);
    two.str("a").put<std::uint32_t>(1).put<std::uint64_t>(16).put<std::uint32_t>(0).put<std::uint64_t>(0);
    two.str(same_name ? "a" : "b").put<std::uint32_t>(1).put<std::uint64_t>(16).put<std::uint32_t>(0).put<std::uint64_t>(32);
    two.pad(32);
    for (int i = 0; i < 128; ++i) two.b.push_back(std::byte{0});
    expect_gguf_error(two.b, same_name ? "duplicate tensor 'a'" : "overlaps");
  }
}

TEST_CASE("gguf writer output reads back: metadata of every type, tensors, alignment", "[io]") {
  auto dir = temp_dir("writer");
  io::gguf_writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("general.alignment", 64);
  w.set_i32("x.i32", -5);
  w.set_f32("x.f32", 0.25f);
  w.set_bool("x.bool", true);
  std::vector<io::gguf_value> items;
  for (std::string s : {"a", "bc", "\xe2\x82\xac"}) items.push_back({io::gguf_type::string, io::gguf_type::u8, s});
  w.set("x.tokens", {io::gguf_type::array, io::gguf_type::string, items});
  std::vector<float> a(6 * 32);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::vector<sy::format::q8_0> q(6);
  for (int r = 0; r < 6; ++r) sy::format::traits<sy::format::q8_0>::quantize(a.data() + r * 32, &q[static_cast<std::size_t>(r)]);
  w.add_tensor("a", io::dtype::f32, {6, 32}, std::as_bytes(std::span<float const>(a)));
  w.add_tensor("q", io::dtype::q8_0, {6, 32}, std::as_bytes(std::span<sy::format::q8_0 const>(q)));
  CHECK_THROWS_AS(w.add_tensor("bad", io::dtype::f32, {5, 32}, std::as_bytes(std::span<float const>(a))), sy::invalid_argument);
  w.write((dir / "t.gguf").string());
  io::gguf_file f(dir / "t.gguf");
  CHECK(f.alignment() == 64);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("x.i32") == -5);
  CHECK(f.get_float("x.f32") == 0.25);
  CHECK(f.get_bool("x.bool", false));
  auto const& toks = std::get<std::vector<io::gguf_value>>(f.find_value("x.tokens")->v);
  REQUIRE(toks.size() == 3);
  CHECK(std::get<std::string>(toks[2].v) == "\xe2\x82\xac");
  auto const& ta = f.at("a");
  CHECK(ta.shape == std::vector<std::int64_t>{6, 32});
  CHECK(std::memcmp(ta.data.data(), a.data(), a.size() * 4) == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(ta.data.data()) % 64 == 0);
  auto const& tq = f.at("q");
  CHECK(tq.dtype == io::dtype::q8_0);
  CHECK(std::memcmp(tq.data.data(), q.data(), q.size() * sizeof(q[0])) == 0);
  CHECK_THROWS_ERROR(f.get_int("general.architecture"), sy::format_error, Catch::Matchers::Contains("not an integer"));
  CHECK_THROWS_ERROR(f.get_string("missing.key"), sy::format_error, Catch::Matchers::Contains("missing key"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("hf config: unsupported and malformed configs are refused by key", "[io][model]") {
  auto parse = [](std::string const& s) { return sy::model::parse_hf_config(nlohmann::json::parse(s), "config.json"); };
  std::string const base =
      R"("vocab_size":16,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8)";
  CHECK(parse("{\"model_type\":\"llama\"," + base + "}").head_dim == 4);
  CHECK_THROWS_ERROR(parse("{\"model_type\":\"gpt2\"," + base + "}"), sy::unsupported_config,
                       Catch::Matchers::Contains("model_type 'gpt2'"));
  CHECK_THROWS_ERROR(parse("{\"model_type\":\"llama\",\"hidden_act\":\"gelu\"," + base + "}"), sy::unsupported_config,
                       Catch::Matchers::Contains("hidden_act"));
  CHECK_THROWS_ERROR(parse(R"({"model_type":"llama","vocab_size":16})"), sy::format_error,
                       Catch::Matchers::Contains("missing key 'hidden_size'"));
  CHECK_THROWS_ERROR(parse("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"llama3\"}," + base + "}"),
                       sy::unsupported_config, Catch::Matchers::Contains("llama3"));
  CHECK_THROWS_ERROR(parse(R"({"model_type":"llama","vocab_size":"16","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2})"),
                       sy::format_error, Catch::Matchers::Contains("'vocab_size' must be a non-negative integer"));
  CHECK_THROWS_ERROR(parse("{\"model_type\":\"mixtral\",\"num_local_experts\":2,\"num_experts_per_tok\":3," + base + "}"),
                       sy::format_error, Catch::Matchers::Contains("num_experts_per_tok"));
}

TEST_CASE("model loading: missing, extra and misshapen tensors are refused by name", "[io][model]") {
  // Rewrite the tiny llama's checkpoint with one tensor changed, into a temporary folder.
  std::filesystem::path const src = std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/llama";
  io::safetensors_checkpoint const ck(src);
  auto rewrite = [&](std::string const& case_name, auto edit) {
    auto dir = temp_dir("model_" + case_name);
    std::filesystem::copy_file(src / "config.json", dir / "config.json");
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (auto t : ck.tensors()) {
      std::vector<std::int64_t> shape = t.shape;
      std::string name = t.name;
      if (!edit(name, shape)) continue;
      std::size_t n = t.data.size();
      for (auto d : shape) n = d == 0 ? 0 : n;
      if (shape != t.shape) n = static_cast<std::size_t>(io::tensor_bytes(t.dtype, shape));
      std::string bytes(reinterpret_cast<char const*>(t.data.data()), std::min(n, t.data.size()));
      bytes.resize(n, '\0');
      header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + n}}};
      data += bytes;
    }
    std::string const h = header.dump();
    std::ofstream f(dir / "model.safetensors", std::ios::binary);
    std::uint64_t const len = h.size();
    f.write(reinterpret_cast<char const*>(&len), 8);
    f << h << data;
    return dir;
  };
  auto missing = rewrite("missing", [](std::string& n, auto&) { return n != "model.layers.1.self_attn.k_proj.weight"; });
  CHECK_THROWS_ERROR(sy::model::load(missing), sy::format_error, Catch::Matchers::Contains("missing k_proj of layer 1"));
  auto extra = rewrite("extra", [](std::string& n, auto&) {
    if (n == "model.norm.weight") n = "model.extra.weight";
    return true;
  });
  CHECK_THROWS_ERROR(sy::model::load(extra), sy::format_error, Catch::Matchers::Contains("missing final norm"));
  auto extra2 = rewrite("extra2", [](std::string& n, auto&) {
    if (n == "model.layers.0.mlp.up_proj.weight") n = "model.layers.2.mlp.up_proj.weight";
    return true;
  });
  CHECK_THROWS_AS(sy::model::load(extra2), sy::format_error);
  auto shape = rewrite("shape", [](std::string& n, std::vector<std::int64_t>& s) {
    if (n == "model.layers.0.self_attn.q_proj.weight") s[0] -= 16;
    return true;
  });
  CHECK_THROWS_ERROR(sy::model::load(shape), sy::format_error,
                       Catch::Matchers::Contains("model.layers.0.self_attn.q_proj.weight") &&
                           Catch::Matchers::Contains("but the config needs"));
  for (auto const& d : {missing, extra, extra2, shape}) std::filesystem::remove_all(d);
}

TEST_CASE("model loading: values without a compiled instance are refused with the compiled ones", "[io][model]") {
  namespace fs = std::filesystem;
  // A shipped test checkpoint whose config.json has one value changed.
  auto with_config = [](std::string const& family, std::string const& case_name, auto edit) {
    fs::path const src = std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/" + family;
    auto dir = temp_dir("instances_" + case_name);
    nlohmann::json config = nlohmann::json::parse(std::ifstream(src / "config.json"));
    edit(config);
    std::ofstream(dir / "config.json") << config.dump();
    fs::copy_file(src / "model.safetensors", dir / "model.safetensors");
    return dir;
  };
  auto const top_k = with_config("mixtral", "top_k", [](nlohmann::json& c) { c["num_experts_per_tok"] = 3; });
  CHECK_THROWS_ERROR(sy::model::load(top_k), sy::unsupported_config,
                     Catch::Matchers::Equals(
                         "switchyard::model::load: num_experts_per_tok = 3 has no compiled router (1, 2, 4, 6, 8 do)"));
  auto const groups = with_config("deepseek_v3", "groups", [](nlohmann::json& c) { c["topk_group"] = 1; });
  CHECK_THROWS_ERROR(sy::model::load(groups), sy::unsupported_config,
                     Catch::Matchers::Equals("switchyard::model::load: deepseek n_group / topk_group = 4/1 has no "
                                             "compiled router (8/4, 4/2, n/n do)"));
  // Every group kept routes as one group, whatever n_group is.
  auto const all_kept = with_config("deepseek_v3", "all_kept", [](nlohmann::json& c) { c["topk_group"] = 4; });
  CHECK_NOTHROW(sy::model::load(all_kept));

  // A checkpoint of fp8 matrices: no weight format of that dtype is compiled, and fp8 is no
  // format a mixed model holds either. (Integer tensors are parts of other formats, not matrices.)
  auto const ints = temp_dir("instances_dtype");
  fs::copy_file(std::string(SWITCHYARD_TEST_DATA_DIR) + "/models/mixtral/config.json", ints / "config.json");
  auto const img = safetensors_image(R"({"w":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]}})", 4);
  std::ofstream(ints / "model.safetensors", std::ios::binary)
      .write(reinterpret_cast<char const*>(img.data()), static_cast<std::streamsize>(img.size()));
  CHECK_THROWS_ERROR(sy::model::load(ints), sy::unsupported_config,
                     Catch::Matchers::Contains("matrix dtype = fp8_e4m3 has no compiled weight format "
                                               "(f32, bf16, f16, q8_0, q4_0, q4_K, q6_K do)"));
  for (auto const& d : {top_k, groups, all_kept, ints}) fs::remove_all(d);
}

TEST_CASE("model::load's format lists pair each tag with the format of its name", "[io][model]") {
  namespace model = sy::model;
  using sy::format::traits;
  for (auto f : {model::weight_format::f32, model::weight_format::bf16, model::weight_format::f16,
                 model::weight_format::q8_0, model::weight_format::q4_0, model::weight_format::q4_K,
                 model::weight_format::q6_K, model::weight_format::sparse24_bf16, model::weight_format::mixed}) {
    INFO(name(f));
    CHECK(sy::dispatch_type(model::detail::weight_formats{}, f, {"test", "weights"},
                            []<class W>() { return std::string(traits<W>::name); }) == name(f));
  }
  for (auto f : {model::kv_format::f32, model::kv_format::bf16})
    CHECK(sy::dispatch_type(model::detail::kv_formats{}, f, {"test", "kv"},
                            []<class KV>() { return std::string(traits<KV>::name); }) == name(f));
  int n = 0;
  sy::for_each_type(model::detail::checkpoint_formats{}, [&]<class E>() {
    CHECK(io::info(E::tag).name == traits<typename E::type>::name);
    ++n;
  });
  // mixed and sparse24_bf16 have no dtype of their own (sparse24 is only converted to)
  CHECK(n == static_cast<int>(model::detail::weight_formats::size) - 2);
}
