// The console's JSON API (docs/console.md): what a route handler gets, the
// errors it may throw, and the parameter readers every handler shares. The
// guard in console_server.cpp checks the session (and for POST the role and
// the CSRF token) before a handler runs, and turns the exceptions below and
// database errors into JSON error answers.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <httplib.h>

#include "connection_pool.hpp"
#include "session_store.hpp"

namespace al::console {

/// One API request after the guard.
struct ApiCall {
  const httplib::Request& req;
  httplib::Response& res;
  const Session& session;
  ConnectionPool& pool;
};
using ApiHandler = std::function<void(ApiCall&)>;

/// Where the API files register their routes.
class ApiRoutes {
public:
  virtual ~ApiRoutes() = default;
  /// Any signed-in user.
  virtual void get(const std::string& pattern, ApiHandler handler) = 0;
  /// Operators only, with the session's CSRF token.
  virtual void post(const std::string& pattern, ApiHandler handler) = 0;
};

void add_job_routes(ApiRoutes& routes);
void add_process_routes(ApiRoutes& routes);
class BoardCache;
void add_board_routes(ApiRoutes& routes, BoardCache& board);

/// 400 with the message (a parameter that makes no sense, named).
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// 404 with the message.
struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The query parameter, or nullopt when absent or empty.
[[nodiscard]] std::optional<std::string> param(const httplib::Request& req, const std::string& name);
/// An integer parameter within [min, max]; `fallback` when absent.
[[nodiscard]] long long int_param(const httplib::Request& req, const std::string& name, long long min, long long max,
                                  long long fallback);
/// A parameter that must be one of `choices`; `fallback` when absent.
[[nodiscard]] std::string choice_param(const httplib::Request& req, const std::string& name,
                                       const std::vector<std::string>& choices, const std::string& fallback);
/// The path's first capture (\d+) as an id.
[[nodiscard]] long long path_id(const httplib::Request& req);
/// nullptr for absent, for exec_params' NULL.
[[nodiscard]] inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

void send_json(httplib::Response& res, const std::string& body, int status = 200);
void send_error(httplib::Response& res, int status, const std::string& message);

}  // namespace al::console
