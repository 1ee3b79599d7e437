// Worker runtime: the shared main of all seven worker binaries. It parses
// argv (--config, --name), loads config, sets up logging and signals, keeps a
// warm database connection, talks to the scheduler over ZeroMQ (hello with
// credits, heartbeats, work, done — see docs/protocol.md), acknowledges ids in
// the database (x31, fenced by attempt) and hands them to the Stage.
#pragma once

#include <memory>
#include <string>

#include "assemblyline/stage.hpp"

namespace al {

/// The flow-control window a worker announces in HELLO (docs/protocol.md).
struct WorkerCredits {
  int credits = 0;  ///< ids held at most: queued plus in hand
  int batch = 0;    ///< ids per WORK message at most
};

/// The one rule for credits: item stages (assembler, distributor) hold two
/// messages of batch_size ids, so one waits while the other is worked; the
/// identifier holds 4 jobs and the batch stages (presenter … notifier) 4
/// batches, one per message.
[[nodiscard]] WorkerCredits worker_credits(const std::string& stage_name, const Config& config);

/// Runs a worker for `stage_name` until SIGTERM/SIGINT; returns the exit code.
int run_worker(int argc, char** argv, const std::string& stage_name, std::unique_ptr<Stage> stage);

template <typename StageT>
int run_worker(int argc, char** argv) {
  return run_worker(argc, argv, StageT::name, std::make_unique<StageT>());
}

}  // namespace al
