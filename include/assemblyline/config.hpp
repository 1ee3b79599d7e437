// Config: every parameter of every process, loaded once at start.
// Declared once in src/config/parameters.cpp (type, default, bounds, one-line
// doc); that table feeds the JSON loader, the AL_* environment overrides and
// `alctl config defaults`. Unknown keys and out-of-range values are errors.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace al {

/// The seven worker stages, in line order; names are those of the binaries.
inline const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {"identifier", "assembler", "distributor", "presenter",
                                                 "archiver",   "publisher", "notifier"};
  return names;
}

struct StageConfig {
  bool enabled = true;
  int workers = 1;        ///< processes `alctl up` starts for this stage
  int batch_size = 500;   ///< ids per bus message (item stages) / recipients per batch (distributor)
  int timeout_s = 60;     ///< x21/x31 older than this go back to x11
  int max_attempts = 5;   ///< acknowledged attempts before x41
};

/// One StageConfig per stage_names() entry, with the declared defaults.
[[nodiscard]] std::map<std::string, StageConfig> default_stage_configs();

struct Config {
  std::string database_url = "postgresql://postgres@127.0.0.1:54329/assemblyline";
  std::string bus_endpoint = "tcp://127.0.0.1:5557";
  int bus_heartbeat_ms = 1000;   ///< heartbeat interval, both ways
  int bus_peer_dead_ms = 3000;   ///< a peer silent this long is presumed dead
  int scheduler_poll_ms = 1000;  ///< polling fallback when no NOTIFY arrives
  std::map<std::string, StageConfig> stages = default_stage_configs();  ///< one entry per stage_names()
  std::string storage_archive_dir = "var/archive";
  std::string storage_outbox_dir = "var/outbox";
  std::string storage_spool_dir = "var/spool";
  bool storage_purge_archive = false;  ///< retention removes archive_dir/<job_id> of deleted jobs
  std::string smtp_url = "smtp://127.0.0.1:2525";
  std::string smtp_from = "Assembly Line <assemblyline@localhost>";
  std::string smtp_reply_to;  ///< Reply-To of e-mails whose template names none; empty = no header
  bool smtp_starttls = false;   ///< smtp:// must upgrade with STARTTLS (never send in clear)
  std::string smtp_username;    ///< AUTH when not empty
  std::string smtp_password;
  std::string smtp_ca_file;     ///< CAs to trust (PEM) instead of the system's
  int smtp_rate_per_minute = 0;  ///< 0 = unlimited
  int smtp_max_connections = 0;  ///< open SMTP connections of all publishers together; 0 = unlimited
  bool print_duplex = false;     ///< each letter starts on the front of a new sheet
  int print_max_pages = 0;       ///< pages per print stream at most (whole letters); 0 = one stream per batch
  int smtp_timeout_s = 30;
  int webhook_timeout_s = 10;
  int webhook_max_attempts = 8;
  std::string webhook_secret;  ///< HMAC-SHA256 key of X-AL-Signature; empty = unsigned
  int jobs_max_records = 1000000;  ///< submit_job refuses more records than this
  std::string jobs_delete_after = "30 days";  ///< default retention (interval text); "" = keep forever
  std::string log_level = "info";
  std::string log_format = "text";  ///< text | json
  std::string metrics_listen = "127.0.0.1:9464";
  std::string console_listen = "127.0.0.1:8470";  ///< al-console's address:port
  std::string console_accounts;   ///< "name:role:hash,…" (al-console hash-password); empty = refuse to start
  std::string console_tls_cert;   ///< PEM; with console_tls_key: HTTPS only
  std::string console_tls_key;
  int console_threads = 8;            ///< HTTP worker threads = database connections
  int console_max_event_streams = 4;  ///< live event streams at once (each holds a thread)
  int console_session_minutes = 480;  ///< idle sessions sign out after this

  /// Notes the loader leaves for the log once it exists (AL_* variables that
  /// match no key); init_logging() writes them as warnings.
  std::vector<std::string> warnings;

  [[nodiscard]] const StageConfig& stage(const std::string& name) const;
};

/// One declared parameter: what `alctl config defaults` prints.
struct ParameterInfo {
  std::string key;    ///< dotted path, e.g. "stages.publisher.workers"
  std::string type;   ///< "string" | "int" | "bool"
  std::string default_value;
  std::string doc;
  long min = 0, max = 0;  ///< bounds for ints (inclusive)
  std::string env;        ///< environment override, e.g. "AL_STAGES_PUBLISHER_WORKERS"
  std::vector<std::string> choices;  ///< allowed values of an enumerated string; empty: any
};

/// Every declared parameter, stage keys expanded for each stage.
[[nodiscard]] const std::vector<ParameterInfo>& parameters();

/// The value of parameter `key` in `config`, rendered as in the JSON file
/// (strings unquoted); throws al::Error for an unknown key.
[[nodiscard]] std::string parameter_value(const Config& config, const std::string& key);

/// Loads `path` (empty: defaults only), then applies AL_* overrides from the
/// environment. Throws al::Error naming the key on unknown keys, wrong types
/// or out-of-range values.
[[nodiscard]] Config load_config(const std::string& path);

/// Same as load_config, with the environment given explicitly (for tests).
/// Variables named AL_TEST_* belong to the test harness and are never config.
[[nodiscard]] Config load_config(const std::string& path, const std::map<std::string, std::string>& env);

}  // namespace al
