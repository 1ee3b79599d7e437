#include "publisher/smtp_connection_slot.hpp"

namespace al {

SmtpConnectionSlot::SmtpConnectionSlot(pqxx::connection& db, std::string server, int max_connections)
    : m_db(db), m_server(std::move(server)), m_max(max_connections) {}

SmtpConnectionSlot::~SmtpConnectionSlot() { give_back(); }

bool SmtpConnectionSlot::take() {
  if (!limited() || m_slot) return true;
  pqxx::nontransaction tx(m_db);
  const auto row = tx.exec_params("SELECT al.take_smtp_connection($1, $2)", m_server, m_max)[0];
  if (!row[0].is_null()) m_slot = row[0].as<int>();
  return m_slot.has_value();
}

void SmtpConnectionSlot::give_back() noexcept {
  if (!m_slot) return;
  const int slot = *m_slot;
  m_slot.reset();
  try {
    pqxx::nontransaction tx(m_db);
    tx.exec_params("SELECT al.give_back_smtp_connection($1, $2)", m_server, slot);
  } catch (const std::exception&) {
    // The session is gone, and with it the advisory lock.
  }
}

}  // namespace al
