// An OpenAI-compatible HTTP server over a switchyard model (docs/server.md):
//   GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions
// (both with server-sent-event streaming). One engine thread steps the continuous-batching
// scheduler (server_engine.hpp), so concurrent requests share each forward; cpp-httplib's handler
// threads check a request, queue it and wait on, or stream from, its channel. Errors are OpenAI's
// JSON ({"error": {"message", "type", "param", "code"}}): 400 for malformed JSON and bad
// parameters (context_length_exceeded when the prompt and max_tokens pass the context), 404 for an
// unknown route, 405 for a wrong method, 413 for a body over 16 MiB, 503 when the queue is full or
// the server is shutting down, 500 when the engine fails a request (that request only).
// SIGINT / SIGTERM: new requests get 503, those in flight finish, then the process exits 0.
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <switchyard/generate/chat_template.hpp>
#include <switchyard/generate/scheduler.hpp>
#include <switchyard/generate/tokenizer.hpp>
#include <switchyard/model/load.hpp>

#include "default_model.hpp"
#include "format_options.hpp"
#include "progress_bar.hpp"
#include "server_api.hpp"
#include "server_engine.hpp"

namespace sy = switchyard;
namespace gen = switchyard::generate;
namespace md = switchyard::model;
using namespace switchyard_server;

