// The scheduler's Prometheus metrics (see scheduler_metrics.hpp). Counters and
// the latency histogram move with bus events; the gauges come from one
// database round trip every few seconds whose queries stay on the indexes of
// ready and in-flight items (a count over the whole tables would not be cheap
// at a million records).
#include "scheduler/scheduler_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/config.hpp"
#include "assemblyline/stage.hpp"

namespace al {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto refresh_every = std::chrono::seconds(5);
constexpr std::size_t max_timed_messages = 100000;  // WORK messages awaiting DONE, kept for the histogram
constexpr auto forget_timing_after = std::chrono::hours(1);

// The states a stage's items are counted in: the last two digits of the code.
const std::vector<std::pair<int, std::string>>& states() {
  static const std::vector<std::pair<int, std::string>> s = {
      {11, "ready"}, {21, "scheduled"}, {31, "processing"}, {41, "failed"}};
  return s;
}

// One statement, one round trip: per stage, its items by state and the age
// of the ready item the next claim takes (al.stage_gauges, sql/031).
std::string refresh_sql() {
  std::string sql;
  for (const auto& stage : stage_names()) {
    if (!sql.empty()) sql += " UNION ALL ";
    sql += "SELECT '" + stage + "', g.state, g.value FROM al.stage_gauges('" + stage + "') g";
  }
  return sql;
}

}  // namespace

struct SchedulerMetrics::Impl {
  explicit Impl(std::string l)
      : listen(std::move(l)),
        registry(std::make_shared<prometheus::Registry>()),
        items(prometheus::BuildGauge()
                  .Name("al_stage_items")
                  .Help("Items of a stage by state (ready x11, scheduled x21, processing x31, failed x41)")
                  .Register(*registry)),
        dispatched(prometheus::BuildCounter()
                       .Name("al_stage_dispatched_total")
                       .Help("Ids the scheduler claimed and sent to a worker of the stage")
                       .Register(*registry)),
        completed(prometheus::BuildCounter()
                      .Name("al_stage_completed_total")
                      .Help("Items a worker of the stage reported processed (x90)")
                      .Register(*registry)),
        failed(prometheus::BuildCounter()
                   .Name("al_stage_failed_total")
                   .Help("Items a worker of the stage reported failed (x41)")
                   .Register(*registry)),
        latency(prometheus::BuildHistogram()
                    .Name("al_stage_latency_seconds")
                    .Help("Claim to DONE of one WORK message of the stage, in seconds")
                    .Register(*registry)),
        workers(prometheus::BuildGauge()
                    .Name("al_workers_connected")
                    .Help("Workers of the stage connected to this scheduler")
                    .Register(*registry)),
        oldest(prometheus::BuildGauge()
                   .Name("al_stage_oldest_ready_seconds")
                   .Help("How long the ready item the stage's next claim takes has been ready")
                   .Register(*registry)),
        round_trip(prometheus::BuildGauge()
                       .Name("al_database_round_trip_seconds")
                       .Help("Round trip of a trivial query on the scheduler's database connection")
                       .Register(*registry)
                       .Add({})),
        leading(prometheus::BuildGauge()
                    .Name("al_scheduler_leading")
                    .Help("1 while this scheduler holds the leader lock (the endpoint is bound only then)")
                    .Register(*registry)
                    .Add({})) {
    const prometheus::Histogram::BucketBoundaries buckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                                             5,    10,   30,  60,   120, 300};
    for (const auto& stage : stage_names()) {
      for (const auto& [code, state] : states()) items.Add({{"stage", stage}, {"state", state}});
      dispatched.Add({{"stage", stage}});
      completed.Add({{"stage", stage}});
      failed.Add({{"stage", stage}});
      latency.Add({{"stage", stage}}, buckets);
      workers.Add({{"stage", stage}});
      oldest.Add({{"stage", stage}});
    }
  }

  std::string listen;
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Gauge>& items;
  prometheus::Family<prometheus::Counter>& dispatched;
  prometheus::Family<prometheus::Counter>& completed;
  prometheus::Family<prometheus::Counter>& failed;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Family<prometheus::Gauge>& workers;
  prometheus::Family<prometheus::Gauge>& oldest;
  prometheus::Gauge& round_trip;
  prometheus::Gauge& leading;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::map<std::pair<std::string, std::uint64_t>, std::pair<std::string, Clock::time_point>> sent;
  Clock::time_point next_refresh{};
  std::string sql = refresh_sql();
};

