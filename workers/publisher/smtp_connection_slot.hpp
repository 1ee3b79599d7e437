// smtp.max_connections for all publisher processes together: a publisher may
// have an SMTP connection open only while it holds one of the server's slots,
// a session-level advisory lock taken through al.take_smtp_connection
// (sql/015). PostgreSQL releases it when the publisher's session ends, so a
// killed publisher never keeps a slot.
#pragma once

#include <optional>
#include <string>

#include <pqxx/pqxx>

namespace al {

class SmtpConnectionSlot {
public:
  /// max_connections 0 = unlimited: take() always succeeds and holds nothing.
  SmtpConnectionSlot(pqxx::connection& db, std::string server, int max_connections);
  ~SmtpConnectionSlot();
  SmtpConnectionSlot(const SmtpConnectionSlot&) = delete;
  SmtpConnectionSlot& operator=(const SmtpConnectionSlot&) = delete;

  [[nodiscard]] bool limited() const { return m_max > 0; }

  /// True when this process may open a connection now (a slot is held, or
  /// connections are unlimited); false when every slot is someone else's.
  bool take();

  /// Gives the slot back; the caller closes its SMTP connection first. Never
  /// throws: on a lost database session the lock is gone already.
  void give_back() noexcept;

private:
  pqxx::connection& m_db;
  std::string m_server;
  int m_max;
  std::optional<int> m_slot;
};

}  // namespace al
