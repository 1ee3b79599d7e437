// Stop signals: SIGTERM and SIGINT set one process-wide flag that the
// scheduler and worker loops check after every wake. The handlers are
// installed without SA_RESTART so a blocking zmq::poll returns at once.
#pragma once

#include <atomic>

namespace al {

/// Installs the SIGTERM/SIGINT handlers (and ignores SIGPIPE).
void install_stop_signals();

/// The flag the handlers set; pass it to connect_with_retry and friends.
[[nodiscard]] const std::atomic<bool>& stop_flag();

/// Blocks SIGTERM/SIGINT in the calling thread (for helper threads, so the
/// main thread's poll is the one interrupted).
void block_stop_signals_in_this_thread();

}  // namespace al
