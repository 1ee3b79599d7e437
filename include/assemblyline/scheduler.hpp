// Scheduler: the one active dispatcher of the line. It holds the leader
// advisory lock on the connection it claims with, binds the bus only while it
// leads, wakes on LISTEN al_ready, bus messages and a poll timer, and moves
// work with the SQL functions of docs/internals.md; the bus side is described
// in docs/protocol.md. pqxx and zmq stay behind the pimpl.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace al {

struct Config;

/// The pg_try_advisory_lock key the active scheduler holds ("alsch").
inline constexpr long long scheduler_lock_key = 0x616c736368;

class Scheduler {
public:
  /// Keeps a reference to `config`; opens nothing yet.
  explicit Scheduler(const Config& config);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Runs until `stop`: stands by until it holds the leader lock, then
  /// dispatches; on stop releases the lock and unbinds. Returns the exit code.
  int run(const std::atomic<bool>& stop);

  /// Tries once to become the leader: connects, takes the lock, binds the bus
  /// and listens. False (standby) when another scheduler holds the lock.
  bool try_lead(const std::atomic<bool>& stop);

  /// True while this scheduler holds the leader lock.
  [[nodiscard]] bool leading() const;

  /// Waits up to `max_wait` for bus messages or notifications and handles
  /// them (no database writes besides al.workers and requeue_worker).
  void wait_and_receive(std::chrono::milliseconds max_wait);

  /// One bounded step (receive jobs, form batches, pass through disabled
  /// stages, claim and send WORK, requeue stale items, heartbeats, dead
  /// workers); returns how long to wait before the next step. Leader only.
  std::chrono::milliseconds tick();

  /// Unbinds the bus, forgets the workers and releases the lock.
  void resign();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// The al-scheduler main: argv (--config), config, logging, signals, run().
int run_scheduler(int argc, char** argv);

}  // namespace al
