// Bus sockets: creating the scheduler's ROUTER and a worker's DEALER with the
// options the protocol relies on (linger 0, bounded queues, router handover,
// CURVE off loopback), and sending/receiving whole messages. Internal to
// src/: it includes zmq.hpp, which the public headers keep out.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "assemblyline/bus_protocol.hpp"

namespace al::bus {

/// A bound ROUTER; CURVE server when `keys` are given. Throws al::Error naming
/// the endpoint when it cannot bind.
[[nodiscard]] zmq::socket_t bind_router(zmq::context_t& ctx, const std::string& endpoint, const CurveKeys& keys);

/// A DEALER connected to `endpoint` with routing id `name`; CURVE client with
/// a fresh key pair when `keys` are given.
[[nodiscard]] zmq::socket_t connect_dealer(zmq::context_t& ctx, const std::string& endpoint, const std::string& name,
                                           const CurveKeys& keys);

/// Sends without blocking; false when the peer is unknown or its queue is full.
bool send(zmq::socket_t& socket, const Message& message);
bool send_to(zmq::socket_t& router, const std::string& peer, const Message& message);

/// Receives the frames of one message without blocking; nullopt when none is waiting.
[[nodiscard]] std::optional<std::vector<std::string>> receive_frames(zmq::socket_t& socket);

}  // namespace al::bus