namespace {

constexpr std::size_t max_body = std::size_t{16} << 20;

std::string read_file(std::string const& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// httplib's Server, with the HTTP status texts it does not export.
char const* status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

char const* finish_name(gen::finish_reason r) {
  return r == gen::finish_reason::length ? "length" : "stop";  // eos and stop strings are both "stop"
}

// Debian's cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into the
// library): a burst of clients connecting at once overflows it and connections are reset. Calling
// listen() again on the bound socket raises it (Linux, BSD).
class http_server : public httplib::Server {
 public:
  bool set_backlog(int n) { return ::listen(svr_sock_, n) == 0; }
};

// What the handlers share.
struct server_state {
  std::string model_id;
  long ctx_size = 0, vocab = 0;
  std::int64_t created = 0;
  gen::tokenizer const* tok = nullptr;
  std::optional<gen::chat_template> tmpl;
  std::string no_template_why;  // why chat is unavailable when tmpl is empty
  std::string bos, eos;
  engine* eng = nullptr;

  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> next_id{1};

  // Generation requests whose response is not complete yet (the shutdown waits for them).
  std::mutex active_mu;
  std::condition_variable active_cv;
  long active = 0;
  void enter() {
    std::lock_guard lk(active_mu);
    ++active;
  }
  void leave() {
    {
      std::lock_guard lk(active_mu);
      --active;
    }
    active_cv.notify_all();
  }
};

// Leaves the active count at the end of the handler unless a stream takes the duty over.
struct active_guard {
  server_state& s;
  bool owned = true;
  explicit active_guard(server_state& st) : s(st) { s.enter(); }
  ~active_guard() {
    if (owned) s.leave();
  }
};

void reply_error(httplib::Response& res, api_error const& e) {
  res.status = e.status;
  if (e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_body(e), "application/json");
}

// ---- the request: prompt and parameters ----------------------------------------------------------

struct prepared {
  std::shared_ptr<job> j;
  std::string prompt_text;  // for echo
  bool include_usage = false, echo = false;
};

std::vector<std::int32_t> token_ids(json const& a, long vocab) {
  std::vector<std::int32_t> ids;
  for (auto const& e : a) {
    if (!e.is_number_integer() || e.get<std::int64_t>() < 0 || e.get<std::int64_t>() >= vocab)
      throw invalid("prompt", "token ids must be integers from 0 to " + std::to_string(vocab - 1) + ", not " + params::shown(e));
    ids.push_back(static_cast<std::int32_t>(e.get<std::int64_t>()));
  }
  return ids;
}

// prompt: a string, a list of one string, a list of token ids, or a list of one list of token ids.
void read_prompt(server_state const& s, params const& p, prepared& out) {
  json const* pr = p.get("prompt");
  if (!pr) throw invalid("prompt", "'prompt' is required");
  auto& ids = out.j->prompt;
  auto all_ints = [](json const& a) {
    for (auto const& e : a)
      if (!e.is_number()) return false;
    return true;
  };
  if (pr->is_string()) {
    out.prompt_text = pr->get<std::string>();
    ids = s.tok->encode(out.prompt_text);
  } else if (pr->is_array() && !pr->empty() && all_ints(*pr)) {
    ids = token_ids(*pr, s.vocab);
    out.prompt_text = s.tok->decode(ids);
  } else if (pr->is_array() && pr->size() == 1 && (*pr)[0].is_string()) {
    out.prompt_text = (*pr)[0].get<std::string>();
    ids = s.tok->encode(out.prompt_text);
  } else if (pr->is_array() && pr->size() == 1 && (*pr)[0].is_array() && all_ints((*pr)[0])) {
    ids = token_ids((*pr)[0], s.vocab);
    out.prompt_text = s.tok->decode(ids);
  } else if (pr->is_array() && pr->size() > 1) {
    throw invalid("prompt", "one prompt per request: send the " + std::to_string(pr->size()) + " prompts as separate requests");
  } else {
    throw invalid("prompt", "'prompt' must be a string, a list of one string or a list of token ids, not " + params::shown(*pr));
  }
  if (ids.empty()) throw invalid("prompt", "the prompt is empty");
}

// messages: [{role, content}], content a string, a list of text parts, or null; rendered with the
// chat template and tokenized (the template writes BOS itself where the model wants one).
void read_messages(server_state const& s, params const& p, prepared& out) {
  json const* m = p.get("messages");
  if (!m) throw invalid("messages", "'messages' is required");
  if (!m->is_array() || m->empty()) throw invalid("messages", "'messages' must be a non-empty list of messages");
  std::vector<gen::chat_message> msgs;
  for (std::size_t i = 0; i < m->size(); ++i) {
    json const& e = (*m)[i];
    std::string const where = "messages[" + std::to_string(i) + "]";
    if (!e.is_object()) throw invalid(where, where + " must be an object, not " + params::shown(e));
    auto role = e.find("role");
    if (role == e.end() || !role->is_string()) throw invalid(where + ".role", where + ".role must be a string");
    std::string r = role->get<std::string>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool")
      throw invalid(where + ".role", where + ".role must be one of system, developer, user, assistant, tool, not '" + r + "'");
    if (r == "developer") r = "system";
    std::string content;
    auto c = e.find("content");
    if (c == e.end() || c->is_null()) {
      if (r != "assistant") throw invalid(where + ".content", where + ".content is required");
    } else if (c->is_string()) {
      content = c->get<std::string>();
    } else if (c->is_array()) {
      for (auto const& part : *c) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          throw invalid(where + ".content", where + ".content parts must be objects with a 'type'");
        if (part["type"] != "text")
          throw invalid(where + ".content", "content parts of type '" + part["type"].get<std::string>() + "' are not supported");
        if (!part.contains("text") || !part["text"].is_string())
          throw invalid(where + ".content", where + ".content text parts need a string 'text'");
        content += part["text"].get<std::string>();
      }
    } else {
      throw invalid(where + ".content", where + ".content must be a string or a list of parts, not " + params::shown(*c));
    }
    if (e.contains("tool_calls") && !e["tool_calls"].is_null() && !(e["tool_calls"].is_array() && e["tool_calls"].empty()))
      throw invalid(where + ".tool_calls", "tool calls are not supported by this server");
    msgs.push_back({std::move(r), std::move(content)});
  }
  if (!s.tmpl) throw invalid("messages", "chat is unavailable: " + s.no_template_why, "no_chat_template");
  std::string text;
  try {
    text = s.tmpl->render(msgs, true, s.bos, s.eos);
  } catch (std::exception const& e) {
    throw invalid("messages", std::string("the chat template cannot render these messages: ") + e.what());
  }
  out.j->prompt = s.tok->encode(text, true, false);
  out.prompt_text = std::move(text);
  if (out.j->prompt.empty()) throw invalid("messages", "the rendered conversation is empty");
}

prepared prepare(server_state& s, std::string const& body_text, bool chat) {
  json body;
  try {
    body = json::parse(body_text);
  } catch (json::parse_error const& e) {
    throw invalid("", std::string("the body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw invalid("", "the body must be a JSON object, not " + params::shown(body));
  params const p(body);
  prepared out;
  out.j = std::make_shared<job>();
  job& j = *out.j;

  p.string("model");  // any name is accepted: this server serves one model
  p.string("user");
  if (auto n = p.integer("n", 1, 1 << 20); n && *n != 1) throw invalid("n", "only n = 1 is supported");
  if (!chat)
    if (auto n = p.integer("best_of", 1, 1 << 20); n && *n != 1) throw invalid("best_of", "only best_of = 1 is supported");
  j.stream = p.boolean("stream").value_or(false);
  if (json const* so = p.get("stream_options")) {
    if (!so->is_object()) throw invalid("stream_options", "'stream_options' must be an object");
    out.include_usage = params(*so).boolean("include_usage").value_or(false);
  }
  if (!chat) out.echo = p.boolean("echo").value_or(false);
  std::optional<std::int64_t> max_tokens;
  if (chat) max_tokens = p.integer("max_completion_tokens", 0, std::numeric_limits<std::int64_t>::max());
  if (!max_tokens) max_tokens = p.integer("max_tokens", 0, std::numeric_limits<std::int64_t>::max());

  auto& sp = j.sampling;
  sp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repetition_penalty = 1.0f, .seed = 0};
  if (auto t = p.number("temperature", 0, 2)) sp.temperature = static_cast<float>(*t);
  if (auto t = p.number("top_p", 0, 1)) {
    if (*t == 0) sp.temperature = 0;  // the one most likely token: greedy
    else sp.top_p = static_cast<float>(*t);
  }
  if (auto k = p.integer("top_k", 0, std::numeric_limits<std::int32_t>::max())) sp.top_k = static_cast<int>(*k);
  if (auto m = p.number("min_p", 0, 1)) {
    if (*m >= 1) throw invalid("min_p", "'min_p' must be < 1");
    sp.min_p = static_cast<float>(*m);
  }
  for (char const* key : {"repetition_penalty", "repeat_penalty"})
    if (auto r = p.number(key, 0, 100, true)) sp.repetition_penalty = static_cast<float>(*r);
  thread_local std::mt19937_64 seeds{std::random_device{}()};
  sp.seed = p.seed("seed").value_or(seeds());
  j.stop = p.strings("stop", 16);
  j.stop_at_eos = !p.boolean("ignore_eos").value_or(false);
  for (char const* key : {"frequency_penalty", "presence_penalty"}) {
    auto v = p.number(key, -2, 2);
    p.unsupported_unless(key, !v || *v == 0);
  }
  if (chat) {
    p.unsupported_unless("logprobs", !p.boolean("logprobs").value_or(false));
    p.unsupported_unless("top_logprobs", false);
    json const* rf = p.get("response_format");
    p.unsupported_unless("response_format", rf && rf->is_object() && rf->value("type", "") == "text");
    json const* tools = p.get("tools");
    p.unsupported_unless("tools", tools && tools->is_array() && tools->empty());
    p.unsupported_unless("functions", false);
  } else {
    auto lp = p.integer("logprobs", 0, 20);
    p.unsupported_unless("logprobs", !lp || *lp == 0);
    auto suffix = p.string("suffix");
    p.unsupported_unless("suffix", !suffix || suffix->empty());
  }
  json const* lb = p.get("logit_bias");
  p.unsupported_unless("logit_bias", lb && lb->is_object() && lb->empty());

  if (chat)
    read_messages(s, p, out);
  else
    read_prompt(s, p, out);

  long const prompt_tokens = static_cast<long>(j.prompt.size());
  auto too_long = [&](long asked) {
    return invalid(chat ? "messages" : "prompt",
                   "This model's maximum context length is " + std::to_string(s.ctx_size) + " tokens. However, you requested " +
                       std::to_string(static_cast<unsigned long long>(prompt_tokens) + static_cast<unsigned long long>(asked)) +
                       " tokens (" + std::to_string(prompt_tokens) + " in the " +
                       (chat ? "messages" : "prompt") + ", " + std::to_string(asked) +
                       " in the completion). Please reduce the length of the " + (chat ? "messages" : "prompt") +
                       " or the completion.",
                   "context_length_exceeded");
  };
  if (max_tokens) {
    if (*max_tokens > s.ctx_size || prompt_tokens + *max_tokens > s.ctx_size) throw too_long(static_cast<long>(*max_tokens));
    j.max_tokens = static_cast<long>(*max_tokens);
  } else {
    if (prompt_tokens >= s.ctx_size) throw too_long(1);
    long const room = s.ctx_size - prompt_tokens;
    j.max_tokens = chat ? room : std::min(16L, room);  // OpenAI's defaults: the rest of the context, 16
  }
  return out;
}

// ---- responses -------------------------------------------------------------------------------------

json usage(long prompt, long completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json completion_choice(std::string text, json finish) {
  return {{"text", std::move(text)}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}};
}

void handle_generation(server_state& s, httplib::Request const& req, httplib::Response& res, bool chat) {
  active_guard guard(s);
  if (s.draining) throw api_error(503, "the server is shutting down", "server_error", "", "shutting_down");
  prepared pr = prepare(s, req.body, chat);
  std::shared_ptr<job> j = pr.j;
  std::string const id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.next_id.fetch_add(1));
  std::int64_t const created = static_cast<std::int64_t>(std::time(nullptr));
  long const prompt_tokens = static_cast<long>(j->prompt.size());
  switch (s.eng->submit(j)) {
    case engine::admission::accepted: break;
    case engine::admission::queue_full:
      throw api_error(503, "the server is busy: its queue is full (--parallel + --max-queue requests in flight); retry later",
                      "server_error", "", "queue_full");
    case engine::admission::stopping: throw api_error(503, "the server is shutting down", "server_error", "", "shutting_down");
  }
  json const head = {{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created}, {"model", s.model_id}};

  if (!j->stream) {
    j->wait_done();
    if (j->reason == gen::finish_reason::error)
      throw api_error(500, "the engine failed this request: " + j->error, "server_error", "", "engine_error");
    json r = head;
    if (chat)
      r["choices"] = json::array({{{"index", 0},
                                   {"message", {{"role", "assistant"}, {"content", j->text}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", finish_name(j->reason)}}});
    else
      r["choices"] = json::array({completion_choice(pr.echo ? pr.prompt_text + j->text : j->text, finish_name(j->reason))});
    r["usage"] = usage(prompt_tokens, j->completion_tokens);
    res.set_content(dump(r), "application/json");
    return;
  }

  // Server-sent events, as OpenAI sends them: data: {chunk}\n\n ... data: [DONE]\n\n
  json chunk_head = head;
  chunk_head["object"] = chat ? "chat.completion.chunk" : "text_completion";
  auto chunk = [chat, chunk_head](std::string text, json finish, bool first) {
    json c = chunk_head;
    json delta = json::object();
    if (chat) {
      if (first) delta["role"] = "assistant";
      if (first || !text.empty()) delta["content"] = std::move(text);
      c["choices"] = json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}}});
    } else {
      c["choices"] = json::array({completion_choice(std::move(text), std::move(finish))});
    }
    return c;
  };
  struct stream_state {
    bool started = false;
  };
  auto st = std::make_shared<stream_state>();
  bool const include_usage = pr.include_usage;
  std::string const echo_text = pr.echo ? pr.prompt_text : std::string();
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  guard.owned = false;  // the stream leaves the active count when its response is gone
  res.set_chunked_content_provider(
      "text/event-stream",
      [j, st, chunk, chat, include_usage, echo_text, chunk_head, prompt_tokens](std::size_t, httplib::DataSink& sink) {
        auto send = [&](json const& ev) {
          std::string const line = "data: " + dump(ev) + "\n\n";
          if (sink.write(line.data(), line.size())) return true;
          j->abandoned = true;
          return false;
        };
        if (!st->started) {
          st->started = true;
          if (chat || !echo_text.empty()) return send(chunk(echo_text, nullptr, true));
        }
        std::string piece;
        bool const done = j->take(piece, std::chrono::milliseconds(250));
        if (!piece.empty() && !send(chunk(std::move(piece), nullptr, false))) return false;
        if (!done) {
          if (sink.is_writable && !sink.is_writable()) {
            j->abandoned = true;
            return false;
          }
          return true;
        }
        if (j->reason == gen::finish_reason::error) {
          if (!send(json{{"error",
                          {{"message", "the engine failed this request: " + j->error}, {"type", "server_error"},
                           {"param", nullptr}, {"code", "engine_error"}}}}))
            return false;
        } else {
          if (!send(chunk("", finish_name(j->reason), false))) return false;
          if (include_usage) {
            json u = chunk_head;
            u["choices"] = json::array();
            u["usage"] = usage(prompt_tokens, j->completion_tokens);
            if (!send(u)) return false;
          }
        }
        static constexpr char done_line[] = "data: [DONE]\n\n";
        if (!sink.write(done_line, sizeof done_line - 1)) return false;
        sink.done();
        return true;
      },
      [&s](bool) { s.leave(); });
}

// A handler that turns exceptions into OpenAI errors.
template <class F>
httplib::Server::Handler guarded(F f) {
  return [f](httplib::Request const& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (api_error const& e) {
      reply_error(res, e);
    } catch (std::exception const& e) {
      reply_error(res, api_error(500, std::string("internal error: ") + e.what(), "server_error"));
    }
  };
}

// The signals that end the server, blocked in every thread and taken by sigwait in one.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // internal: the server ended on its own
  return set;
}

}  // namespace

int main(int argc, char** argv) try {
  // Before any thread starts, so that every thread inherits the mask and only sigwait sees them.
  sigset_t const sigs = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string model = switchyard_examples::default_model(), host = "127.0.0.1", alias, chat_template_file;
  long port = 8080, ctx_size = 0, max_queue = 64, parallel = 64, threads = 0, http_threads = 0, cache_tokens = 16384;
  std::string weights = "auto", activations = "auto", kv = "f32";
  bool verbose = false;

  CLI::App app{"An OpenAI-compatible HTTP server (completions, chat completions, streaming) over a switchyard model."};
  app.add_option("--model", model, "checkpoint folder (config.json + safetensors) or .gguf file")
      ->check(CLI::ExistingPath)->capture_default_str();
  app.add_option("--alias", alias, "the model's name in /v1/models and responses (default: the folder or file name)");
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port to listen on; 0: any free port (printed)")->capture_default_str();
  app.add_option("--ctx-size", ctx_size, "context length per request (prompt + completion); 0: the model's maximum positions");
  app.add_option("--parallel", parallel, "requests decoded together (the scheduler's batch)")->capture_default_str();
  app.add_option("--max-queue", max_queue, "requests waiting beyond --parallel; more get 503")->capture_default_str();
  app.add_option("--cache-tokens", cache_tokens, "KV cache size in tokens, shared by all requests")->capture_default_str();
  app.add_option("--threads", threads, "compute threads; 0: every hardware thread");
  app.add_option("--http-threads", http_threads, "HTTP handler threads; 0: --parallel + --max-queue + 8");
  app.add_option("--chat-template", chat_template_file, "a Jinja chat template file to use instead of the model's")
      ->check(CLI::ExistingFile);
  app.add_option("--weights", weights, "convert the weights on load; auto: as stored")
      ->check(CLI::IsMember(switchyard_examples::weight_format_names()))->capture_default_str();
  app.add_option("--activations", activations, "auto: int8 on GGUF block-quantized rows (AVX512-VNNI or AVX2 builds), else f32")
      ->check(CLI::IsMember(switchyard_examples::activation_format_names()))->capture_default_str();
  app.add_option("--kv", kv, "KV cache format")->check(CLI::IsMember(switchyard_examples::kv_format_names()))->capture_default_str();
  app.add_flag("--verbose", verbose, "log every request (method, path, status)");
  CLI11_PARSE(app, argc, argv);
  for (auto [name, v, lo] : {std::tuple<char const*, long, long>{"--port", port, 0}, {"--ctx-size", ctx_size, 0},
                             {"--parallel", parallel, 1}, {"--max-queue", max_queue, 0}, {"--cache-tokens", cache_tokens, 16},
                             {"--threads", threads, 0}, {"--http-threads", http_threads, 0}})
    if (v < lo) {
      std::fprintf(stderr, "server: %s must be >= %ld, not %ld\n", name, lo, v);
      return 2;
    }
  if (port > 65535) {
    std::fprintf(stderr, "server: --port must be <= 65535, not %ld\n", port);
    return 2;
  }

  server_state s;
  if (!chat_template_file.empty()) {
    try {
      s.tmpl.emplace(read_file(chat_template_file));
    } catch (sy::error const& e) {
      std::fprintf(stderr, "server: --chat-template %s: %s\n", chat_template_file.c_str(), e.what());
      return 2;
    }
  }
  std::filesystem::path const path(model);
  auto const tok = gen::tokenizer::load(path);
  if (!s.tmpl) {
    if (tok.chat_template().empty()) {
      s.no_template_why = "the model ships no chat template; start the server with --chat-template FILE";
    } else {
      try {
        s.tmpl.emplace(tok.chat_template());
      } catch (sy::error const& e) {
        s.no_template_why = std::string("the model's chat template cannot be rendered (") + e.what() +
                            "); start the server with --chat-template FILE";
      }
    }
    if (!s.tmpl) std::fprintf(stderr, "server: warning: /v1/chat/completions is unavailable: %s\n", s.no_template_why.c_str());
  }
  s.bos = tok.bos_token();
  s.eos = tok.eos_token();

  md::load_options const lo{.weights = switchyard_examples::parse_weight_format(weights),
                            .kv = switchyard_examples::parse_name(switchyard_examples::kv_format_names(), "--kv", kv),
                            .activations = switchyard_examples::parse_activation_format(activations),
                            .cache = {.block_size = 16, .blocks = (cache_tokens + 15) / 16}};
  auto loader = [path, lo] { return md::load(path, lo); };  // also the engine's reload after a failed step: no bar
  md::load_options first = lo;
  first.progress = switchyard_examples::progress_bar("loading", "layers");
  auto lm = md::load(path, first);
  long const cache = static_cast<long>(lm->free_blocks() * lm->cache_block_size());
  long const model_ctx = static_cast<long>(lm->config().max_positions);
  if (ctx_size == 0) ctx_size = model_ctx > 0 ? std::min(model_ctx, cache) : cache;
  if (model_ctx > 0 && ctx_size > model_ctx)
    std::fprintf(stderr, "server: warning: --ctx-size %ld is past the model's %ld positions; output may degrade\n", ctx_size, model_ctx);
  if (ctx_size > cache) {
    std::fprintf(stderr, "server: --ctx-size %ld is more than the KV cache holds (%ld tokens, --cache-tokens)\n", ctx_size, cache);
    return 2;
  }
  s.ctx_size = ctx_size;
  s.vocab = std::min(static_cast<long>(lm->config().vocab), static_cast<long>(tok.vocab_size()));  // prompt token ids below it
  s.tok = &tok;
  s.model_id = !alias.empty() ? alias : path.has_filename() ? path.filename().string() : path.parent_path().filename().string();
  s.created = static_cast<std::int64_t>(std::time(nullptr));

  sy::thread_pool pool(threads > 0 ? static_cast<int>(threads) : sy::thread_pool::default_size());
  std::int32_t const eos = s.eos.empty() ? -1 : tok.special_id(s.eos);  // a chat model's end of turn
  engine eng(std::move(lm), loader, tok, {.max_running = parallel, .max_queue = max_queue, .eos = eos, .pool = &pool});
  s.eng = &eng;

  http_server svr;
  long const handler_threads = http_threads > 0 ? http_threads : parallel + max_queue + 8;
  svr.new_task_queue = [handler_threads] { return new httplib::ThreadPool(static_cast<std::size_t>(handler_threads)); };
  svr.set_payload_max_length(max_body);
  svr.set_keep_alive_max_count(1000);
  svr.set_tcp_nodelay(true);
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](httplib::Request const& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours, already JSON
    std::string msg = res.status == 404 ? "Invalid URL (" + req.method + " " + req.path + ")"
                      : res.status == 413 ? "the request body is larger than " + std::to_string(max_body) + " bytes"
                                          : std::string(status_text(res.status));
    reply_error(res, api_error(res.status, msg, res.status >= 500 ? "server_error" : "invalid_request_error"));
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](httplib::Request const&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (std::exception const& e) {
      what = e.what();
    } catch (...) {
    }
    reply_error(res, api_error(500, "internal error: " + what, "server_error"));
  });
  if (verbose)
    svr.set_logger([](httplib::Request const& req, httplib::Response const& res) {
      std::fprintf(stderr, "server: %s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
    });

  svr.Get("/health", guarded([&s](httplib::Request const&, httplib::Response& res) {
    auto const st = s.eng->stats();
    bool const ok = !s.draining;
    res.status = ok ? 200 : 503;
    res.set_content(dump({{"status", ok ? "ok" : "shutting down"},
                          {"model", s.model_id},
                          {"requests_in_flight", st.in_flight},
                          {"requests_running", st.running},
                          {"requests_waiting", st.waiting},
                          {"requests_completed", st.completed},
                          {"requests_failed", st.failed},
                          {"prompt_tokens", st.prompt_tokens},
                          {"generated_tokens", st.generated_tokens},
                          {"steps", st.steps}}),
                    "application/json");
  }));
  auto model_entry = [&s] {
    return json{{"id", s.model_id}, {"object", "model"}, {"created", s.created}, {"owned_by", "switchyard"},
                {"context_length", s.ctx_size}};
  };
  svr.Get("/v1/models", guarded([&, model_entry](httplib::Request const&, httplib::Response& res) {
    res.set_content(dump({{"object", "list"}, {"data", json::array({model_entry()})}}), "application/json");
  }));
  svr.Get("/v1/models/(.+)", guarded([&, model_entry](httplib::Request const& req, httplib::Response& res) {
    std::string const name = req.matches[1];
    if (name != s.model_id)
      throw api_error(404, "The model '" + name + "' does not exist", "invalid_request_error", "model", "model_not_found");
    res.set_content(dump(model_entry()), "application/json");
  }));
  svr.Post("/v1/completions", guarded([&s](httplib::Request const& req, httplib::Response& res) {
    handle_generation(s, req, res, false);
  }));
  svr.Post("/v1/chat/completions", guarded([&s](httplib::Request const& req, httplib::Response& res) {
    handle_generation(s, req, res, true);
  }));
  // 405 for the known routes' other methods.
  auto not_allowed = [](char const* allow) {
    return [allow](httplib::Request const& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      reply_error(res, api_error(405, "Method " + req.method + " is not allowed for " + req.path + " (allowed: " + allow + ")",
                                 "invalid_request_error"));
    };
  };
  for (char const* p : {"/health", "/v1/models", "/v1/models/(.+)"}) {
    svr.Post(p, not_allowed("GET"));
    svr.Put(p, not_allowed("GET"));
    svr.Patch(p, not_allowed("GET"));
    svr.Delete(p, not_allowed("GET"));
    svr.Options(p, not_allowed("GET"));
  }
  for (char const* p : {"/v1/completions", "/v1/chat/completions"}) {
    svr.Get(p, not_allowed("POST"));
    svr.Put(p, not_allowed("POST"));
    svr.Patch(p, not_allowed("POST"));
    svr.Delete(p, not_allowed("POST"));
    svr.Options(p, not_allowed("POST"));
  }

  int const bound = port == 0 ? svr.bind_to_any_port(host) : (svr.bind_to_port(host, static_cast<int>(port)) ? static_cast<int>(port) : -1);
  if (bound < 0) {
    std::fprintf(stderr, "server: cannot listen on %s:%ld\n", host.c_str(), port);
    return 1;
  }
  if (!svr.set_backlog(1024)) std::fprintf(stderr, "server: warning: cannot raise the listen backlog\n");

  // Shutdown: the first SIGINT / SIGTERM refuses new requests (503), waits for those in flight,
  // then stops the listener; a second one ends the process at once.
  std::thread signals([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGUSR1) return;
    std::fprintf(stderr, "server: %s: finishing the requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    s.draining = true;
    for (;;) {
      {
        std::unique_lock lk(s.active_mu);
        if (s.active_cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return s.active == 0; })) break;
      }
      timespec const now{0, 0};
      siginfo_t info;
      int const again = sigtimedwait(&sigs, &info, &now);
      if (again == SIGINT || again == SIGTERM) {
        std::fprintf(stderr, "server: second signal: exiting now\n");
        std::_Exit(1);
      }
    }
    svr.stop();
  });

  std::fprintf(stderr, "server: model %s, context %ld tokens, %ld parallel, queue %ld, %d compute threads\n", s.model_id.c_str(),
               s.ctx_size, parallel, max_queue, pool.size());
  std::printf("listening on http://%s:%d\n", host.c_str(), bound);
  std::fflush(stdout);
  bool const listened = svr.listen_after_bind();
  pthread_kill(signals.native_handle(), SIGUSR1);  // no-op if it already returned
  signals.join();
  eng.stop();
  auto const st = eng.stats();
  std::fprintf(stderr, "server: stopped: %ld requests completed, %ld failed, %ld prompt tokens, %ld generated tokens\n",
               st.completed, st.failed, st.prompt_tokens, st.generated_tokens);
  return listened || s.draining ? 0 : 1;
} catch (std::exception const& e) {
  std::fprintf(stderr, "server: %s\n", e.what());
  return 1;
}
