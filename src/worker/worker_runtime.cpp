// The shared main of the worker binaries: argv, config, logging, signals, and
// the bus thread — DEALER to the scheduler (HELLO, heartbeats, WORK queue,
// DONE, BYE) — in front of the executor thread that owns the database.
#include "assemblyline/worker_runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "assemblyline/bus_protocol.hpp"
#include "assemblyline/error.hpp"
#include "assemblyline/log.hpp"
#include "assemblyline/service_notifier.hpp"
#include "bus/bus_socket.hpp"
#include "bus/stop_signals.hpp"
#include "worker/executor.hpp"

namespace al {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The soft descriptor limit up to the hard one, as systemd advises programs
// that need many: a stage writing a batch keeps its files open until commit
// (atomic_file_set.hpp), and sizes that to the limit.
void raise_descriptor_limit() {
  rlimit nofile{};
  constexpr rlim_t enough = 65536;
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur >= std::min(nofile.rlim_max, enough)) return;
  nofile.rlim_cur = std::min(nofile.rlim_max, enough);
  setrlimit(RLIMIT_NOFILE, &nofile);
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// "assembler-1" → "assembler-1@host:pid": unique across hosts and restarts,
// so the scheduler can hand back exactly this process's items. A name that
// already has an '@' is taken as given.
std::string unique_name(const std::string& given, const std::string& stage) {
  const std::string base = given.empty() ? stage : given;
  if (base.find('@') != std::string::npos) return base;
  return base + "@" + host_name() + ":" + std::to_string(::getpid());
}

int count_ids(const bus::Work& w) { return static_cast<int>(w.ids.size()); }

// The bus thread: forwards one WORK message at a time to the executor and
// keeps the scheduler informed. Every wait is bounded by the next heartbeat.
class BusLoop {
public:
  BusLoop(const Config& config, const std::string& stage, std::string name, WorkerCredits credits,
          bus::CurveKeys keys, zmq::context_t& zmq_context, zmq::socket_t& pair, std::atomic<bool>& abort)
      : m_config(config), m_stage(stage), m_name(std::move(name)), m_credits(credits), m_keys(std::move(keys)),
        m_zmq(zmq_context), m_pair(pair), m_abort(abort) {}

