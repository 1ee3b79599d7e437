// Stage: what one worker binary does with a batch of acknowledged ids. The
// worker runtime (worker_runtime.hpp) owns everything else — bus, database,
// heartbeats, fencing, signals — so a stage only says how it works an item.
//
// The default process() runs one transaction: lock the items still owned
// (status x31 at the attempt we were given), let work() do the stage's writes,
// then write every outcome fenced by (id, x31, attempt) via al.finish(). A
// stage whose work must leave the transaction (the publisher records its
// intent before it talks to SMTP) overrides process().
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <spdlog/logger.h>

#include "assemblyline/config.hpp"

namespace al {

/// An id as sent on the bus, with the attempt that fences every write to it.
struct WorkItem {
  std::int64_t id = 0;
  int attempt = 0;
};

/// What became of one item. ok → the stage's x90; !ok → its x41 with `error`.
struct Outcome {
  std::int64_t id = 0;
  int attempt = 0;
  bool ok = true;
  std::string error;
};

/// Where a stage lives in the schema: the table it works and its status column.
struct StageInfo {
  std::string name;       ///< "assembler"
  std::string table;      ///< "al.trns"
  std::string id_column;  ///< "trn_id"
  std::string status_column;
  int hundreds = 0;       ///< 2 → ready 211, scheduled 221, processing 231, error 241, processed 290
};

/// The stage table of the line; throws al::Error for an unknown name.
[[nodiscard]] const StageInfo& stage_info(const std::string& name);

class StageContext {
public:
  StageContext(const Config& config, const StageInfo& info, std::string worker_name, pqxx::connection& db,
               spdlog::logger& log)
      : m_config(config), m_info(info), m_worker_name(std::move(worker_name)), m_db(&db), m_log(log) {}

  [[nodiscard]] const Config& config() const { return m_config; }
  [[nodiscard]] const StageConfig& stage_config() const { return m_config.stage(m_info.name); }
  [[nodiscard]] const StageInfo& info() const { return m_info; }
  [[nodiscard]] const std::string& worker_name() const { return m_worker_name; }
  [[nodiscard]] pqxx::connection& db() { return *m_db; }
  [[nodiscard]] spdlog::logger& log() { return m_log; }

  /// Locks the items still at x31 with the attempt given (FOR UPDATE) and
  /// returns them; items moved on by anyone else are dropped silently.
  [[nodiscard]] std::vector<WorkItem> lock_owned(pqxx::work& tx, const std::vector<WorkItem>& items);

  /// Writes outcomes fenced by (id, x31, attempt); returns how many rows moved.
  int finish(pqxx::work& tx, const std::vector<Outcome>& outcomes);

  /// Outcomes handed to finish() since reset_counts(); the runtime reports them in DONE.
  [[nodiscard]] int finished_ok() const { return m_ok; }
  [[nodiscard]] int finished_failed() const { return m_failed; }
  void reset_counts() { m_ok = m_failed = 0; }

  /// The runtime points the context at a new connection after a reconnect.
  void set_db(pqxx::connection& db) { m_db = &db; }

private:
  const Config& m_config;
  const StageInfo& m_info;
  std::string m_worker_name;
  pqxx::connection* m_db;
  spdlog::logger& m_log;
  int m_ok = 0;
  int m_failed = 0;
};

class Stage {
public:
  virtual ~Stage() = default;

  /// Works acknowledged items to their outcome. Throwing a retryable error
  /// (lost connection) makes the runtime reconnect and call again with the
  /// same items; anything else fails the items with the exception's text.
  virtual void process(StageContext& ctx, const std::vector<WorkItem>& acked);

  /// Called when the worker is idle (about once per heartbeat) and after each
  /// message; the notifier drains its job-event outbox here.
  virtual void idle(StageContext& /*ctx*/) {}

protected:
  /// The stage's own writes for `owned`, inside `tx`; one Outcome per item.
  /// Per-item problems (bad data) become !ok outcomes, never exceptions.
  virtual std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) = 0;
};

}  // namespace al
