#include "worker/failpoint.hpp"

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace al::failpoint {

namespace {

struct Poison {
  std::string stage;
  std::set<std::int64_t> ids;
};

Poison read_poison() {
  Poison p;
  const char* value = std::getenv("AL_FAILPOINT_KILL_ON_ITEM");
  if (value == nullptr) return p;
  const std::string text = value;
  const auto colon = text.find(':');
  if (colon == std::string::npos) return p;
  p.stage = text.substr(0, colon);
  std::stringstream ids(text.substr(colon + 1));
  for (std::string id; std::getline(ids, id, ',');) {
    try {
      p.ids.insert(std::stoll(id));
    } catch (const std::exception&) {
      spdlog::warn("failpoint: AL_FAILPOINT_KILL_ON_ITEM: '{}' is not an id; ignored", id);
    }
  }
  return p;
}

}  // namespace

void kill_if_poisoned(const std::string& stage, const std::vector<WorkItem>& acked) {
  static const Poison poison = read_poison();
  if (poison.ids.empty() || poison.stage != stage) return;
  for (const auto& item : acked) {
    if (poison.ids.count(item.id) == 0) continue;
    spdlog::critical("{}: failpoint: item {} (attempt {}) is poison; killing this process", stage, item.id,
                     item.attempt);
    spdlog::default_logger()->flush();
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace al::failpoint
