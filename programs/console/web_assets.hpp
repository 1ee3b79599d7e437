// The console's static front end (console/web/), compiled into the binary by
// cmake/embed_web_assets.cmake.
#pragma once

#include <string>
#include <vector>

namespace al::console {

struct WebAsset {
  std::string path;          ///< "/app.js"
  std::string content_type;  ///< "text/javascript; charset=utf-8"
  std::string body;
};

[[nodiscard]] const std::vector<WebAsset>& web_assets();

}  // namespace al::console
