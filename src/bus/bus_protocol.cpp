// Encoding of bus messages: verb frame + compact JSON body (docs/protocol.md).
#include "assemblyline/bus_protocol.hpp"

#include <cstdlib>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "assemblyline/error.hpp"

namespace al::bus {

namespace {

using nlohmann::json;

std::string_view name_of(const Hello&) { return "HELLO"; }
std::string_view name_of(const Ready&) { return "READY"; }
std::string_view name_of(const Work&) { return "WORK"; }
std::string_view name_of(const Done&) { return "DONE"; }
std::string_view name_of(const Heartbeat&) { return "HEARTBEAT"; }
std::string_view name_of(const Bye&) { return "BYE"; }
std::string_view name_of(const Who&) { return "WHO"; }

json to_json(const Hello& m) {
  return {{"stage", m.stage}, {"credits", m.credits}, {"free", m.free}, {"batch", m.batch},
          {"pid", m.pid},     {"host", m.host},       {"protocol", m.protocol}};
}
json to_json(const Ready& m) {
  return {{"protocol", m.protocol}, {"heartbeat_ms", m.heartbeat_ms}, {"peer_dead_ms", m.peer_dead_ms}};
}
json to_json(const Work& m) { return {{"seq", m.seq}, {"ids", m.ids}, {"attempts", m.attempts}}; }
json to_json(const Done& m) { return {{"seq", m.seq}, {"n", m.n}, {"ok", m.ok}, {"failed", m.failed}}; }
json to_json(const Heartbeat& m) { return {{"free", m.free}, {"seq", m.seq}}; }
json to_json(const Bye& m) { return {{"reason", m.reason}}; }
json to_json(const Who&) { return json::object(); }

// Missing fields take their defaults so a newer peer may add fields; a field
// of the wrong type is an error.
template <typename T>
void read(const json& body, const char* key, T& out) {
  auto it = body.find(key);
  if (it != body.end() && !it->is_null()) out = it->get<T>();
}

Message from_json(std::string_view verb, const json& b) {
  if (verb == "HELLO") {
    Hello m;
    read(b, "stage", m.stage);
    read(b, "credits", m.credits);
    read(b, "free", m.free);
    read(b, "batch", m.batch);
    read(b, "pid", m.pid);
    read(b, "host", m.host);
    m.protocol = 0;
    read(b, "protocol", m.protocol);
    if (m.stage.empty()) throw Error("bus: HELLO without a stage");
    if (m.credits < 1 || m.batch < 1) throw Error("bus: HELLO needs credits and batch of at least 1");
    return m;
  }
  if (verb == "READY") {
    Ready m;
    read(b, "protocol", m.protocol);
    read(b, "heartbeat_ms", m.heartbeat_ms);
    read(b, "peer_dead_ms", m.peer_dead_ms);
    return m;
  }
  if (verb == "WORK") {
    Work m;
    read(b, "seq", m.seq);
    read(b, "ids", m.ids);
    read(b, "attempts", m.attempts);
    if (m.ids.size() != m.attempts.size()) {
      throw Error("bus: WORK has " + std::to_string(m.ids.size()) + " ids but " +
                  std::to_string(m.attempts.size()) + " attempts");
    }
    return m;
  }
  if (verb == "DONE") {
    Done m;
    read(b, "seq", m.seq);
    read(b, "n", m.n);
    read(b, "ok", m.ok);
    read(b, "failed", m.failed);
    if (m.n < 0) throw Error("bus: DONE with negative n");
    return m;
  }
  if (verb == "HEARTBEAT") {
    Heartbeat m;
    read(b, "free", m.free);
    read(b, "seq", m.seq);
    return m;
  }
  if (verb == "BYE") {
    Bye m;
    read(b, "reason", m.reason);
    return m;
  }
  if (verb == "WHO") return Who{};
  throw Error("bus: unknown verb '" + std::string(verb.substr(0, 32)) + "'");
}

}  // namespace

std::string_view verb(const Message& message) {
  return std::visit([](const auto& m) { return name_of(m); }, message);
}

std::vector<std::string> encode(const Message& message) {
  return std::visit(
      [](const auto& m) { return std::vector<std::string>{std::string(name_of(m)), to_json(m).dump()}; }, message);
}

Message decode(const std::vector<std::string>& frames) {
  if (frames.empty()) throw Error("bus: empty message");
  if (frames.size() > 2) throw Error("bus: " + std::to_string(frames.size()) + " frames, want 2");
  json body = json::object();
  if (frames.size() == 2 && !frames[1].empty()) {
    try {
      body = json::parse(frames[1]);
    } catch (const json::exception& e) {
      throw Error("bus: " + frames[0].substr(0, 32) + ": malformed body: " + e.what());
    }
    if (!body.is_object()) throw Error("bus: " + frames[0].substr(0, 32) + ": body is not a JSON object");
  }
  try {
    return from_json(frames[0], body);
  } catch (const json::exception& e) {
    throw Error("bus: " + frames[0].substr(0, 32) + ": bad field: " + e.what());
  }
}

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  std::string host = endpoint.substr(6);
  // "tcp://src;dst" names a source address first; the destination decides.
  if (auto semi = host.find(';'); semi != std::string::npos) host = host.substr(semi + 1);
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close != std::string::npos && host.substr(1, close - 1) == "::1";
  }
  host = host.substr(0, host.rfind(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

CurveKeys curve_keys_for(const std::string& endpoint, bool server) {
  if (is_loopback_endpoint(endpoint)) return {};
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  CurveKeys keys{env("AL_BUS_CURVE_SERVER_PUBLIC"), server ? env("AL_BUS_CURVE_SERVER_SECRET") : ""};
  auto check = [&](const std::string& key, const char* name) {
    if (key.empty()) {
      throw Error("bus.endpoint: " + endpoint + " is not a loopback address; CURVE keys are required: set " +
                  name + " (see docs/protocol.md, Security)");
    }
    if (key.size() != 40) throw Error(std::string(name) + ": want a 40-character Z85 key, got " +
                                      std::to_string(key.size()) + " characters");
  };
  check(keys.server_public, "AL_BUS_CURVE_SERVER_PUBLIC");
  if (server) check(keys.server_secret, "AL_BUS_CURVE_SERVER_SECRET");
  return keys;
}

}  // namespace al::bus
