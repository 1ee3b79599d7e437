// Bus protocol: the messages the scheduler (ZeroMQ ROUTER) and the workers
// (DEALER) exchange — one verb frame and one compact JSON body frame each.
// Pure encoding and decoding, no sockets, so it is tested on its own; the
// verbs, bodies and the credit rules are described in docs/protocol.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace al::bus {

/// Bumped when a body changes incompatibly; HELLO carries it, the scheduler
/// refuses a worker that speaks another version.
inline constexpr int protocol_version = 1;

/// worker → scheduler: who I am and how many ids I can hold. Also the answer to WHO.
struct Hello {
  std::string stage;
  int credits = 0;    ///< ids the worker holds at most (queued + in hand)
  int free = 0;       ///< of those, free now (less than credits after a reconnect)
  int batch = 0;      ///< ids per WORK message at most
  std::int64_t pid = 0;
  std::string host;
  int protocol = protocol_version;
};

/// scheduler → worker: HELLO accepted.
struct Ready {
  int protocol = protocol_version;
  int heartbeat_ms = 0;
  int peer_dead_ms = 0;
};

/// scheduler → worker: ids claimed for this worker (committed at x21), with
/// the attempt that fences every write; `seq` numbers WORK messages per worker.
struct Work {
  std::uint64_t seq = 0;
  std::vector<std::int64_t> ids;
  std::vector<int> attempts;
};

/// worker → scheduler: a WORK message is finished; returns `n` credits.
struct Done {
  std::uint64_t seq = 0;
  int n = 0;
  int ok = 0;
  int failed = 0;
};

/// Both ways every bus.heartbeat_ms. From a worker it carries its free credits
/// and the last WORK seq it received, which lets the scheduler correct its
/// credit count after a lost message; from the scheduler both are 0.
struct Heartbeat {
  int free = 0;
  std::uint64_t seq = 0;
};

/// worker → scheduler: stopping, hand my unstarted ids back.
/// scheduler → worker: your HELLO is refused (reason says why).
struct Bye {
  std::string reason;
};

/// scheduler → worker: I do not know you (I restarted, or presumed you dead): say HELLO.
struct Who {};

using Message = std::variant<Hello, Ready, Work, Done, Heartbeat, Bye, Who>;

/// The verb frame of a message: "HELLO", "READY", "WORK", "DONE", "HEARTBEAT", "BYE", "WHO".
[[nodiscard]] std::string_view verb(const Message& message);

/// Two frames: verb, JSON body.
[[nodiscard]] std::vector<std::string> encode(const Message& message);

/// Parses the frames of one message (routing frames already removed).
/// Throws al::Error (not retryable) naming the problem on an unknown verb,
/// a malformed body or mismatched ids/attempts.
[[nodiscard]] Message decode(const std::vector<std::string>& frames);

/// True for endpoints that stay on this machine (ipc://, inproc://,
/// tcp://127.x.x.x, tcp://localhost, tcp://[::1]); anything else needs CURVE.
[[nodiscard]] bool is_loopback_endpoint(const std::string& endpoint);

/// CURVE keys (Z85, 40 characters each) for a non-loopback bus.
struct CurveKeys {
  std::string server_public;
  std::string server_secret;  ///< only the scheduler needs it
  [[nodiscard]] bool empty() const { return server_public.empty(); }
};

/// The CURVE keys for `endpoint`, read from AL_BUS_CURVE_SERVER_PUBLIC and
/// AL_BUS_CURVE_SERVER_SECRET. Throws al::Error when the endpoint is not
/// loopback and the keys a process of this role needs are missing or malformed.
[[nodiscard]] CurveKeys curve_keys_for(const std::string& endpoint, bool server);

}  // namespace al::bus
