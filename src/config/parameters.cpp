// The one declaration of every configuration parameter: key, type, bounds and
// a one-line doc, next to the member it sets. Defaults are the member
// initialisers in config.hpp, so they are written down exactly once too.
#include <cctype>

#include "config/parameter_table.hpp"

namespace al {

std::map<std::string, StageConfig> default_stage_configs() {
  std::map<std::string, StageConfig> stages;
  for (const auto& name : stage_names()) stages.emplace(name, StageConfig{});
  // Two processes for the stages that do the work: one can wait on its
  // commit or its files while the other keeps the second core busy
  // (bench/throughput, 10 000 records: 26 s with one each, 18 s with two).
  for (const char* busy : {"assembler", "distributor", "presenter", "archiver", "publisher"})
    stages[busy].workers = 2;
  return stages;
}

namespace config_detail {
namespace {

// A row as written below; table() expands the stage rows once per stage.
struct Declaration {
  std::string key;  // for stage rows: the last segment ("workers")
  Field field;
  long min = 0, max = 0;
  std::vector<std::string> choices;
  std::string doc;
};

Type type_of(const Field& field) {
  struct Visitor {
    Type operator()(std::string Config::*) const { return Type::string; }
    Type operator()(int Config::*) const { return Type::integer; }
    Type operator()(bool Config::*) const { return Type::boolean; }
    Type operator()(int StageConfig::*) const { return Type::integer; }
    Type operator()(bool StageConfig::*) const { return Type::boolean; }
  };
  return std::visit(Visitor{}, field);
}

// clang-format off
const std::vector<Declaration>& process_declarations() {
  static const std::vector<Declaration> rows = {
    {"database.url", &Config::database_url, 0, 0, {},
     "PostgreSQL connection URL (libpq URI or key=value string)"},
    {"bus.endpoint", &Config::bus_endpoint, 0, 0, {},
     "ZeroMQ endpoint the scheduler binds and workers connect to; non-loopback TCP requires CURVE keys"},
    {"bus.heartbeat_ms", &Config::bus_heartbeat_ms, 50, 60000, {},
     "heartbeat interval between scheduler and workers, both ways"},
    {"bus.peer_dead_ms", &Config::bus_peer_dead_ms, 100, 600000, {},
     "a peer silent this long is presumed dead and its items are requeued"},
    {"scheduler.poll_ms", &Config::scheduler_poll_ms, 10, 600000, {},
     "scheduler polling interval when no NOTIFY arrives"},
    {"storage.archive_dir", &Config::storage_archive_dir, 0, 0, {},
     "directory the archiver stores publications in"},
    {"storage.outbox_dir", &Config::storage_outbox_dir, 0, 0, {},
     "directory the publisher delivers file-channel publications to"},
    {"storage.spool_dir", &Config::storage_spool_dir, 0, 0, {},
     "directory the publisher delivers print streams to"},
    {"storage.purge_archive", &Config::storage_purge_archive, 0, 0, {},
     "true: retention also removes archive_dir/<job_id> of deleted jobs; false: archive files are kept"},
    {"print.duplex", &Config::print_duplex, 0, 0, {},
     "two-sided print streams: a letter with an odd page count gets a blank back, so each starts on a new sheet"},
    {"print.max_pages", &Config::print_max_pages, 0, 1000000, {},
     "split a print batch into streams of at most this many pages (never inside a letter); 0 = one stream"},
    {"smtp.url", &Config::smtp_url, 0, 0, {},
     "SMTP server for the e-mail channel (smtp:// or smtps://)"},
    {"smtp.from", &Config::smtp_from, 0, 0, {},
     "From header and envelope sender of e-mail publications"},
    {"smtp.reply_to", &Config::smtp_reply_to, 0, 0, {},
     "Reply-To of e-mails whose template names none; empty = no Reply-To"},
    {"smtp.starttls", &Config::smtp_starttls, 0, 0, {},
     "with smtp://: require STARTTLS and fail rather than send in clear (smtps:// is TLS from the start)"},
    {"smtp.username", &Config::smtp_username, 0, 0, {},
     "AUTH user for the SMTP server; empty = no AUTH"},
    {"smtp.password", &Config::smtp_password, 0, 0, {},
     "AUTH password (prefer AL_SMTP_PASSWORD in the environment to the file)"},
    {"smtp.ca_file", &Config::smtp_ca_file, 0, 0, {},
     "PEM file of the CAs that sign the SMTP server's certificate; empty = the system's"},
    {"smtp.rate_per_minute", &Config::smtp_rate_per_minute, 0, 1000000, {},
     "e-mails per minute to smtp.url at most, shared by all publishers (al.smtp_budget); 0 = unlimited"},
    {"smtp.max_connections", &Config::smtp_max_connections, 0, 10000, {},
     "connections to smtp.url open at once, all publishers together (al.take_smtp_connection); 0 = unlimited"},
    {"smtp.timeout_s", &Config::smtp_timeout_s, 1, 3600, {},
     "timeout of one SMTP conversation"},
    {"webhook.timeout_s", &Config::webhook_timeout_s, 1, 3600, {},
     "timeout of one callback_url delivery"},
    {"webhook.max_attempts", &Config::webhook_max_attempts, 1, 100, {},
     "deliveries of one job event before the notifier gives up"},
    {"webhook.secret", &Config::webhook_secret, 0, 0, {},
     "key of the X-AL-Signature header (sha256=HMAC-SHA256 of the body, hex); empty = unsigned"},
    {"jobs.max_records", &Config::jobs_max_records, 1, 100000000, {},
     "records one submit_job call accepts at most"},
    {"jobs.delete_after", &Config::jobs_delete_after, 0, 0, {},
     "retention of a job submitted without one (PostgreSQL interval, e.g. '30 days'); empty = keep forever"},
    {"log.level", &Config::log_level, 0, 0, {"trace", "debug", "info", "warn", "error"},
     "least severe level logged"},
    {"log.format", &Config::log_format, 0, 0, {"text", "json"},
     "text: one human-readable line per event; json: one JSON object per line"},
    {"metrics.listen", &Config::metrics_listen, 0, 0, {},
     "host:port of the Prometheus text endpoint; empty = off"},
    {"console.listen", &Config::console_listen, 0, 0, {},
     "host:port al-console listens on; anything but loopback requires console.tls_cert and console.tls_key"},
    {"console.accounts", &Config::console_accounts, 0, 0, {},
     "console accounts, comma-separated name:role:hash (role viewer or operator; `al-console hash-password`)"},
    {"console.tls_cert", &Config::console_tls_cert, 0, 0, {},
     "PEM certificate (chain) of the console; with console.tls_key the console speaks HTTPS only"},
    {"console.tls_key", &Config::console_tls_key, 0, 0, {},
     "PEM private key of console.tls_cert"},
    {"console.threads", &Config::console_threads, 2, 256, {},
     "HTTP worker threads of al-console, each with its own database connection"},
    {"console.max_event_streams", &Config::console_max_event_streams, 0, 255, {},
     "live event streams open at once (each holds a thread); more get 503 and the page polls; below console.threads"},
    {"console.session_minutes", &Config::console_session_minutes, 1, 43200, {},
     "a console session idle this long is signed out"},
  };
  return rows;
}

const std::vector<Declaration>& stage_declarations() {
  static const std::vector<Declaration> rows = {
    {"enabled", &StageConfig::enabled, 0, 0, {},
     "false: the scheduler passes the stage's items straight through"},
    {"workers", &StageConfig::workers, 0, 64, {},
     "processes `alctl up` starts for the stage (2 for assembler … publisher, 1 for identifier and notifier)"},
    {"batch_size", &StageConfig::batch_size, 1, 100000, {},
     "ids per bus message; for the distributor, recipients per batch"},
    {"timeout_s", &StageConfig::timeout_s, 1, 86400, {},
     "items scheduled or processing longer than this go back to ready"},
    {"max_attempts", &StageConfig::max_attempts, 1, 100, {},
     "acknowledged attempts before an item goes to error (x41)"},
  };
  return rows;
}
// clang-format on

Parameter expand(const Declaration& d, std::string key, std::string stage) {
  Parameter p;
  p.env = env_name(key);
  p.key = std::move(key);
  p.type = type_of(d.field);
  p.min = d.min;
  p.max = d.max;
  p.choices = d.choices;
  p.doc = d.doc;
  p.field = d.field;
  p.stage = std::move(stage);
  return p;
}

}  // namespace

std::string env_name(const std::string& key) {
  std::string env = "AL_";
  for (const char c : key)
    env += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

const char* type_name(Type type) {
  switch (type) {
    case Type::string: return "string";
    case Type::integer: return "int";
    case Type::boolean: return "bool";
  }
  return "?";
}

const std::vector<Parameter>& table() {
  static const std::vector<Parameter> params = [] {
    std::vector<Parameter> out;
    const auto& process = process_declarations();
    // Stage keys go after scheduler.*, where a reader of the defaults expects them.
    for (const auto& d : process) {
      out.push_back(expand(d, d.key, ""));
      if (d.key == "scheduler.poll_ms")
        for (const auto& stage : stage_names())
          for (const auto& s : stage_declarations()) out.push_back(expand(s, "stages." + stage + "." + s.key, stage));
    }
    return out;
  }();
  return params;
}

}  // namespace config_detail
}  // namespace al
