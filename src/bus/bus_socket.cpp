// ROUTER/DEALER setup and whole-message send/receive for the bus.
#include "bus/bus_socket.hpp"

#include <zmq_addon.hpp>

#include "assemblyline/error.hpp"

namespace al::bus {

namespace {

// Credits bound what is outstanding to a few messages per worker; the HWM
// only guards against a misbehaving peer.
constexpr int high_water_mark = 10000;

void common_options(zmq::socket_t& s) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, high_water_mark);
  s.set(zmq::sockopt::rcvhwm, high_water_mark);
  s.set(zmq::sockopt::tcp_keepalive, 1);
  s.set(zmq::sockopt::tcp_keepalive_idle, 5);
  s.set(zmq::sockopt::tcp_keepalive_intvl, 2);
  s.set(zmq::sockopt::tcp_keepalive_cnt, 3);
}

bool send_frames(zmq::socket_t& s, const std::vector<std::string>& frames) {
  try {
    std::vector<zmq::const_buffer> parts;
    parts.reserve(frames.size());
    for (const auto& f : frames) parts.push_back(zmq::buffer(f));
    auto sent = zmq::send_multipart(s, parts, zmq::send_flags::dontwait);
    return sent.has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH || e.num() == EAGAIN) return false;
    throw;
  }
}

}  // namespace

zmq::socket_t bind_router(zmq::context_t& ctx, const std::string& endpoint, const CurveKeys& keys) {
  zmq::socket_t s(ctx, zmq::socket_type::router);
  common_options(s);
  // A worker that reconnects under the same name takes its identity over;
  // sending to an unknown peer fails instead of vanishing silently.
  s.set(zmq::sockopt::router_handover, 1);
  s.set(zmq::sockopt::router_mandatory, 1);
  if (!keys.empty()) {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, keys.server_secret);
  }
  try {
    s.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("bus: cannot bind " + endpoint + ": " + e.what(), true);
  }
  return s;
}

zmq::socket_t connect_dealer(zmq::context_t& ctx, const std::string& endpoint, const std::string& name,
                             const CurveKeys& keys) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  common_options(s);
  s.set(zmq::sockopt::routing_id, name);
  s.set(zmq::sockopt::reconnect_ivl, 100);
  s.set(zmq::sockopt::reconnect_ivl_max, 1000);
  if (!keys.empty()) {
    char pub[41] = {0}, sec[41] = {0};
    if (zmq_curve_keypair(pub, sec) != 0) throw Error("bus: cannot generate a CURVE key pair (libzmq without CURVE?)");
    s.set(zmq::sockopt::curve_serverkey, keys.server_public);
    s.set(zmq::sockopt::curve_publickey, std::string(pub));
    s.set(zmq::sockopt::curve_secretkey, std::string(sec));
  }
  try {
    s.connect(endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("bus: cannot connect to " + endpoint + ": " + e.what());
  }
  return s;
}

bool send(zmq::socket_t& socket, const Message& message) { return send_frames(socket, encode(message)); }

bool send_to(zmq::socket_t& router, const std::string& peer, const Message& message) {
  auto frames = encode(message);
  frames.insert(frames.begin(), peer);
  return send_frames(router, frames);
}

std::optional<std::vector<std::string>> receive_frames(zmq::socket_t& socket) {
  std::vector<zmq::message_t> parts;
  auto got = zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait);
  if (!got) return std::nullopt;
  std::vector<std::string> frames;
  frames.reserve(parts.size());
  for (auto& p : parts) frames.emplace_back(p.to_string());
  return frames;
}

}  // namespace al::bus
