// The process logger: one spdlog logger on stderr named after the process, as
// text ("2024-05-01T12:00:00.123+00:00 info al-publisher[812] publisher: ...")
// or as one JSON object per line, whose message is escaped by a custom flag.
#include "assemblyline/log.hpp"

#include <cstdio>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "assemblyline/config.hpp"

namespace al {
namespace {

// Escapes text for the inside of a JSON string literal.
void append_json_escaped(std::string_view text, spdlog::memory_buf_t& out) {
  for (const char c : text) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char code[8];
          std::snprintf(code, sizeof code, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out.append(std::string_view(code));
        } else {
          out.push_back(c);
        }
    }
  }
}

std::string json_escaped(const std::string& text) {
  spdlog::memory_buf_t buf;
  append_json_escaped(text, buf);
  return std::string(buf.data(), buf.size());
}

// Literal text inside a spdlog pattern: '%' must be doubled.
std::string pattern_literal(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

// %* — the message payload, JSON-escaped.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

spdlog::level::level_enum level_from_name(const std::string& name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return spdlog::level::info;
}

}  // namespace

void init_logging(const Config& config, const std::string& process, const std::string& stage) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (config.log_format == "json") {
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","process":")" + pattern_literal(json_escaped(process)) +
        R"(","pid":%P,"stage":")" + pattern_literal(json_escaped(stage)) + R"(","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l " + pattern_literal(process) + "[%P]" +
                           (stage.empty() ? "" : " " + pattern_literal(stage)) + ": %v");
  }

  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::move(formatter));
  spdlog::drop(process);  // a second init (tests, re-exec) replaces the first
  auto logger = std::make_shared<spdlog::logger>(process, std::move(sink));
  logger->set_level(level_from_name(config.log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  for (const auto& warning : config.warnings) logger->warn("{}", warning);
}

}  // namespace al
