#include "support/test_env.hpp"

#include <cstdlib>
#include <stdexcept>

#include <pqxx/pqxx>

#include "assemblyline/migrations.hpp"

namespace al::test {

std::string env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value || !*value) {
    throw std::runtime_error(name + " is not set: run the tests through ./scripts/test, which starts "
                             "PostgreSQL, an SMTP sink and a webhook receiver and exports AL_TEST_*");
  }
  return value;
}

std::string database_url(const std::string& name) {
  const std::string admin = env("AL_TEST_DATABASE_URL");
  const auto slash = admin.rfind('/');
  const auto query = admin.find('?', slash);
  return admin.substr(0, slash + 1) + "al_t_" + name + (query == std::string::npos ? "" : admin.substr(query));
}

std::string fresh_database(const std::string& name) {
  {
    pqxx::connection admin(env("AL_TEST_DATABASE_URL"));
    pqxx::nontransaction nt(admin);
    nt.exec("DROP DATABASE IF EXISTS al_t_" + name + " WITH (FORCE)");
    nt.exec("CREATE DATABASE al_t_" + name);
  }
  const std::string url = database_url(name);
  pqxx::connection conn(url);
  al::migrate(conn);
  return url;
}

std::string query_value(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  auto r = tx.exec(sql);
  tx.commit();
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

}  // namespace al::test
