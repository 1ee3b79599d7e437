// alctl internals: the state every sub-command shares (global options, the
// lazily loaded config and database connection) and the registration
// function of each sub-command group. main.cpp wires them into one CLI11 app.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "assemblyline/config.hpp"
#include "output_table.hpp"

// libpqxx 6.4's connection is an alias of a template, so forward-declare it as one.
namespace pqxx {
class connect_direct;
template <typename Policy> class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
}  // namespace pqxx

namespace alctl {

/// A mistake in the command line found after parsing: exit code 2, like CLI11's own.
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Global options and what the chosen sub-command will run.
class Context {
public:
  std::string config_path;        ///< --config; "" = defaults and AL_* only
  std::string format_name = "table";
  std::function<int()> action;    ///< set by the chosen sub-command's callback

  [[nodiscard]] Format format() const;
  /// The config, loaded on first use (so `config check` works without it).
  [[nodiscard]] const al::Config& config();
  /// A connection to database.url, opened on first use.
  [[nodiscard]] pqxx::connection& db();

private:
  std::optional<al::Config> m_config;
  std::unique_ptr<pqxx::connection> m_db;
};

/// Makes `sub` set ctx.action to `run` when it is the chosen sub-command.
void on_run(CLI::App* sub, Context& ctx, std::function<int()> run);

/// Runs `fn`; turns any failure into al::Error("<subject>: <one-line cause>").
void with_subject(const std::string& subject, const std::function<void()>& fn);

/// The first line of an exception's text, without libpq's "ERROR:  " prefix.
[[nodiscard]] std::string one_line(const std::exception& e);


void add_db_commands(CLI::App& app, Context& ctx);        // db migrate, status, workers
void add_template_commands(CLI::App& app, Context& ctx);  // template add|list|show
void add_job_commands(CLI::App& app, Context& ctx);       // submit, jobs, job show, retry, skip, ...
void add_processes_command(CLI::App& app, Context& ctx); // processes (per-recipient list and CSV export)
void add_watch_command(CLI::App& app, Context& ctx);      // watch
void add_config_commands(CLI::App& app, Context& ctx);    // config defaults|check|show
void add_up_command(CLI::App& app, Context& ctx);         // up

}  // namespace alctl