SchedulerMetrics::SchedulerMetrics(std::string listen) : m_impl(std::make_unique<Impl>(std::move(listen))) {}

SchedulerMetrics::~SchedulerMetrics() = default;

void SchedulerMetrics::start() {
  if (m_impl->listen.empty() || m_impl->exposer) return;
  try {
    m_impl->exposer = std::make_unique<prometheus::Exposer>(m_impl->listen, 1);
    m_impl->exposer->RegisterCollectable(m_impl->registry);
    m_impl->leading.Set(1);
    spdlog::info("scheduler: metrics at http://{}/metrics", m_impl->listen);
  } catch (const std::exception& e) {
    m_impl->exposer.reset();
    spdlog::error("scheduler: metrics: cannot listen on {} ({}); metrics are off until the next leadership: "
                  "free the port or set metrics.listen",
                  m_impl->listen, e.what());
  }
  m_impl->next_refresh = Clock::now();
}

void SchedulerMetrics::stop() {
  m_impl->leading.Set(0);
  m_impl->exposer.reset();
  m_impl->sent.clear();
}

bool SchedulerMetrics::serving() const { return m_impl->exposer != nullptr; }

void SchedulerMetrics::dispatched(const std::string& stage, const std::string& worker, std::uint64_t seq, int n) {
  m_impl->dispatched.Add({{"stage", stage}}).Increment(n);
  const auto now = Clock::now();
  auto& sent = m_impl->sent;
  if (sent.size() >= max_timed_messages) {
    for (auto it = sent.begin(); it != sent.end();) {
      it = now - it->second.second > forget_timing_after ? sent.erase(it) : std::next(it);
    }
    if (sent.size() >= max_timed_messages) return;  // not timed; the counters still move
  }
  sent[{worker, seq}] = {stage, now};
}

void SchedulerMetrics::done(const std::string& stage, const std::string& worker, std::uint64_t seq, int ok,
                            int failed) {
  if (ok > 0) m_impl->completed.Add({{"stage", stage}}).Increment(ok);
  if (failed > 0) m_impl->failed.Add({{"stage", stage}}).Increment(failed);
  const auto it = m_impl->sent.find({worker, seq});
  if (it == m_impl->sent.end()) return;
  const double seconds = std::chrono::duration<double>(Clock::now() - it->second.second).count();
  m_impl->latency.Add({{"stage", it->second.first}}, prometheus::Histogram::BucketBoundaries{}).Observe(seconds);
  m_impl->sent.erase(it);
}

void SchedulerMetrics::forget_worker(const std::string& worker) {
  auto& sent = m_impl->sent;
  sent.erase(sent.lower_bound({worker, 0}), sent.upper_bound({worker, UINT64_MAX}));
}

bool SchedulerMetrics::refresh_due(Clock::time_point now) const {
  return m_impl->exposer != nullptr && now >= m_impl->next_refresh;
}

void SchedulerMetrics::refresh(pqxx::connection& db, const std::map<std::string, int>& workers_per_stage) {
  m_impl->next_refresh = Clock::now() + refresh_every;
  for (const auto& stage : stage_names()) {
    const auto it = workers_per_stage.find(stage);
    m_impl->workers.Add({{"stage", stage}}).Set(it == workers_per_stage.end() ? 0 : it->second);
  }
  pqxx::nontransaction nt(db);
  const auto started = Clock::now();
  nt.exec("SELECT 1");
  m_impl->round_trip.Set(std::chrono::duration<double>(Clock::now() - started).count());

  std::map<std::pair<std::string, int>, double> counts;
  for (const auto& row : nt.exec(m_impl->sql)) {
    const std::string stage = row[0].as<std::string>();
    const int state = row[1].as<int>();
    const double value = row[2].as<double>();
    if (state == 0) {
      m_impl->oldest.Add({{"stage", stage}}).Set(value);
    } else {
      counts[{stage, state}] = value;
    }
  }
  for (const auto& stage : stage_names()) {
    for (const auto& [code, state] : states()) {
      const auto it = counts.find({stage, code});
      m_impl->items.Add({{"stage", stage}, {"state", state}}).Set(it == counts.end() ? 0 : it->second);
    }
  }
}

}  // namespace al
