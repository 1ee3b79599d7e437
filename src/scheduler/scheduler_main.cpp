// The al-scheduler main: argv, config, logging, signals, then Scheduler::run.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "assemblyline/config.hpp"
#include "assemblyline/log.hpp"
#include "assemblyline/scheduler.hpp"
#include "bus/stop_signals.hpp"

namespace al {

int run_scheduler(int argc, char** argv) {
  CLI::App app{"al-scheduler: receives, dispatches and times out the work of Assembly Line"};
  std::string config_path;
  app.add_option("--config", config_path, "JSON config file (every key also from AL_* environment variables)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  Config config;
  try {
    config = load_config(config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "al-scheduler: %s\n", e.what());
    return 1;
  }
  init_logging(config, "al-scheduler");
  install_stop_signals();
  try {
    Scheduler scheduler(config);
    const int code = scheduler.run(stop_flag());
    spdlog::info("scheduler: stopped");
    return code;
  } catch (const std::exception& e) {
    // A broken invariant: die on purpose; the work stays queued in the database.
    spdlog::critical("scheduler: {}", e.what());
    return 2;
  }
}

}  // namespace al
