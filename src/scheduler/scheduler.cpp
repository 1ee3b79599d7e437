// The scheduler: leader lock, bus ROUTER, LISTEN al_ready, and tick() — one
// bounded step over the SQL functions of docs/internals.md.
#include "assemblyline/scheduler.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/bus_protocol.hpp"
#include "assemblyline/config.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"
#include "assemblyline/service_notifier.hpp"
#include "bus/bus_socket.hpp"
#include "scheduler/retention.hpp"
#include "scheduler/scheduler_metrics.hpp"

namespace al {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int receive_limit = 100;       // jobs validated per step
constexpr int batch_jobs_limit = 10;     // jobs batched per step
constexpr int pass_through_limit = 1000; // items passed through per step and stage
constexpr int drain_limit = 1000;        // bus messages handled per wake
constexpr auto requeue_every = std::chrono::seconds(1);
constexpr auto row_touch_every = std::chrono::seconds(1);

// Thrown inside a step when the claim connection was lost and, after the
// reconnect, another scheduler holds the lock: the step stops at once.
struct LostLeadership {};

// A WORK message the worker has not confirmed yet (by a heartbeat carrying
// a seq at least this high); its ids count against the worker's credits.
struct InFlight {
  std::uint64_t seq;
  int n;
  Clock::time_point sent;
};

struct WorkerState {
  std::string name;
  std::string stage;
  std::string host;
  std::int64_t pid = 0;
  int credits = 0;
  int free = 0;
  int batch = 1;
  std::uint64_t next_seq = 1;
  std::deque<InFlight> in_flight;
  Clock::time_point last_seen{};
  Clock::time_point last_written{};
};

std::string next_stage(const std::string& stage) {
  const auto& names = stage_names();
  auto it = std::find(names.begin(), names.end(), stage);
  if (it == names.end() || it + 1 == names.end()) return "";
  return *(it + 1);
}

}  // namespace

struct Scheduler::Impl {
  explicit Impl(const Config& c) : config(c) {
    for (const auto& s : stage_names()) dirty[s] = true;
  }

  class Listener : public pqxx::notification_receiver {
  public:
    Listener(pqxx::connection_base& c, Impl& impl) : pqxx::notification_receiver(c, "al_ready"), m_impl(impl) {}
    void operator()(const std::string& payload, int) override { m_impl.on_ready(payload); }

  private:
    Impl& m_impl;
  };

  const Config& config;
  SchedulerMetrics metrics{config.metrics_listen};
  Retention retention{config};
  const std::atomic<bool>* stop = nullptr;
  std::atomic<bool> never{false};
  zmq::context_t zmq{1};
  std::optional<zmq::socket_t> router;
  bus::CurveKeys keys;
  std::unique_ptr<pqxx::connection> db;      // claims; holds the leader lock
  std::unique_ptr<pqxx::connection> listen;  // LISTEN al_ready, never in a transaction
  std::unique_ptr<Listener> listener;
  bool leading = false;
  bool standby_logged = false;
  std::map<std::string, WorkerState> workers;
  std::map<std::string, bool> dirty;  // per stage: ready items may exist
  std::map<std::string, Clock::time_point> who_sent;  // unknown peers we asked to say HELLO
  bool receive_due = true;
  bool batches_due = true;
  bool barriers_due = true;  // jobs at 290 may have records to release (sql/029)
  Clock::time_point next_poll{};
  Clock::time_point next_requeue{};
  Clock::time_point next_heartbeat{};
  std::string last_error;
  Clock::time_point last_error_at{};

  const std::atomic<bool>& stop_flag() const { return stop ? *stop : never; }

  void mark_all() {
    for (auto& [stage, d] : dirty) d = true;
    receive_due = batches_due = barriers_due = true;
  }

  void on_ready(const std::string& payload) {
    if (payload == "receive") {
      receive_due = true;
    } else if (payload == "batch") {
      batches_due = true;
    } else if (payload == "barrier") {
      barriers_due = true;
    } else if (dirty.count(payload)) {
      dirty[payload] = true;
    } else {
      mark_all();  // '' or anything unknown: look everywhere
    }
    spdlog::debug("scheduler: al_ready '{}'", payload);
  }

  // ---- database --------------------------------------------------------

