#include "console_server.hpp"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/error.hpp"
#include "assemblyline/service_notifier.hpp"
#include "web_assets.hpp"

namespace al::console {
namespace {

constexpr const char* cookie_name = "al_session";

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// "host:port" or "[v6]:port".
std::pair<std::string, int> split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    throw Error("config: console.listen: '" + listen + "' is not host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw Error("config: console.listen: '" + listen + "' has no valid port");
  return {host, port};
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
  const std::string header = req.get_header_value("Cookie");
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(';', start);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(start, end - start);
    const auto first = pair.find_first_not_of(' ');
    if (first != std::string::npos) pair = pair.substr(first);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    start = end + 1;
  }
  return "";
}

// PostgreSQL's message without "ERROR:  " and its CONTEXT lines.
std::string database_message(const pqxx::sql_error& e) {
  std::string text = e.what();
  if (text.rfind("ERROR:", 0) == 0) text = text.substr(text.find_first_not_of(' ', 6));
  const auto newline = text.find('\n');
  return newline == std::string::npos ? text : text.substr(0, newline);
}

void send_session(httplib::Response& res, const Session& session) {
  send_json(res, nlohmann::json{{"user", session.user}, {"role", role_name(session.role)}, {"csrf", session.csrf}}.dump());
}

}  // namespace

ConsoleServer::ConsoleServer(const Config& config)
    : m_config(config),
      m_accounts(Accounts::parse(config.console_accounts)),
      m_sessions(std::chrono::minutes(config.console_session_minutes)),
      m_pool(config.database_url, config.console_threads) {
  if (m_accounts.empty())
    throw Error("config: console.accounts is empty, so nobody could sign in; add one made by "
                "`al-console hash-password NAME viewer|operator`");
  std::tie(m_host, m_port) = split_listen(config.console_listen);
  m_tls = !config.console_tls_cert.empty();
  if (!m_tls && !is_loopback(m_host))
    throw Error("config: console.listen " + config.console_listen +
                " is not loopback; set console.tls_cert and console.tls_key to serve it over HTTPS");
  if (m_tls) {
    auto server = std::make_unique<httplib::SSLServer>(config.console_tls_cert.c_str(), config.console_tls_key.c_str());
    if (!server->is_valid())
      throw Error("config: console.tls_cert / console.tls_key: cannot load " + config.console_tls_cert + " and " +
                  config.console_tls_key + " (PEM certificate and matching private key)");
    m_server = std::move(server);
  } else {
    m_server = std::make_unique<httplib::Server>();
  }
  const int threads = config.console_threads;
  m_server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  m_server->set_payload_max_length(64 * 1024);
  m_server->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    // The pages load nothing from elsewhere and are never framed.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "same-origin");
  });
  m_server->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 500) {
      spdlog::warn("console: {} {} answered {}", req.method, req.path, res.status);
    } else {
      spdlog::debug("console: {} {} answered {}", req.method, req.path, res.status);
    }
  });
  m_feed = std::make_unique<ChangeFeed>(config.database_url, config.console_max_event_streams);
  add_session_routes();
  add_job_routes(*this);
  add_process_routes(*this);
  m_board = std::make_unique<BoardCache>(config.database_url);
  add_board_routes(*this, *m_board);
  add_event_route();
  add_pages();
}

ConsoleServer::~ConsoleServer() = default;

std::optional<Session> ConsoleServer::session_of(const httplib::Request& req) {
  const std::string token = cookie_value(req, cookie_name);
  if (token.empty()) return std::nullopt;
  return m_sessions.find(token);
}

