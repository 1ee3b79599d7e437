// alctl: the administrator's command line for Assembly Line. Global options
// (--config, --format) come before the sub-command; exit codes are 0 ok,
// 1 failure, 2 usage, and every failure is one line on stderr.
#include <iostream>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "alctl.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"

namespace alctl {

Format Context::format() const {
  if (format_name == "csv") return Format::csv;
  if (format_name == "json") return Format::json;
  return Format::table;
}

const al::Config& Context::config() {
  if (!m_config) m_config = al::load_config(config_path);
  return *m_config;
}

pqxx::connection& Context::db() {
  if (!m_db) m_db = al::connect(config().database_url, "alctl");
  return *m_db;
}

void on_run(CLI::App* sub, Context& ctx, std::function<int()> run) {
  sub->callback([&ctx, run = std::move(run)] { ctx.action = run; });
}

std::string one_line(const std::exception& e) {
  std::string text = e.what();
  if (text.rfind("ERROR:", 0) == 0) text.erase(0, 6);
  if (text.rfind("FATAL:", 0) == 0) text.erase(0, 6);
  const auto first = text.find_first_not_of(' ');
  text.erase(0, first == std::string::npos ? text.size() : first);
  if (const auto eol = text.find('\n'); eol != std::string::npos) text.erase(eol);
  return text;
}

void with_subject(const std::string& subject, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    const std::string cause = one_line(e);
    // The SQL API already names its object ("job 42: not found"): say it once.
    throw al::Error(cause.rfind(subject + ":", 0) == 0 ? cause : subject + ": " + cause, al::is_retryable(e));
  }
}

}  // namespace alctl

int main(int argc, char** argv) {
  // Library chatter (e.g. "applied migration ...") is for daemons; `up` sets its own level.
  spdlog::set_level(spdlog::level::warn);
  alctl::Context ctx;
  CLI::App app{"Administer Assembly Line: migrate, submit, watch and steer jobs, run the line.", "alctl"};
  app.require_subcommand(1);
  app.add_option("--config", ctx.config_path, "JSON config file (default: built-in defaults and AL_* variables)")
      ->check(CLI::ExistingFile);
  app.add_option("--format", ctx.format_name, "output format: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();

  alctl::add_db_commands(app, ctx);
  alctl::add_template_commands(app, ctx);
  alctl::add_job_commands(app, ctx);
  alctl::add_processes_command(app, ctx);
  alctl::add_watch_command(app, ctx);
  alctl::add_config_commands(app, ctx);
  alctl::add_up_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "alctl: " << alctl::one_line(e) << " (see alctl --help)\n";
    return 2;
  }
  if (!ctx.action) {
    std::cerr << "alctl: no command given (see alctl --help)\n";
    return 2;
  }
  try {
    return ctx.action();
  } catch (const alctl::UsageError& e) {
    std::cerr << "alctl: " << e.what() << " (see alctl --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "alctl: " << alctl::one_line(e) << '\n';
    return 1;
  }
}