  bool open_claim_connection() {
    db = connect_with_retry(config.database_url, "al-scheduler", stop_flag());
    if (!db) return false;
    // A silent reconnect would lose the leader lock unnoticed: we reconnect ourselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    db->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    pqxx::nontransaction nt(*db);
    // Every write of the scheduler is redone when it is lost: a claim, a
    // received job, an opened barrier, a batching step or a requeue that a
    // crash of the database takes back leaves the items where a later step
    // finds them again. So its commits do not wait for the disk; a worker's
    // outcome, which does, flushes them with it (docs/internals.md).
    // No parallel plans: each statement here reads a bounded set of rows, and
    // a table not yet analyzed made the gauges start parallel workers, some
    // milliseconds every 5 s of a loop that every claim waits for.
    nt.exec("SELECT set_config('al.actor', 'scheduler', false), set_config('synchronous_commit', 'off', false), "
            "set_config('max_parallel_workers_per_gather', '0', false)");
    return true;
  }

  bool take_lock() {
    pqxx::nontransaction nt(*db);
    return nt.exec("SELECT pg_try_advisory_lock(" + std::to_string(scheduler_lock_key) + ")")[0][0].as<bool>();
  }

  void open_listen_connection() {
    listener.reset();
    listen = connect_with_retry(config.database_url, "al-scheduler-listen", stop_flag());
    if (!listen) return;
    listener = std::make_unique<Listener>(*listen, *this);
  }

  // The claim connection broke: reconnect and take the lock again. If another
  // scheduler took over meanwhile, step down.
  void recover(const std::exception& e) {
    spdlog::warn("scheduler: database connection lost ({}); reconnecting", e.what());
    db.reset();
    if (!open_claim_connection()) throw LostLeadership{};
    if (!take_lock()) {
      spdlog::warn("scheduler: another scheduler took the leader lock while we were away; standing by");
      step_down();
      throw LostLeadership{};
    }
    spdlog::info("scheduler: reconnected, still the leader");
    mark_all();
  }

  // Runs `f(tx)` in its own committed transaction on the claim connection.
  template <typename F>
  auto in_tx(F&& f) {
    pqxx::work tx(*db);
    if constexpr (std::is_void_v<decltype(f(tx))>) {
      f(tx);
      tx.commit();
    } else {
      auto r = f(tx);
      tx.commit();
      return r;
    }
  }

  template <typename... Args>
  int call_int(const std::string& sql, const Args&... args) {
    return in_tx([&](pqxx::work& tx) {
      const pqxx::result r = tx.exec_params(sql, args...);
      return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<int>();
    });
  }

  // One database step, with the error policy of the whole scheduler: a broken
  // connection reconnects (and may lose leadership), any other error is
  // logged (once a minute when it repeats) and the step is tried again later.
  template <typename F>
  bool guarded(const char* what, F&& f) {
    try {
      f();
      return true;
    } catch (const LostLeadership&) {
      return false;
    } catch (const pqxx::broken_connection& e) {
      try {
        recover(e);
      } catch (const LostLeadership&) {
      }
      return false;
    } catch (const std::exception& e) {
      if (db && !db->is_open()) {
        try {
          recover(e);
        } catch (const LostLeadership&) {
        }
        return false;
      }
      const auto now = Clock::now();
      if (e.what() != last_error || now - last_error_at > std::chrono::minutes(1)) {
        spdlog::error("scheduler: {}: {}", what, e.what());
        last_error = e.what();
        last_error_at = now;
      }
      return false;
    }
  }

  // ---- leadership ------------------------------------------------------

  bool try_lead() {
    bool got = false;
    try {
      if (!db && !open_claim_connection()) return false;
      got = take_lock();
    } catch (const std::exception& e) {
      spdlog::warn("scheduler: leader lock: {}; retrying", e.what());
      db.reset();
      return false;
    }
    if (!got) {
      if (!standby_logged) {
        spdlog::info("scheduler: standby: another scheduler holds the leader lock; retrying every second");
        standby_logged = true;
      }
      return false;
    }
    try {
      keys = bus::curve_keys_for(config.bus_endpoint, true);
      router.emplace(bus::bind_router(zmq, config.bus_endpoint, keys));
    } catch (const std::exception& e) {
      spdlog::error("scheduler: {}; releasing the leader lock", e.what());
      release_lock();
      return false;
    }
    open_listen_connection();
    leading = true;
    standby_logged = false;
    metrics.start();
    workers.clear();
    // Rows of a previous leader's workers: they say HELLO again to us.
    guarded("clear workers", [&] { in_tx([](pqxx::work& tx) { tx.exec("DELETE FROM al.workers"); }); });
    mark_all();
    const auto now = Clock::now();
    next_poll = next_requeue = next_heartbeat = now;
    spdlog::info("scheduler: leader; bus bound at {}{}", config.bus_endpoint, keys.empty() ? "" : " (CURVE)");
    return true;
  }

