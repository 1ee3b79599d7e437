// Connections with keepalives, an application_name, and retry with backoff.
#include "assemblyline/database.hpp"

#include <chrono>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/error.hpp"

namespace al {

namespace {

// Keepalives let a process notice a dead server (or a partitioned one) within
// seconds instead of the kernel's two hours. client_connection_check_interval
// is the other direction: the server notices a killed client even while its
// query waits on a lock, so a dead worker cannot keep its row locks and stall
// the scheduler's requeue. JIT is off: the line's statements are short, and
// a plan whose cost estimate crosses jit_above_cost spent 20 ms compiling
// for a claim of a few milliseconds. The options are appended in the URL's
// own syntax.
std::string with_connection_options(const std::string& url, const std::string& application_name) {
  const bool is_url = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  const std::string server_options = is_url ? "options=-c%20client_connection_check_interval%3D1000%20-c%20jit%3Doff"
                                            : "options='-c client_connection_check_interval=1000 -c jit=off'";
  const std::string options = "keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3"
                              "&connect_timeout=5&" + server_options + "&application_name=" + application_name;
  if (is_url) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + options;
  }
  // key=value form: translate '&' separators into spaces.
  std::string kv = options;
  for (auto& c : kv) if (c == '&') c = ' ';
  return url.empty() ? kv : url + " " + kv;
}

}  // namespace

std::unique_ptr<pqxx::connection> connect(const std::string& url, const std::string& application_name) {
  try {
    return std::make_unique<pqxx::connection>(with_connection_options(url, application_name));
  } catch (const pqxx::broken_connection& e) {
    std::string what = e.what();
    while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
    throw Error("database: cannot connect: " + what, true);
  }
}

std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& url, const std::string& application_name,
                                                     const std::atomic<bool>& stop) {
  auto delay = std::chrono::milliseconds(100);
  int failures = 0;
  while (!stop.load()) {
    try {
      auto conn = connect(url, application_name);
      if (failures > 0) spdlog::info("database: connected again after {} failed attempts", failures);
      return conn;
    } catch (const Error& e) {
      if (failures++ == 0 || failures % 10 == 0) {
        spdlog::warn("{}; retrying with backoff (attempt {})", e.what(), failures);
      }
    }
    for (auto waited = std::chrono::milliseconds(0); waited < delay && !stop.load();
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
  return nullptr;
}

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string like_contains_pattern(const std::string& text) {
  std::string out = "%";
  for (const char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

}  // namespace al
