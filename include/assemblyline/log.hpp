// Logging: one spdlog logger per process, named after it, writing one line per
// event as text or JSON (log.format). Lines carry the process and stage; the
// callers put object ids in the message ("job 42: publish: ...").
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace al {

struct Config;

/// Creates the process logger (stderr) and makes it spdlog's default.
/// `process` is the binary name, `stage` the stage or "" for none.
void init_logging(const Config& config, const std::string& process, const std::string& stage = "");

}  // namespace al