  void release_lock() {
    if (!db || !db->is_open()) return;
    try {
      pqxx::nontransaction nt(*db);
      nt.exec("SELECT pg_advisory_unlock(" + std::to_string(scheduler_lock_key) + ")");
    } catch (const std::exception& e) {
      spdlog::warn("scheduler: releasing the leader lock: {}", e.what());
    }
  }

  // Stopping: ids sent but not acknowledged go back to ready now (stopping
  // workers drop their queues), not after a later leader's timeout.
  void hand_back_unacknowledged() {
    if (!db || !db->is_open()) return;
    int n = 0;
    guarded("hand back", [&] {
      for (const auto& stage : stage_names()) {
        n += call_int("SELECT al.requeue_unacknowledged($1, 'scheduler stopped')", stage);
      }
    });
    if (n > 0) spdlog::info("scheduler: stopping: {} scheduled but unacknowledged items handed back to ready", n);
  }

  void step_down() {
    router.reset();  // linger 0: unbinds at once
    listener.reset();
    listen.reset();
    workers.clear();
    leading = false;
    metrics.stop();
  }

  // ---- bus ---------------------------------------------------------------

  void send(WorkerState& w, const bus::Message& m) {
    if (!router) return;
    if (!bus::send_to(*router, w.name, m)) {
      spdlog::warn("worker {}: unreachable on the bus; presumed gone", w.name);
      forget(w.name, "unreachable");
    }
  }

  void forget(std::string name, const std::string& reason) {  // by value: it may live in the erased entry
    auto it = workers.find(name);
    if (it == workers.end()) return;
    const std::string stage = it->second.stage;
    workers.erase(it);
    metrics.forget_worker(name);
    int n = 0;
    guarded("requeue worker", [&] {
      n = call_int("SELECT al.requeue_worker($1, $2)", name, config.stage(stage).max_attempts);
      in_tx([&](pqxx::work& tx) { tx.exec_params("DELETE FROM al.workers WHERE name = $1", name); });
    });
    spdlog::info("worker {}: {}; {} items handed back to ready", name, reason, n);
    dirty[stage] = true;
  }

  void write_row(WorkerState& w, bool hello) {
    w.last_written = Clock::now();
    guarded("al.workers", [&] {
      in_tx([&](pqxx::work& tx) {
        if (hello) {
          tx.exec_params(
              "INSERT INTO al.workers(name, stage, host, pid, credits, connected_at, last_seen_at) "
              "VALUES ($1, $2, $3, $4, $5, now(), now()) "
              "ON CONFLICT (name) DO UPDATE SET stage = EXCLUDED.stage, host = EXCLUDED.host, pid = EXCLUDED.pid, "
              "credits = EXCLUDED.credits, connected_at = now(), last_seen_at = now()",
              w.name, w.stage, w.host, w.pid, w.free);
        } else {
          tx.exec_params("UPDATE al.workers SET credits = $2, last_seen_at = now() WHERE name = $1", w.name,
                         w.free);
        }
      });
    });
  }

