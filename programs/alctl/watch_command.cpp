// alctl watch ID: a live progress bar per stage until the job is complete.
// It reads the job's roll-up counters and its few batches, so a poll costs
// the same for ten records as for a million.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "alctl.hpp"
#include "assemblyline/error.hpp"

namespace alctl {
namespace {

struct WatchArgs {
  std::int64_t job_id = 0;
  int interval_ms = 500;
  int timeout_s = 0;
};

struct StageProgress {
  std::string name;
  long done = 0, total = -1, failed = 0;  // total -1: not known yet
  long blocked = 0;  // failed in an earlier stage: will never come, but the bar counts them finished
};

struct Snapshot {
  int jobstatus = 0;
  std::string status_name, error;
  std::vector<StageProgress> stages;
  long rcps_delivered = 0, rcps_failed = 0, rcps_excluded = 0, rcps_cancelled = 0;
};

Snapshot read_snapshot(pqxx::connection& conn, std::int64_t job_id) {
  pqxx::read_transaction tx(conn);
  const auto job = tx.exec_params(
      "SELECT j.jobstatus, coalesce(c.name, ''), coalesce(j.error, ''), j.n_records, j.n_trns_assembling, "
      "       j.n_trns_at_barrier, j.n_trns_distributing, j.n_rcps_delivered, j.n_rcps_failed, "
      "       j.n_rcps_excluded, j.n_rcps_cancelled "
      "FROM al.jobs j LEFT JOIN al.status_codes c ON c.object = 'JOBS' AND c.code = j.jobstatus "
      "WHERE j.job_id = $1",
      job_id);
  if (job.empty()) throw al::Error("job " + std::to_string(job_id) + ": not found");
  const auto row = job[0];
  Snapshot s;
  s.jobstatus = row[0].as<int>();
  s.status_name = row[1].c_str();
  s.error = row[2].c_str();
  s.rcps_delivered = row[7].as<long>();
  s.rcps_failed = row[8].as<long>();
  s.rcps_excluded = row[9].as<long>();
  s.rcps_cancelled = row[10].as<long>();

  const bool identified = s.jobstatus >= 211 && s.jobstatus != 888;
  const long records = row[3].is_null() ? -1 : row[3].as<long>();
  s.stages.push_back({"identify", identified ? 1 : 0, 1, s.jobstatus == 141 ? 1 : 0});

  std::map<int, long> trns_failed;
  for (const auto& r : tx.exec_params(
           "SELECT trnstatus, count(*) FROM al.trns "
           "WHERE job_id = $1 AND error IS NOT NULL AND trnstatus IN (241, 341) GROUP BY 1", job_id))
    trns_failed[r[0].as<int>()] = r[1].as<long>();
  const long assembling = row[4].as<long>(), at_barrier = row[5].as<long>(), distributing = row[6].as<long>();
  if (identified && records >= 0) {
    s.stages.push_back({"assemble", records - assembling - trns_failed[241], records, trns_failed[241]});
    s.stages.push_back({"distribute",
                        records - assembling - at_barrier - distributing - trns_failed[241] - trns_failed[341], records,
                        trns_failed[341], trns_failed[241]});
  } else {
    s.stages.push_back({"assemble"});
    s.stages.push_back({"distribute"});
  }

  // Batches exist once the job reached 390; each moves through hundreds 4..7.
  std::map<int, long> bchs;
  long n_bchs = 0;
  for (const auto& r : tx.exec_params("SELECT bchstatus, count(*) FROM al.bchs WHERE job_id = $1 GROUP BY 1", job_id)) {
    bchs[r[0].as<int>()] = r[1].as<long>();
    n_bchs += r[1].as<long>();
  }
  const char* names[] = {"present", "archive", "publish", "notify"};
  for (int h = 4; h <= 7; ++h) {
    StageProgress p{names[h - 4]};
    if (n_bchs > 0 || (s.jobstatus >= 411 && s.jobstatus != 888)) {
      p.total = n_bchs;
      for (const auto& [code, count] : bchs) {
        if (code == h * 100 + 41) p.failed += count;
        else if (code % 100 == 41 && code / 100 < h) p.blocked += count;
        else if (code == 999 || code == 888 || code / 100 > h || code == h * 100 + 90) p.done += count;
      }
    }
    s.stages.push_back(p);
  }
  return s;
}

std::string bar(const StageProgress& p, int width) {
  if (p.total < 0) return "[" + std::string(width, ' ') + "]";
  const long finished = p.done + p.failed + p.blocked;
  const int filled =
      p.total == 0 ? width : static_cast<int>(std::clamp<long>(finished * width / p.total, 0, width));
  return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

std::vector<std::string> render_lines(std::int64_t job_id, const Snapshot& s) {
  std::vector<std::string> lines;
  lines.push_back("job " + std::to_string(job_id) + ": " + std::to_string(s.jobstatus) + " " + s.status_name);
  for (const auto& p : s.stages) {
    std::ostringstream line;
    line << "  " << p.name << std::string(11 - p.name.size(), ' ') << bar(p, 30);
    if (p.total >= 0) line << "  " << p.done << '/' << p.total;
    if (p.failed > 0) line << "  " << p.failed << " failed";
    lines.push_back(line.str());
  }
  lines.push_back("  recipients: " + std::to_string(s.rcps_delivered) + " delivered, " +
                  std::to_string(s.rcps_failed) + " failed, " + std::to_string(s.rcps_excluded) + " excluded, " +
                  std::to_string(s.rcps_cancelled) + " cancelled");
  return lines;
}

// One line for logs and pipes: "job 42: 311 ...: assemble 10/10, distribute 3/10, ..."
std::string render_plain(std::int64_t job_id, const Snapshot& s) {
  std::string line = "job " + std::to_string(job_id) + ": " + std::to_string(s.jobstatus) + " " + s.status_name + ":";
  bool first = true;
  for (const auto& p : s.stages) {
    if (p.total < 0) continue;
    line += (first ? " " : ", ") + p.name + " " + std::to_string(p.done) + "/" + std::to_string(p.total);
    if (p.failed > 0) line += " (" + std::to_string(p.failed) + " failed)";
    first = false;
  }
  line += "; recipients " + std::to_string(s.rcps_delivered) + " delivered, " + std::to_string(s.rcps_failed) +
          " failed";
  return line;
}

int watch(Context& ctx, const WatchArgs& args) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && ctx.format() == Format::table;
  const auto started = std::chrono::steady_clock::now();
  auto& conn = ctx.db();
  std::size_t drawn = 0;
  std::string last_plain;
  for (;;) {
    const Snapshot s = read_snapshot(conn, args.job_id);
    if (tty) {
      const auto lines = render_lines(args.job_id, s);
      if (drawn > 0) std::cout << "\x1b[" << drawn << 'A';
      for (const auto& line : lines) std::cout << "\x1b[2K" << line << '\n';
      drawn = lines.size();
      std::cout.flush();
    } else if (const std::string plain = render_plain(args.job_id, s); plain != last_plain) {
      std::cout << plain << std::endl;
      last_plain = plain;
    }
    const std::string subject = "job " + std::to_string(args.job_id);
    if (s.jobstatus == 999) return 0;
    if (s.jobstatus == 141 || s.jobstatus == 888)
      throw al::Error(subject + ": " + std::to_string(s.jobstatus) + " " + s.status_name +
                      (s.error.empty() ? "" : ": " + s.error));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (args.timeout_s > 0 && elapsed >= std::chrono::seconds(args.timeout_s))
      throw al::Error(subject + ": not complete after " + std::to_string(args.timeout_s) + " s (status " +
                      std::to_string(s.jobstatus) + " " + s.status_name + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms));
  }
}

}  // namespace

void add_watch_command(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<WatchArgs>();
  auto* sub = app.add_subcommand("watch", "progress per stage until the job completes (exit 0) or fails (exit 1)");
  sub->add_option("ID", args->job_id, "job id")->required();
  sub->add_option("--interval-ms", args->interval_ms, "poll interval")
      ->capture_default_str()
      ->check(CLI::Range(50, 60000));
  sub->add_option("--timeout-s", args->timeout_s, "give up (exit 1) after this long; 0 = never")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  on_run(sub, ctx, [&ctx, args] { return watch(ctx, *args); });
}

}  // namespace alctl
