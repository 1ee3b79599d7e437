// /api/board (al.status_board: every code with its name and count per
// object, from BoardCache) and /api/filters (the projects and templates the filter lists offer).
#include <pqxx/pqxx>

#include "api.hpp"
#include "board_cache.hpp"

namespace al::console {
namespace {

void filters(ApiCall& call) {
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  const auto text = tx.exec1(
      "SELECT json_build_object("
      "  'projects', (SELECT coalesce(json_agg(DISTINCT j.project ORDER BY j.project), '[]') FROM al.jobs j),"
      "  'templates', (SELECT coalesce(json_agg(t ORDER BY t.project, t.template), '[]') FROM "
      "                  (SELECT DISTINCT j.project, j.template FROM al.jobs j) t))::text")[0];
  send_json(call.res, text.as<std::string>());
}

}  // namespace

void add_board_routes(ApiRoutes& routes, BoardCache& board) {
  routes.get(R"(/api/board)", [&board](ApiCall& call) { send_json(call.res, board.json()); });
  routes.get(R"(/api/filters)", filters);
}

}  // namespace al::console
