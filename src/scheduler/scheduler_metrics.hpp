// SchedulerMetrics: the Prometheus text endpoint of the active scheduler
// (metrics.listen), served by prometheus-cpp's pull Exposer. The scheduler
// binds it only while it leads and feeds it from its bus events and from a
// cheap database refresh every few seconds; prometheus-cpp stays behind the
// pimpl so only this file's .cpp pays for its headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <pqxx/connection>  // pqxx::connection is an alias in 6.4: it cannot be forward-declared

namespace al {

class SchedulerMetrics {
public:
  /// Creates every metric (at zero, for every stage); binds nothing yet.
  /// `listen` is host:port; empty means metrics are off.
  explicit SchedulerMetrics(std::string listen);
  ~SchedulerMetrics();
  SchedulerMetrics(const SchedulerMetrics&) = delete;
  SchedulerMetrics& operator=(const SchedulerMetrics&) = delete;

  /// Binds the endpoint (the scheduler now leads). A port that cannot be
  /// bound is logged as an error and metrics stay off: the line goes on.
  void start();
  /// Unbinds (the scheduler stepped down or stops). Counters are kept.
  void stop();
  [[nodiscard]] bool serving() const;

  /// `n` ids of `stage` sent to `worker` in WORK `seq`.
  void dispatched(const std::string& stage, const std::string& worker, std::uint64_t seq, int n);
  /// The worker's DONE for WORK `seq`: outcomes counted, claim → DONE latency observed.
  void done(const std::string& stage, const std::string& worker, std::uint64_t seq, int ok, int failed);
  /// The worker is gone: its unfinished WORK messages are no longer timed.
  void forget_worker(const std::string& worker);

  /// True when the database gauges are due for a refresh (every few seconds).
  [[nodiscard]] bool refresh_due(std::chrono::steady_clock::time_point now) const;
  /// Items per stage and state, oldest ready item age, database round trip,
  /// workers connected per stage. Throws what libpqxx throws.
  void refresh(pqxx::connection& db, const std::map<std::string, int>& workers_per_stage);

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace al
