// The executor thread: ack (x31, fenced by attempt), Stage::process with
// retries on lost connections, failure of the whole message on anything else.
#include "worker/executor.hpp"

#include <chrono>
#include <functional>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"
#include "bus/bus_socket.hpp"
#include "worker/failpoint.hpp"

namespace al {

namespace {

using Clock = std::chrono::steady_clock;

// Thrown when retries run out; the items stay where they are and the
// scheduler's timeout puts them back (an unacknowledged x21 costs no attempt).
struct GaveUp {};

std::string first_id(const std::vector<WorkItem>& items) {
  return items.empty() ? "-" : std::to_string(items.front().id);
}

// Runs `f` until it succeeds, retrying errors a retry can cure (reconnecting
// when the connection is gone) until the stage timeout — after that the
// scheduler has put the items back anyway — or until `abort`.
template <typename F>
auto retrying(const std::atomic<bool>& abort, int timeout_s, const std::string& what,
              F&& f, std::function<bool(const std::exception&)> reconnect) -> decltype(f()) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  auto delay = std::chrono::milliseconds(100);
  for (;;) {
    try {
      return f();
    } catch (const std::exception& e) {
      if (!is_retryable(e)) throw;
      if (abort.load() || Clock::now() + delay > deadline) {
        spdlog::warn("{}: {}; giving up, the items will time out and be retried", what, e.what());
        throw GaveUp{};
      }
      spdlog::warn("{}: {}; retrying in {} ms", what, e.what(), delay.count());
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
      reconnect(e);
    }
  }
}

}  // namespace

Executor::Executor(const Config& config, const StageInfo& info, Stage& stage, std::string worker_name,
                   zmq::context_t& zmq_context, const std::atomic<bool>& abort)
    : m_config(config), m_info(info), m_stage(stage), m_worker_name(std::move(worker_name)), m_zmq(zmq_context),
      m_abort(abort) {}

void Executor::run() {
  zmq::socket_t pair(m_zmq, zmq::socket_type::pair);
  pair.set(zmq::sockopt::linger, 0);
  pair.connect(executor_endpoint);

  m_db = connect_with_retry(m_config.database_url, application_name(), m_abort);
  if (!m_db) return;
  m_ctx = std::make_unique<StageContext>(m_config, m_info, m_worker_name, *m_db, *spdlog::default_logger());
  bus::send(pair, bus::Ready{});

  const auto idle_every = std::chrono::milliseconds(m_config.bus_heartbeat_ms);
  auto next_idle = Clock::now();
  while (m_db) {
    if (Clock::now() >= next_idle) {
      call_idle();
      next_idle = Clock::now() + idle_every;
    }
    zmq::pollitem_t items[] = {{static_cast<void*>(pair), 0, ZMQ_POLLIN, 0}};
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_idle - Clock::now());
    zmq::poll(items, 1, std::max(wait, std::chrono::milliseconds(0)));
    auto frames = bus::receive_frames(pair);
    if (!frames) continue;
    auto message = bus::decode(*frames);
    if (std::holds_alternative<bus::Bye>(message)) return;
    if (auto* work = std::get_if<bus::Work>(&message)) {
      bus::send(pair, handle(*work));
      next_idle = Clock::now();  // idle() also runs after each message
    }
  }
}