  /// Runs until a clean stop; returns the exit code.
  int run() {
    const milliseconds heartbeat(m_config.bus_heartbeat_ms);
    const milliseconds peer_dead(m_config.bus_peer_dead_ms);
    for (;;) {
      std::vector<zmq::pollitem_t> items = {{static_cast<void*>(m_pair), 0, ZMQ_POLLIN, 0}};
      if (m_dealer) items.push_back({static_cast<void*>(*m_dealer), 0, ZMQ_POLLIN, 0});
      auto wait = std::min(heartbeat, milliseconds(250));
      try {
        zmq::poll(items, wait);
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      while (auto frames = bus::receive_frames(m_pair)) on_executor(bus::decode(*frames));
      while (m_dealer) {
        auto frames = bus::receive_frames(*m_dealer);
        if (!frames) break;
        m_last_heard = Clock::now();
        try {
          on_scheduler(bus::decode(*frames));
        } catch (const Error& e) {
          spdlog::warn("{}: from scheduler: {}", m_name, e.what());
        }
      }

      const auto now = Clock::now();
      if (stop_flag().load() && !m_stopping) begin_stop(now);
      report_to_service_manager();
      if (!m_stopping && !m_in_hand && !m_queue.empty()) {
        m_in_hand = std::move(m_queue.front());
        m_queue.pop_front();
        bus::send(m_pair, *m_in_hand);
      }
      if (m_dealer && now - m_last_heartbeat >= heartbeat) {
        bus::send(*m_dealer, bus::Heartbeat{free_credits(), m_last_seq});
        m_last_heartbeat = now;
      }
      if (m_dealer && now - m_last_heard > peer_dead && !m_stopping) on_silence(now);
      if (m_stopping) {
        if (!m_in_hand) return finish_stop();
        if (now > m_grace_deadline) {
          spdlog::error("{}: message in hand (seq {}) not finished within {} s of the stop; exiting, its items "
                        "will time out and be retried",
                        m_name, m_in_hand->seq, m_config.stage(m_stage).timeout_s);
          if (m_dealer) bus::send(*m_dealer, bus::Bye{"stopping"});
          m_abort = true;
          spdlog::default_logger()->flush();
          std::this_thread::sleep_for(milliseconds(100));  // let BYE leave
          std::_Exit(m_exit_code);
        }
      }
    }
  }

private:
  // systemd (Type=notify): READY=1 once the database is connected, then what
  // the worker is doing; WATCHDOG=1 from this loop.
  void report_to_service_manager() {
    m_service.watchdog();
    if (m_stopping) return;
    if (!m_dealer) return m_service.status("waiting for the database");
    if (m_lost) return m_service.running("scheduler at " + m_config.bus_endpoint + " silent; saying HELLO again");
    const int n = outstanding();
    if (n > 0) return m_service.running("working: " + std::to_string(n) + " ids");
    m_service.running("idle, connected to scheduler at " + m_config.bus_endpoint);
  }

  int outstanding() const {
    int n = m_in_hand ? count_ids(*m_in_hand) : 0;
    for (const auto& w : m_queue) n += count_ids(w);
    return n;
  }
  // A stopping worker takes nothing more: it reports no free credits.
  int free_credits() const { return m_stopping ? 0 : std::max(0, m_credits.credits - outstanding()); }

  bus::Hello hello() const {
    return bus::Hello{m_stage, m_credits.credits, free_credits(), m_credits.batch, ::getpid(), host_name(),
                      bus::protocol_version};
  }

  void connect(Clock::time_point now) {
    m_dealer.emplace(bus::connect_dealer(m_zmq, m_config.bus_endpoint, m_name, m_keys));
    bus::send(*m_dealer, hello());
    m_last_heard = now;
    m_last_heartbeat = now;
  }

  // The scheduler has been silent for bus.peer_dead_ms. Usually it is busy
  // in a long database step, or a standby has just taken the endpoint over:
  // both answer a HELLO on the same connection (ZeroMQ reconnects it by
  // itself). Only a silence ten times as long replaces the socket, for a
  // connection that died without a reset; replacing it every time would
  // hand the old connection's routing id over and let its queued messages
  // reach the scheduler under a generated name.
  void on_silence(Clock::time_point now) {
    if (!m_lost) {
      spdlog::warn("{}: scheduler at {} silent for {} ms; saying HELLO again", m_name, m_config.bus_endpoint,
                   m_config.bus_peer_dead_ms);
      m_lost = true;
      m_silent_since = m_last_heard;
    }
    if (now - m_silent_since > 10 * milliseconds(m_config.bus_peer_dead_ms)) {
      spdlog::warn("{}: scheduler at {} silent for {} s; opening a new connection", m_name, m_config.bus_endpoint,
                   std::chrono::duration_cast<std::chrono::seconds>(now - m_silent_since).count());
      m_dealer.reset();
      connect(now);
      m_silent_since = now;
      return;
    }
    bus::send(*m_dealer, hello());
    m_last_heard = now;  // the next HELLO after another bus.peer_dead_ms
  }

  void on_executor(const bus::Message& message) {
    if (std::holds_alternative<bus::Ready>(message)) {
      spdlog::info("{}: database ready; connecting to scheduler at {} with {} credits ({} per message)", m_name,
                   m_config.bus_endpoint, m_credits.credits, m_credits.batch);
      connect(Clock::now());
    } else if (auto* done = std::get_if<bus::Done>(&message)) {
      m_in_hand.reset();
      if (m_dealer) bus::send(*m_dealer, *done);
    }
  }

  void on_scheduler(const bus::Message& message) {
    if (auto* work = std::get_if<bus::Work>(&message)) {
      m_last_seq = std::max(m_last_seq, work->seq);
      if (m_stopping) {
        spdlog::info("{}: stopping; {} ids from {} left for the scheduler to hand back", m_name,
                     work->ids.size(), work->ids.empty() ? 0 : work->ids.front());
        return;
      }
      spdlog::debug("{}: WORK seq {}: {} ids from {}", m_name, work->seq, work->ids.size(),
                    work->ids.empty() ? 0 : work->ids.front());
      if (!work->ids.empty()) m_queue.push_back(*work);
    } else if (std::holds_alternative<bus::Who>(message)) {
      spdlog::info("{}: scheduler asks who we are; saying HELLO with {} free credits", m_name, free_credits());
      bus::send(*m_dealer, hello());
    } else if (auto* ready = std::get_if<bus::Ready>(&message)) {
      spdlog::info("{}: registered with scheduler at {} (protocol {})", m_name, m_config.bus_endpoint,
                   ready->protocol);
      m_lost = false;
    } else if (auto* bye = std::get_if<bus::Bye>(&message)) {
      spdlog::error("{}: scheduler refused this worker: {}", m_name, bye->reason);
      m_exit_code = 1;
      begin_stop(Clock::now());
    }
  }

  void begin_stop(Clock::time_point now) {
    m_stopping = true;
    int queued = 0;
    for (const auto& w : m_queue) queued += count_ids(w);
    spdlog::info("{}: stopping: finishing {} ids in hand, handing {} queued ids back", m_name,
                 m_in_hand ? count_ids(*m_in_hand) : 0, queued);
    m_queue.clear();
    m_grace_deadline = now + std::chrono::seconds(m_config.stage(m_stage).timeout_s);
    m_service.stopping("stopping: finishing " + std::to_string(outstanding()) + " ids in hand");
  }

  int finish_stop() {
    if (m_dealer) bus::send(*m_dealer, bus::Bye{"stopping"});
    bus::send(m_pair, bus::Bye{"stopping"});
    spdlog::info("{}: stopped", m_name);
    return m_exit_code;
  }

  const Config& m_config;
  std::string m_stage;
  std::string m_name;
  WorkerCredits m_credits;
  bus::CurveKeys m_keys;
  zmq::context_t& m_zmq;
  zmq::socket_t& m_pair;
  std::atomic<bool>& m_abort;
  ServiceNotifier m_service;

  std::optional<zmq::socket_t> m_dealer;
  std::deque<bus::Work> m_queue;
  std::optional<bus::Work> m_in_hand;
  std::uint64_t m_last_seq = 0;
  Clock::time_point m_last_heard{};
  Clock::time_point m_silent_since{};  // while m_lost
  Clock::time_point m_last_heartbeat{};
  Clock::time_point m_grace_deadline{};
  bool m_lost = false;
  bool m_stopping = false;
  int m_exit_code = 0;
};

}  // namespace

WorkerCredits worker_credits(const std::string& stage_name, const Config& config) {
  const auto& info = stage_info(stage_name);
  if (info.table == "al.trns") {
    const int batch = config.stage(stage_name).batch_size;
    return {2 * batch, batch};
  }
  return {4, 1};  // jobs (identifier) and batches (presenter … notifier): heavy items, one per message
}

int run_worker(int argc, char** argv, const std::string& stage_name, std::unique_ptr<Stage> stage) {
  const std::string process = "al-" + stage_name;
  CLI::App app{process + ": the " + stage_name + " worker of Assembly Line"};
  std::string config_path;
  std::string name;
  app.add_option("--config", config_path, "JSON config file (every key also from AL_* environment variables)");
  app.add_option("--name", name, "worker name (default: the stage); @host:pid is appended");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  Config config;
  bus::CurveKeys keys;
  const StageInfo* info = nullptr;
  try {
    config = load_config(config_path);
    info = &stage_info(stage_name);
    keys = bus::curve_keys_for(config.bus_endpoint, false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", process.c_str(), e.what());
    return 1;
  }
  init_logging(config, process, stage_name);
  install_stop_signals();
  raise_descriptor_limit();
  const std::string worker_name = unique_name(name, stage_name);

  try {
    zmq::context_t zmq_context(1);
    zmq::socket_t pair(zmq_context, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    pair.bind(executor_endpoint);

    std::atomic<bool> abort{false};
    Executor executor(config, *info, *stage, worker_name, zmq_context, abort);
    std::thread executor_thread([&executor] {
      block_stop_signals_in_this_thread();
      try {
        executor.run();
      } catch (const std::exception& e) {
        // A broken invariant: die on purpose, the work stays queued and is retried.
        spdlog::critical("executor: {}", e.what());
        spdlog::default_logger()->flush();
        std::_Exit(2);
      }
    });

    BusLoop loop(config, stage_name, worker_name, worker_credits(stage_name, config), keys, zmq_context, pair,
                 abort);
    int code = loop.run();
    abort = true;  // the executor may still be connecting
    executor_thread.join();
    return code;
  } catch (const std::exception& e) {
    spdlog::critical("{}: {}", worker_name, e.what());
    spdlog::default_logger()->flush();
    std::_Exit(2);
  }
}

}  // namespace al
