// Test environment: what ./scripts/test started for us (PostgreSQL, SMTP sink,
// webhook receiver), read from AL_TEST_* variables at run time. A missing
// variable fails the test with a message saying how to run it — database
// tests never skip.
#pragma once

#include <memory>
#include <string>

#include <pqxx/connection>  // pqxx::connection is an alias in 6.4: it cannot be forward-declared

namespace al::test {

/// The value of an AL_TEST_* variable; throws with a helpful message if unset.
[[nodiscard]] std::string env(const std::string& name);

/// A database named `al_t_<name>`, dropped and created afresh, migrated; its URL.
[[nodiscard]] std::string fresh_database(const std::string& name);

/// Same URL as fresh_database(name) returned, without recreating it.
[[nodiscard]] std::string database_url(const std::string& name);

/// Runs one statement in its own transaction and returns the first field as text ("" for NULL/no row).
std::string query_value(const std::string& url, const std::string& sql);

}  // namespace al::test
