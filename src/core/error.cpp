// Classifies exceptions for the retry decisions of the runtime and scheduler.
#include "assemblyline/error.hpp"

#include <pqxx/except>

namespace al {

bool is_retryable(const std::exception& e) noexcept {
  if (auto* own = dynamic_cast<const Error*>(&e)) return own->retryable();
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return true;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return true;
  if (dynamic_cast<const pqxx::serialization_failure*>(&e)) return true;
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e)) return true;
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
    // 08xxx connection exceptions: the server is restarting.
    const std::string state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
           state == "40001" || state == "40P01";
  }
  return false;
}

}  // namespace al