bus::Done Executor::handle(const bus::Work& work) {
  bus::Done done;
  done.seq = work.seq;
  done.n = static_cast<int>(work.ids.size());
  std::vector<WorkItem> items;
  items.reserve(work.ids.size());
  for (std::size_t i = 0; i < work.ids.size(); ++i) items.push_back({work.ids[i], work.attempts[i]});
  const auto started = Clock::now();
  const std::string what = m_info.name + ": " + std::to_string(items.size()) + " items from " + first_id(items);
  auto reconnect = [this](const std::exception& e) { return reconnect_if_broken(e); };
  const int timeout_s = m_config.stage(m_info.name).timeout_s;

  std::vector<WorkItem> acked;
  try {
    acked = retrying(m_abort, timeout_s, what + ": ack", [&] { return acknowledge(items); }, reconnect);
  } catch (const GaveUp&) {
    return done;
  } catch (const std::exception& e) {
    spdlog::error("{}: ack: {}", what, e.what());
    return done;
  }
  if (acked.size() < items.size()) {
    spdlog::info("{}: {} not acknowledged (moved on since the claim)", what, items.size() - acked.size());
  }
  if (acked.empty()) return done;
  failpoint::kill_if_poisoned(m_info.name, acked);

  m_ctx->reset_counts();
  try {
    retrying(m_abort, timeout_s, what, [&] { m_stage.process(*m_ctx, acked); }, reconnect);
  } catch (const GaveUp&) {
    return done;
  } catch (const std::exception& e) {
    const std::string error = m_info.name + ": " + e.what();
    spdlog::error("{}: failed as a whole: {}", what, e.what());
    fail_all(acked, error);
  }
  done.ok = m_ctx->finished_ok();
  done.failed = m_ctx->finished_failed();
  spdlog::debug("{}: {} acked, {} ok, {} failed in {} ms", what, acked.size(), done.ok, done.failed,
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  return done;
}

std::vector<WorkItem> Executor::acknowledge(const std::vector<WorkItem>& items) {
  std::vector<std::int64_t> ids;
  std::vector<int> attempts;
  for (const auto& i : items) {
    ids.push_back(i.id);
    attempts.push_back(i.attempt);
  }
  pqxx::work tx(*m_db);
  // An ack is a hint; the stage's next write flushes it (docs/internals.md).
  exec_prepared_sql(tx, "al.actor_async",
                    "SELECT set_config('al.actor', $1, true), set_config('synchronous_commit', 'off', true)",
                    m_worker_name);
  auto rows = exec_prepared_sql(tx, "al.ack", "SELECT id, attempt FROM al.ack($1, $2::bigint[], $3::int[], $4)",
                                m_info.name, array_literal(ids), array_literal(attempts), m_worker_name);
  tx.commit();
  std::vector<WorkItem> acked;
  acked.reserve(rows.size());
  for (const auto& row : rows) acked.push_back({row[0].as<std::int64_t>(), row[1].as<int>()});
  return acked;
}

void Executor::fail_all(const std::vector<WorkItem>& acked, const std::string& error) {
  const std::string what = m_info.name + ": failing " + std::to_string(acked.size()) + " items from " +
                           first_id(acked);
  try {
    retrying(
        m_abort, m_config.stage(m_info.name).timeout_s, what,
        [&] {
          m_ctx->reset_counts();
          pqxx::work tx(*m_db);
          tx.exec_params("SELECT set_config('al.actor', $1, true)", m_worker_name);
          auto owned = m_ctx->lock_owned(tx, acked);
          std::vector<Outcome> outcomes;
          outcomes.reserve(owned.size());
          for (const auto& item : owned) outcomes.push_back({item.id, item.attempt, false, error});
          m_ctx->finish(tx, outcomes);
          tx.commit();
        },
        [this](const std::exception& e) { return reconnect_if_broken(e); });
  } catch (const GaveUp&) {
  } catch (const std::exception& e) {
    spdlog::error("{}: {}; the items will time out and be retried", what, e.what());
  }
}

void Executor::call_idle() {
  try {
    m_stage.idle(*m_ctx);
  } catch (const std::exception& e) {
    spdlog::warn("{}: idle: {}", m_info.name, e.what());
    if (is_retryable(e)) {
      try {
        reconnect_if_broken(e);
      } catch (const GaveUp&) {
      }
    }
  }
}

// The worker name without '@', which a connection URL would misread.
std::string Executor::application_name() const {
  std::string name = m_worker_name;
  for (auto& c : name) {
    if (c == '@') c = '/';
  }
  return name;
}

bool Executor::reconnect_if_broken(const std::exception& e) {
  const bool broken = dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || !m_db || !m_db->is_open();
  if (!broken) return false;
  spdlog::warn("{}: database connection lost; reconnecting", m_worker_name);
  m_db.reset();
  m_db = connect_with_retry(m_config.database_url, application_name(), m_abort);
  if (!m_db) throw GaveUp{};
  m_ctx->set_db(*m_db);
  return true;
}

}  // namespace al