  void on_message(const std::string& peer, const bus::Message& message) {
    const auto now = Clock::now();
    // Workers always name themselves. A routing id that ZeroMQ made up (it
    // starts with a zero byte) is an old connection of a worker that has
    // since connected again under its name: what is still queued on it is
    // stale, and a worker registered under it could never be reached.
    if (peer.empty() || peer.front() == '\0') {
      spdlog::debug("bus: {} from a connection replaced by its worker; ignored", bus::verb(message));
      return;
    }
    if (auto* hello = std::get_if<bus::Hello>(&message)) return on_hello(peer, *hello, now);
    auto it = workers.find(peer);
    if (it == workers.end()) {
      // At most one WHO per heartbeat interval: a worker's queued heartbeats
      // and DONEs would otherwise each draw one (and each answer a HELLO).
      auto& asked = who_sent[peer];
      if (!std::holds_alternative<bus::Bye>(message) && now - asked >= milliseconds(config.bus_heartbeat_ms)) {
        spdlog::info("worker {}: unknown to this scheduler ({}); asking it to say HELLO", peer, bus::verb(message));
        bus::send_to(*router, peer, bus::Who{});
        asked = now;
      }
      if (who_sent.size() > 10000) who_sent.clear();
      return;
    }
    WorkerState& w = it->second;
    w.last_seen = now;
    if (auto* done = std::get_if<bus::Done>(&message)) {
      w.free = std::min(w.credits, w.free + done->n);
      metrics.done(w.stage, w.name, done->seq, done->ok, done->failed);
      spdlog::debug("worker {}: DONE seq {}: {} ids, {} ok, {} failed", w.name, done->seq, done->n, done->ok,
                    done->failed);
      // The worker's own stage needs no claim for the credits it got back:
      // a stage stays dirty until a claim comes back short, so a backlog is
      // still marked, and an empty claim would cost every hop a round trip.
      if (auto next = next_stage(w.stage); !next.empty()) dirty[next] = true;
      if (w.stage == "distributor") batches_due = true;
    } else if (auto* hb = std::get_if<bus::Heartbeat>(&message)) {
      // The worker's own count is exact up to the WORK seq it has seen; the
      // messages after that are still on their way to it.
      while (!w.in_flight.empty() && w.in_flight.front().seq <= hb->seq) w.in_flight.pop_front();
      int pending = 0;
      for (const auto& f : w.in_flight) pending += f.n;
      const int free = std::clamp(hb->free - pending, 0, w.credits);
      if (free != w.free) {
        spdlog::debug("worker {}: credits corrected from {} to {}", w.name, w.free, free);
        if (free > w.free) dirty[w.stage] = true;
        w.free = free;
      }
    } else if (std::holds_alternative<bus::Bye>(message)) {
      forget(w.name, "said BYE");
    }
  }

  void on_hello(const std::string& peer, const bus::Hello& hello, Clock::time_point now) {
    if (hello.protocol != bus::protocol_version) {
      spdlog::error("worker {}: speaks bus protocol {}, this scheduler {}; refused", peer, hello.protocol,
                    bus::protocol_version);
      bus::send_to(*router, peer,
                   bus::Bye{"protocol " + std::to_string(hello.protocol) + " not supported; the scheduler speaks " +
                            std::to_string(bus::protocol_version)});
      return;
    }
    if (!dirty.count(hello.stage)) {
      spdlog::error("worker {}: unknown stage '{}'; refused", peer, hello.stage);
      bus::send_to(*router, peer, bus::Bye{"unknown stage '" + hello.stage + "'"});
      return;
    }
    who_sent.erase(peer);
    const bool known = workers.count(peer) > 0;
    WorkerState& w = workers[peer];
    if (known && w.stage != hello.stage) {
      w = WorkerState{};
    }
    w.name = peer;
    w.stage = hello.stage;
    w.host = hello.host;
    w.pid = hello.pid;
    w.credits = hello.credits;
    w.free = std::clamp(hello.free, 0, hello.credits);
    w.batch = hello.batch;
    w.in_flight.clear();
    w.last_seen = now;
    spdlog::info("worker {}: {}: stage {}, {} credits ({} free, {} per message)", peer,
                 known ? "HELLO again" : "HELLO", w.stage, w.credits, w.free, w.batch);
    bus::send_to(*router, peer, bus::Ready{bus::protocol_version, config.bus_heartbeat_ms, config.bus_peer_dead_ms});
    dirty[w.stage] = true;
    write_row(w, true);  // last: a lost connection may step down and clear `workers`
  }

  void drain_bus() {
    for (int i = 0; i < drain_limit && router && leading; ++i) {
      auto frames = bus::receive_frames(*router);
      if (!frames) return;
      if (frames->size() < 2) continue;
      const std::string peer = frames->front();
      frames->erase(frames->begin());
      try {
        on_message(peer, bus::decode(*frames));
      } catch (const Error& e) {
        spdlog::warn("worker {}: {}", peer, e.what());
      }
    }
  }

  void drain_notifications() {
    if (!listen) {
      open_listen_connection();
      mark_all();
      return;
    }
    try {
      listen->get_notifs();
    } catch (const std::exception& e) {
      spdlog::warn("scheduler: LISTEN connection lost ({}); reconnecting", e.what());
      open_listen_connection();
      mark_all();
    }
  }

  // ---- the step ------------------------------------------------------------

