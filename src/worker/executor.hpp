// Executor: the worker thread that owns the database connection and runs the
// Stage. The bus thread (worker_runtime.cpp) hands it one WORK message at a
// time over an inproc PAIR socket and gets DONE back, so the bus thread's
// poll wakes the moment a message is finished. Internal to src/.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "assemblyline/bus_protocol.hpp"
#include "assemblyline/config.hpp"
#include "assemblyline/stage.hpp"

namespace al {

/// Where the bus thread binds its PAIR socket and the executor connects.
inline constexpr const char* executor_endpoint = "inproc://al-executor";

class Executor {
public:
  /// `abort` makes database retries give up (set when the stop grace period is over).
  Executor(const Config& config, const StageInfo& info, Stage& stage, std::string worker_name,
           zmq::context_t& zmq_context, const std::atomic<bool>& abort);

  /// Thread body: connects, says READY on the pair, then works WORK messages
  /// until BYE arrives on the pair (or `abort` while connecting).
  void run();

private:
  bus::Done handle(const bus::Work& work);
  std::vector<WorkItem> acknowledge(const std::vector<WorkItem>& items);
  void process_with_retry(const std::vector<WorkItem>& acked);
  void fail_all(const std::vector<WorkItem>& acked, const std::string& error);
  void call_idle();
  bool reconnect_if_broken(const std::exception& e);
  [[nodiscard]] std::string application_name() const;

  const Config& m_config;
  const StageInfo& m_info;
  Stage& m_stage;
  std::string m_worker_name;
  zmq::context_t& m_zmq;
  const std::atomic<bool>& m_abort;
  std::unique_ptr<pqxx::connection> m_db;
  std::unique_ptr<StageContext> m_ctx;
};

}  // namespace al
