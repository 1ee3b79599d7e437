// Shared pieces of the fault-injection suite (ctest label `faults`): a line
// tuned for short timeouts, small serial jobs with e-mail recipients under a
// domain of the test's own, helper processes (a private SMTP sink, webhook
// receiver), and the checks every fault test ends with — job at 999, nothing
// lost, nothing at x21/x31, exactly one message per delivered recipient.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/line_process.hpp"

namespace al::faults {

/// The seven worker programs, in stage order.
const std::vector<std::string>& worker_programs();

/// Short timeouts for every process started after the call: heartbeat
/// 200 ms, peer dead after 1 s, poll 200 ms, every stage's timeout 3 s,
/// TRNS batches of `trns_batch`, recipient batches of `batch_size`.
void tune_for_faults(test::LineProcesses& line, int batch_size = 10, int trns_batch = 10);

/// Starts the scheduler and every worker except those in `except`; returns program → pid.
std::map<std::string, pid_t> start_line(test::LineProcesses& line, const std::vector<std::string>& except = {});

/// True while `pid` (a child of this process) has not exited.
bool running(pid_t pid);

/// A helper process (SMTP sink, webhook receiver) stopped by its destructor.
class Helper {
public:
  Helper(std::vector<std::string> argv, const std::string& log);
  ~Helper();
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;
  void stop();
  [[nodiscard]] pid_t pid() const { return m_pid; }

private:
  pid_t m_pid = -1;
};

/// tests/services/smtp_sink.py on `port`, storing into `maildir`; waits until it accepts.
/// `extra`: more arguments (--tls-cert, --tls-key, --smtps, --auth).
std::unique_ptr<Helper> start_smtp_sink(int port, const std::string& maildir, const std::string& log,
                                        int delay_ms = 0, const std::string& reject_prefix = "",
                                        const std::vector<std::string>& extra = {});

/// tests/services/webhook_receiver.py on `port`, answering `status`; waits until it accepts.
std::unique_ptr<Helper> start_webhook_receiver(int port, const std::string& jsonl, const std::string& log,
                                               int status = 200);

/// Waits until a TCP connection to 127.0.0.1:port succeeds.
bool wait_for_port(int port, int timeout_s);

/// `n` records {name, n, recipients: [email p<i>@domain]}.
nlohmann::json email_records(int n, const std::string& domain);

/// A template `letter` with the body `<p>Dear {{name}}</p>` and subject `subject`.
void put_letter_template(const std::string& url, const std::string& subject = "Letter for {{name}}",
                         const std::string& required = "{name}");

/// al.submit_job('letter', records, …); the job id.
std::string submit(const std::string& url, const nlohmann::json& records, const std::string& callback_url = "",
                   const std::string& template_name = "letter");

/// Polls `predicate` every 50 ms until it is true or `timeout_s` passes.
bool wait_until(const std::function<bool()>& predicate, double timeout_s);

/// Messages in MAILDIR/new per recipient address containing "@domain".
std::map<std::string, int> mail_counts(const std::string& maildir, const std::string& domain);
/// The raw messages to recipients under `domain`.
std::vector<std::string> mails(const std::string& maildir, const std::string& domain);

/// Items left at a scheduled/processing code (x21/x31) in any table of the job.
std::string in_flight(const std::string& url, const std::string& job_id);

/// A unique suffix for databases, domains and directories of one test run.
std::string unique(const std::string& base);

/// The text of a file ("" if it does not exist).
std::string read_text(const std::string& path);

/// Seconds since `since`.
double seconds_since(std::chrono::steady_clock::time_point since);

}  // namespace al::faults
