#pragma once
// The logits file of `perplexity --save-logits` / `--kl-divergence`: one model's f32 logits for
// every scored token of a text, so a base model runs once and its variants (quantized, pruned,
// other activations) are compared against it without loading both. Layout (little-endian):
//
//   "SYLOGITS" | u32 version (1) | u32 decode | i64 vocab | i64 context | i64 stride | i64 tokens
//   | i64 rows | i32 token ids [tokens] | f32 logits [rows][vocab]
//
// One row per scored token, in scoring order (with stride < context every token but the first is
// scored; with stride == context the first of each window is not). The writer fills in `rows` when
// it closes. The reader checks everything a comparison depends on -- vocabulary, windows, the
// text's tokens, the file's size -- before reading a row, and says what differs.
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard_examples {

static_assert(std::endian::native == std::endian::little, "the logits file is little-endian");

struct logits_run {  // what the logits depend on
  std::int64_t vocab = 0, context = 0, stride = 0;
  bool decode = false;
  std::span<std::int32_t const> tokens;
};

namespace detail {
inline constexpr char logits_magic[8] = {'S', 'Y', 'L', 'O', 'G', 'I', 'T', 'S'};
inline constexpr std::uint32_t logits_version = 1;
inline constexpr std::int64_t logits_header_bytes = 8 + 4 + 4 + 5 * 8;
inline constexpr std::int64_t logits_rows_offset = logits_header_bytes - 8;
}  // namespace detail

class logits_writer {
 public:
  logits_writer(std::string path, logits_run const& run) : path_(std::move(path)), out_(path_, std::ios::binary) {
    if (!out_) throw std::runtime_error(path_ + ": cannot open for writing");
    std::uint32_t const version = detail::logits_version, decode = run.decode ? 1 : 0;
    std::int64_t const head[5] = {run.vocab, run.context, run.stride, static_cast<std::int64_t>(run.tokens.size()), 0};
    out_.write(detail::logits_magic, sizeof detail::logits_magic);
    put(&version, sizeof version);
    put(&decode, sizeof decode);
    put(head, sizeof head);
    put(run.tokens.data(), run.tokens.size_bytes());
  }
  void row(std::span<float const> logits) {
    put(logits.data(), logits.size_bytes());
    ++rows_;
  }
  void close() {
    out_.seekp(detail::logits_rows_offset);
    put(&rows_, sizeof rows_);
    out_.close();
    if (!out_) throw std::runtime_error(path_ + ": write failed (disk full?)");
  }

 private:
  void put(void const* p, std::size_t n) {
    out_.write(static_cast<char const*>(p), static_cast<std::streamsize>(n));
    if (!out_) throw std::runtime_error(path_ + ": write failed (disk full?)");
  }
  std::string path_;
  std::ofstream out_;
  std::int64_t rows_ = 0;
};

class logits_reader {
 public:
  // Opens `path` and checks it was saved for `run`; throws with the first difference.
  logits_reader(std::string path, logits_run const& run) : path_(std::move(path)), in_(path_, std::ios::binary) {
    if (!in_) throw std::runtime_error(path_ + ": cannot open");
    std::error_code ec;
    auto const size = static_cast<std::int64_t>(std::filesystem::file_size(path_, ec));
    if (ec || size < detail::logits_header_bytes) fail("too short for a logits file header");
    char magic[8];
    std::uint32_t version = 0, decode = 0;
    std::int64_t head[5];
    get(magic, sizeof magic);
    if (std::memcmp(magic, detail::logits_magic, sizeof magic) != 0)
      fail("not a logits file (written by perplexity --save-logits)");
    get(&version, sizeof version);
    if (version != detail::logits_version)
      fail("version " + std::to_string(version) + ", this program reads version " + std::to_string(detail::logits_version));
    get(&decode, sizeof decode);
    get(head, sizeof head);
    saved_decode_ = decode != 0;
    auto const& [vocab, context, stride, tokens, rows] = head;
    rows_ = rows;
    if (vocab != run.vocab)
      fail("saved for a vocabulary of " + std::to_string(vocab) + ", the model has " + std::to_string(run.vocab));
    if (context != run.context || stride != run.stride)
      fail("saved with --context " + std::to_string(context) + " --stride " + std::to_string(stride) + ", this run has --context " +
           std::to_string(run.context) + " --stride " + std::to_string(run.stride));
    if (tokens != static_cast<std::int64_t>(run.tokens.size()))
      fail("saved for " + std::to_string(tokens) + " tokens of text, this run scores " + std::to_string(run.tokens.size()) +
           " (a different --file or --max-tokens?)");
    // Sizes are checked against the file before anything is allocated from them.
    if (rows < 0 || rows >= tokens) fail("holds " + std::to_string(rows) + " rows for " + std::to_string(tokens) + " tokens");
    std::int64_t const expected = detail::logits_header_bytes + tokens * 4 + rows * vocab * 4;
    if (size != expected)
      fail("is " + std::to_string(size) + " bytes, a complete file of " + std::to_string(rows) + " rows of vocabulary " +
           std::to_string(vocab) + " is " + std::to_string(expected) + " (truncated, or changed since?)");
    std::vector<std::int32_t> saved(run.tokens.size());
    get(saved.data(), saved.size() * sizeof(std::int32_t));
    for (std::size_t i = 0; i < saved.size(); ++i)
      if (saved[i] != run.tokens[i])
        fail("the text differs at token " + std::to_string(i) + ": id " + std::to_string(saved[i]) + " there, " +
             std::to_string(run.tokens[i]) + " here (a different --file or tokenizer?)");
  }
  bool saved_decode() const { return saved_decode_; }
  // The next row (the logits predicting the next scored token).
  void row(std::span<float> logits) {
    if (read_ == rows_) fail("holds " + std::to_string(rows_) + " rows, this run scores more");
    get(logits.data(), logits.size_bytes());
    ++read_;
  }
  // After the run: every saved row was compared.
  void finish() const {
    if (read_ != rows_)
      fail("holds " + std::to_string(rows_) + " rows, this run scored " + std::to_string(read_));
  }

 private:
  [[noreturn]] void fail(std::string const& why) const { throw std::runtime_error(path_ + ": " + why); }
  void get(void* p, std::size_t n) {
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (!in_) fail("read failed");
  }
  std::string path_;
  std::ifstream in_;
  bool saved_decode_ = false;
  std::int64_t rows_ = 0, read_ = 0;
};

}  // namespace switchyard_examples