  // Claims for every worker of `stage` with free credits, one claim each;
  // returns true when ready items may remain and someone could take them.
  bool claim_for(const std::string& stage) {
    std::vector<std::pair<int, std::string>> takers;  // (free, name): most free first
    for (const auto& [name, w] : workers) {
      if (w.stage == stage && w.free > 0) takers.emplace_back(w.free, name);
    }
    std::sort(takers.begin(), takers.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [free, name] : takers) {
      auto it = workers.find(name);
      if (it == workers.end()) continue;
      WorkerState& w = it->second;
      const int want = std::min(w.free, w.batch);
      bus::Work work;
      in_tx([&](pqxx::work& tx) {
        auto rows = exec_prepared_sql(tx, "al.claim", "SELECT id, attempt FROM al.claim($1, $2, $3)", stage,
                                      want, name);
        for (const auto& row : rows) {
          work.ids.push_back(row[0].as<std::int64_t>());
          work.attempts.push_back(row[1].as<int>());
        }
      });  // committed before the ids go out
      if (work.ids.empty()) {
        dirty[stage] = false;
        return false;
      }
      const int got = static_cast<int>(work.ids.size());
      work.seq = w.next_seq++;
      w.free -= got;
      w.in_flight.push_back({work.seq, got, Clock::now()});
      spdlog::debug("worker {}: WORK seq {}: {} {} ids from {}", name, work.seq, got, stage, work.ids.front());
      metrics.dispatched(stage, name, work.seq, got);
      send(w, work);  // may forget the worker (handing its items back) or even step down
      if (!leading) throw LostLeadership{};
      if (got < want) {
        dirty[stage] = false;
        return false;
      }
    }
    for (const auto& [name, w] : workers) {
      if (w.stage == stage && w.free > 0) return true;
    }
    return false;
  }