httplib::Server::Handler ConsoleServer::guarded(ApiHandler handler, bool is_post, bool operator_only) {
  return [this, handler = std::move(handler), is_post, operator_only](const httplib::Request& req,
                                                                      httplib::Response& res) {
    const auto session = session_of(req);
    if (!session) return send_error(res, 401, "not signed in (or the session ended); sign in again");
    if (is_post && req.get_header_value("X-CSRF-Token") != session->csrf)
      return send_error(res, 403, "missing or wrong X-CSRF-Token; reload the page and try again");
    if (operator_only && session->role != Role::operator_)
      return send_error(res, 403, "this needs the operator role; " + session->user + " is a viewer");
    ApiCall call{req, res, *session, m_pool};
    try {
      handler(call);
    } catch (const BadRequest& e) {
      send_error(res, 400, e.what());
    } catch (const NotFound& e) {
      send_error(res, 404, e.what());
    } catch (const pqxx::broken_connection& e) {
      spdlog::warn("console: {} {}: database connection lost: {}", req.method, req.path, e.what());
      send_error(res, 503, "the database is unreachable; the page tries again");
    } catch (const pqxx::sql_error& e) {
      const std::string state = e.sqlstate();
      if (state == "P0001") return send_error(res, 409, database_message(e));  // refused by an al.* function
      if (state.rfind("22", 0) == 0) return send_error(res, 400, database_message(e));  // a filter value it cannot read
      if (state == "57014") return send_error(res, 503, "the query took longer than 10 s; narrow the filters");
      spdlog::error("console: {} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, "database error: " + database_message(e));
    } catch (const Error& e) {
      if (!e.retryable()) throw;
      spdlog::warn("console: {} {}: {}", req.method, req.path, e.what());
      send_error(res, 503, "the database is unreachable; the page tries again");
    } catch (const std::exception& e) {
      spdlog::error("console: {} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
  };
}

void ConsoleServer::get(const std::string& pattern, ApiHandler handler) {
  m_server->Get(pattern, guarded(std::move(handler), false, false));
}

void ConsoleServer::post(const std::string& pattern, ApiHandler handler) {
  m_server->Post(pattern, guarded(std::move(handler), true, true));
}

void ConsoleServer::add_session_routes() {
  m_server->Get("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
    const auto session = session_of(req);
    if (!session) return send_error(res, 401, "not signed in");
    send_session(res, *session);
  });
  m_server->Post("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
    // Only JSON: a cross-site form cannot send it without a CORS preflight, which is never granted.
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
      return send_error(res, 415, "sign in with Content-Type: application/json");
    std::string user, password;
    try {
      const auto body = nlohmann::json::parse(req.body);
      user = body.at("user").get<std::string>();
      password = body.at("password").get<std::string>();
    } catch (const std::exception&) {
      return send_error(res, 400, "expected {\"user\": \"…\", \"password\": \"…\"}");
    }
    const auto account = m_accounts.sign_in(user, password);
    if (!account) {
      spdlog::warn("console: sign-in refused for '{}' from {}", user.substr(0, 64), req.remote_addr);
      return send_error(res, 401, "unknown user or wrong password");
    }
    const std::string token = m_sessions.start(*account);
    res.set_header("Set-Cookie", std::string(cookie_name) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict" +
                                     (m_tls ? "; Secure" : ""));
    spdlog::info("console: {} ({}) signed in from {}", account->name, role_name(account->role), req.remote_addr);
    send_session(res, *m_sessions.find(token));
  });
  m_server->Post("/api/session/end", guarded(
                                         [this](ApiCall& call) {
                                           m_sessions.end(cookie_value(call.req, cookie_name));
                                           call.res.set_header("Set-Cookie", std::string(cookie_name) +
                                                                                 "=; Path=/; Max-Age=0; HttpOnly; "
                                                                                 "SameSite=Strict");
                                           call.res.status = 204;
                                           spdlog::info("console: {} signed out", call.session.user);
                                         },
                                         true, false));
}

void ConsoleServer::add_event_route() {
  get("/api/events", [this](ApiCall& call) {
    ChangeFeed* feed = m_feed.get();
    if (!feed->open_stream())
      return send_error(call.res, 503, "too many live event streams are open (console.max_event_streams); polling");
    call.res.set_header("Cache-Control", "no-store");
    call.res.set_chunked_content_provider(
        "text/event-stream",
        [feed, seen = feed->generation(), first = true](size_t, httplib::DataSink& sink) mutable {
          std::string out;
          if (first) {
            out = "retry: 2000\n\n";
            first = false;
          } else {
            // A comment every 5 s finds a closed tab, so its slot is free again soon.
            const uint64_t now = feed->wait(seen, std::chrono::seconds(5));
            if (feed->stopping()) {
              sink.done();
              return true;
            }
            out = now != seen ? "event: change\ndata: " + std::to_string(now) + "\n\n" : ": still here\n\n";
            seen = now;
          }
          return sink.write(out.data(), out.size());
        },
        [feed](bool) { feed->close_stream(); });
  });
}

void ConsoleServer::add_pages() {
  const WebAsset* index = nullptr;
  for (const auto& asset : web_assets()) {
    if (asset.path == "/index.html") index = &asset;
    m_server->Get(asset.path, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(asset.body, asset.content_type.c_str());
    });
  }
  if (index == nullptr) throw Error("console: the build has no index.html among its web assets");
  m_server->Get(R"(/(jobs|jobs/\d+|processes|board|signin))", [index](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(index->body, index->content_type.c_str());
  });
  m_server->Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/jobs"); });
  // httplib's own refusals (no route, unreadable request) come without a body; the API answers JSON.
  m_server->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || req.path.rfind("/api/", 0) != 0) return;
    if (res.status == 404) return send_error(res, 404, "no such API path: " + req.path);
    send_error(res, res.status, "HTTP " + std::to_string(res.status) + " refused" +
                                    (req.method == "POST" ? " (a POST needs a Content-Length, 0 for no body)" : ""));
  });
}

int ConsoleServer::run(const std::atomic<bool>& stop) {
  if (!m_server->bind_to_port(m_host, m_port)) {
    spdlog::critical("console: cannot listen on {} (in use, or not an address of this machine); "
                     "change console.listen", m_config.console_listen);
    return 1;
  }
  std::atomic<bool> served{false};
  std::thread stopper([this, &stop, &served] {
    while (!stop.load() && !served.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    m_feed->stop();  // ends the event streams, so their threads are free to stop
    m_server->stop();
  });
  ServiceNotifier notifier;
  notifier.running("serving " + m_config.console_listen);
  spdlog::info("console: listening on {}://{} ({} accounts)", m_tls ? "https" : "http", m_config.console_listen,
               m_accounts.size());
  m_server->listen_after_bind();
  served = true;
  notifier.stopping("stopped");
  stopper.join();
  spdlog::info("console: stopped");
  return 0;
}

}  // namespace al::console
