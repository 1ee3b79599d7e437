// The al-console main: argv, config, logging, signals, then ConsoleServer;
// `al-console hash-password NAME ROLE` makes a console.accounts entry.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "accounts.hpp"
#include "assemblyline/config.hpp"
#include "assemblyline/log.hpp"
#include "bus/stop_signals.hpp"
#include "console_server.hpp"
#include "password_hash.hpp"

namespace {

// Reads the password from the first line of stdin, so it stays out of argv
// and the shell history.
int hash_password(const std::string& name, const std::string& role) {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.size() < 8) {
    std::fprintf(stderr, "al-console: hash-password: give a password of at least 8 characters on stdin\n");
    return 1;
  }
  const std::string entry = name + ":" + role + ":" + al::console::hash_password(password);
  try {
    (void)al::console::Accounts::parse(entry);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "al-console: hash-password: %s\n", e.what());
    return 1;
  }
  std::cout << entry << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"al-console: the web console of Assembly Line (serial jobs, processes, status board)"};
  std::string config_path;
  app.add_option("--config", config_path, "JSON config file (every key also from AL_* environment variables)");
  std::string name, role;
  auto* hash = app.add_subcommand("hash-password", "print a console.accounts entry; the password is read from stdin");
  hash->add_option("name", name, "account name")->required();
  hash->add_option("role", role, "viewer or operator")->required()->check(CLI::IsMember({"viewer", "operator"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (*hash) return hash_password(name, role);

  al::Config config;
  try {
    config = al::load_config(config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "al-console: %s\n", e.what());
    return 1;
  }
  al::init_logging(config, "al-console");
  al::install_stop_signals();
  try {
    al::console::ConsoleServer server(config);
    return server.run(al::stop_flag());
  } catch (const std::exception& e) {
    spdlog::critical("console: {}", e.what());
    return 1;
  }
}