  milliseconds tick() {
    const auto now = Clock::now();
    if (!leading) return milliseconds(0);
    if (now >= next_poll) {
      mark_all();
      next_poll = now + milliseconds(config.scheduler_poll_ms);
    }
    bool more = false;
    const bool ok = guarded("step", [&] {
      // Claims first: the steps below can take tens of milliseconds (a
      // batch fill, a chunk of the barrier), and a worker that sent DONE
      // while the last one ran should not wait for the next as well.
      for (const auto& stage : stage_names()) {
        if (!dirty[stage]) continue;
        if (!config.stage(stage).enabled) {
          const int n = call_int("SELECT al.pass_through($1, $2)", stage, pass_through_limit);
          dirty[stage] = n == pass_through_limit;
          if (n > 0) {
            spdlog::info("scheduler: {} disabled: {} items passed through", stage, n);
            if (auto next = next_stage(stage); !next.empty()) dirty[next] = true;
            if (stage == "distributor") batches_due = true;
          }
          more = more || dirty[stage];
          continue;
        }
        more = claim_for(stage) || more;
      }
      if (receive_due) {
        const int n = call_int("SELECT al.receive_jobs($1)", receive_limit);
        receive_due = n == receive_limit;
        if (n > 0) {
          spdlog::info("scheduler: received {} jobs", n);
          dirty["identifier"] = true;
          more = true;  // claimed on the next tick, at once
        }
      }
      if (barriers_due) {
        // A chunk of records per call, so the distributors start on the
        // first while the rest are released (sql/029).
        const int n = call_int("SELECT al.open_barriers($1)", 2 * config.stage("distributor").batch_size);
        barriers_due = n > 0;
        if (n > 0) {
          spdlog::debug("scheduler: barrier: {} records released", n);
          dirty["distributor"] = true;
        }
      }
      if (batches_due) {
        // One step per job and call: its batches, then (next call) its
        // records, so the presenters start while the records move (sql/028).
        const int n = call_int("SELECT al.form_batches($1, $2)", batch_jobs_limit,
                                 config.stage("distributor").batch_size);
        batches_due = n > 0;
        if (n > 0) {
          spdlog::info("scheduler: batching: {} job steps", n);
          dirty["presenter"] = true;
        }
      }
      more = receive_due || barriers_due || batches_due || more;
      if (now >= next_requeue) {
        next_requeue = now + requeue_every;
        for (const auto& stage : stage_names()) {
          const auto& sc = config.stage(stage);
          const int n = call_int("SELECT al.requeue_stale($1, $2, $3)", stage, sc.timeout_s, sc.max_attempts);
          if (n > 0) {
            spdlog::warn("scheduler: {}: {} items timed out after {} s; back to ready (or quarantined)", stage, n,
                         sc.timeout_s);
            dirty[stage] = true;
          }
        }
      }
    });
    if (!leading) return milliseconds(0);
    housekeeping(now);
    if (leading && metrics.refresh_due(now)) {
      guarded("metrics", [&] {
        std::map<std::string, int> per_stage;
        for (const auto& [name, w] : workers) ++per_stage[w.stage];
        metrics.refresh(*db, per_stage);
      });
    }
    if (leading && retention.due(now)) guarded("retention", [&] { retention.step(*db); });
    if (!ok) return milliseconds(std::min(config.scheduler_poll_ms, 1000));
    if (more) return milliseconds(0);
    const auto next = std::min({next_poll, next_requeue, next_heartbeat});
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(next - Clock::now()));
  }

  // Heartbeats out, dead workers forgotten, al.workers kept fresh.
  void housekeeping(Clock::time_point now) {
    const milliseconds dead(config.bus_peer_dead_ms);
    std::vector<std::string> gone;
    for (auto& [name, w] : workers) {
      if (now - w.last_seen > dead) gone.push_back(name);
      while (!w.in_flight.empty() && now - w.in_flight.front().sent > dead) w.in_flight.pop_front();
    }
    for (const auto& name : gone) {
      forget(name, "silent for " + std::to_string(config.bus_peer_dead_ms) + " ms, presumed dead");
    }
    if (now >= next_heartbeat) {
      next_heartbeat = now + milliseconds(config.bus_heartbeat_ms);
      std::vector<std::string> names;
      for (const auto& [name, w] : workers) names.push_back(name);
      for (const auto& name : names) {
        auto it = workers.find(name);
        if (it != workers.end()) send(it->second, bus::Heartbeat{});
      }
    }
    std::vector<std::string> stale_rows;
    for (const auto& [name, w] : workers) {
      if (w.last_seen > w.last_written && now - w.last_written >= row_touch_every) stale_rows.push_back(name);
    }
    for (const auto& name : stale_rows) {
      auto it = workers.find(name);
      if (it != workers.end() && leading) write_row(it->second, false);
    }
  }

  void wait_and_receive(milliseconds max_wait) {
    std::vector<zmq::pollitem_t> items;
    if (router) items.push_back({static_cast<void*>(*router), 0, ZMQ_POLLIN, 0});
    if (listen && listen->is_open()) items.push_back({nullptr, listen->sock(), ZMQ_POLLIN, 0});
    try {
      if (items.empty()) {
        std::this_thread::sleep_for(max_wait);
      } else {
        zmq::poll(items, max_wait);
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    drain_bus();
    if (leading) drain_notifications();
  }
};

Scheduler::Scheduler(const Config& config) : m_impl(std::make_unique<Impl>(config)) {}

Scheduler::~Scheduler() {
  if (m_impl->leading) resign();
}

bool Scheduler::try_lead(const std::atomic<bool>& stop) {
  m_impl->stop = &stop;
  return m_impl->leading || m_impl->try_lead();
}

bool Scheduler::leading() const { return m_impl->leading; }

void Scheduler::wait_and_receive(std::chrono::milliseconds max_wait) { m_impl->wait_and_receive(max_wait); }

std::chrono::milliseconds Scheduler::tick() {
  if (!m_impl->leading) return std::chrono::milliseconds(1000);
  return m_impl->tick();
}

void Scheduler::resign() {
  const bool was_leading = m_impl->leading;
  m_impl->step_down();
  if (was_leading) m_impl->hand_back_unacknowledged();
  m_impl->release_lock();
  m_impl->db.reset();
  if (was_leading) spdlog::info("scheduler: resigned; bus unbound, leader lock released");
}

int Scheduler::run(const std::atomic<bool>& stop) {
  m_impl->stop = &stop;
  ServiceNotifier service;  // systemd Type=notify: READY, STATUS, WATCHDOG, STOPPING
  while (!stop.load()) {
    service.watchdog();
    if (!m_impl->leading && !m_impl->try_lead()) {
      if (m_impl->db) {
        service.running("standby: another scheduler holds the leader lock");
      } else {
        service.status("waiting for the database");
      }
      for (int i = 0; i < 10 && !stop.load(); ++i) {
        std::this_thread::sleep_for(milliseconds(100));
        service.watchdog();
      }
      continue;
    }
    auto wait = m_impl->tick();
    if (service.watchdog_every().count() > 0)  // never sleep through a watchdog ping
      wait = std::min(wait, std::chrono::duration_cast<milliseconds>(service.watchdog_every()));
    const auto n = m_impl->workers.size();
    service.running("leading, " + std::to_string(n) + (n == 1 ? " worker" : " workers"));
    if (!m_impl->leading || stop.load()) continue;
    m_impl->wait_and_receive(wait);
  }
  service.stopping("stopping: handing back unacknowledged items, releasing the leader lock");
  resign();
  return 0;
}

}  // namespace al
