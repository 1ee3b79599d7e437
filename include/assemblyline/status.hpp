// Status codes of the five objects, mirroring al.status_codes (sql/001_objects.sql),
// which is the one source of truth. The C++ side only names them; a database
// test (tests/db/status_codes_test.cpp) fails if this header and the table drift.
// Pattern: hundreds = stage; x01 pending, x11 ready, x21 scheduled, x31 processing,
// x41 error, x90 processed; 888 cancelled or skipped, 999 complete.
#pragma once

#include <array>
#include <string_view>
#include <type_traits>

namespace al {

/// JOBS.jobstatus: a serial job; follows the least advanced stage of its live children.
enum class JobStatus : int {
  NotReady = 0,                ///< inserted on hold
  Pending = 101,               ///< submitted, waits to be received
  IdentifyReady = 111,
  IdentifyScheduled = 121,
  IdentifyProcessing = 131,
  IdentifyError = 141,         ///< job-level failure (unknown template, unreadable input)
  AssemblyReady = 211,         ///< every TRNS exists
  AssemblyProcessed = 290,
  DistributionReady = 311,
  DistributionError = 341,
  DistributionProcessed = 390, ///< batches are formed next
  BatchingReady = 411,
  PresentationError = 441,
  PresentationCompleted = 490,
  ArchiveError = 541,
  Cancelled = 888,
  Complete = 999,
};

/// TRNS.trnstatus: one record of a job.
enum class TrnStatus : int {
  IdentifierComplete = 190,
  AssemblyPending = 201,
  AssemblyReady = 211,
  AssemblyScheduled = 221,
  AssemblyProcessing = 231,
  AssemblyError = 241,         ///< also: the record failed validation
  AssemblyProcessed = 290,
  DistributionPending = 301,   ///< waits at the barrier
  DistributionReady = 311,
  DistributionScheduled = 321,
  DistributionProcessing = 331,
  DistributionError = 341,
  DistributionProcessed = 390,
  BatchingPending = 401,       ///< waits for its recipients to be batched
  BatchingReady = 411,
  BatchingProcessing = 415,
  PresentationScheduled = 421,
  PresentationProcessing = 431,
  PresentationError = 441,
  PresentationCompleted = 490,
  ArchiveError = 541,
  Cancelled = 888,
  Complete = 999,              ///< all its recipients are terminal
};

/// RCPS.rcpstatus: one recipient of a record.
enum class RcpStatus : int {
  DistributionError = 341,
  Excluded = 388,              ///< opted out in al.contact_preferences
  WaitingForBatch = 401,
  Batched = 411,
  ArchiveError = 541,
  DeliveryFailed = 641,        ///< also "outcome unknown" after a crash
  Cancelled = 888,
  Complete = 999,              ///< delivered, its batch notified
};

/// BCHS.bchstatus: a batch of recipients of one job and one channel.
enum class BchStatus : int {
  Pending = 401,
  Closed = 411,                ///< ready for the presenter
  Filling = 415,
  PresentationScheduled = 421,
  PresentationProcessing = 431,
  PresentationError = 441,
  PresentationCompleted = 490,
  ArchivePending = 501,
  ArchiveReady = 511,
  ArchiveScheduled = 521,
  ArchiveProcessing = 531,
  ArchiveError = 541,
  ArchiveComplete = 590,
  PublicationPending = 601,
  PublicationReady = 611,
  PublicationScheduled = 621,
  PublicationProcessing = 631,
  PublicationError = 641,
  PublicationComplete = 690,
  NotificationPending = 701,
  NotificationReady = 711,
  NotificationScheduled = 721,
  NotificationProcessing = 731,
  NotificationError = 741,
  NotificationComplete = 790,
  Cancelled = 888,
  Complete = 999,
};

/// PUBS.pubstatus: a publication; carried along by its batch.
enum class PubStatus : int {
  Presented = 490,
  ArchiveReady = 511,
  PublicationReady = 611,
  NotificationReady = 711,
  Cancelled = 888,
  Complete = 999,
};

/// The integer stored in the status column.
template <typename Status>
  requires std::is_enum_v<Status>
[[nodiscard]] constexpr int code(Status s) noexcept {
  return static_cast<int>(s);
}

/// One row of al.status_codes as this header knows it.
struct StatusCode {
  std::string_view object;  ///< JOBS, TRNS, RCPS, BCHS or PUBS
  int code;
};

/// Every (object, code) the enums above name, in table order; a test compares it with al.status_codes.
[[nodiscard]] constexpr auto status_codes() noexcept {
  using J = JobStatus;
  using T = TrnStatus;
  using R = RcpStatus;
  using B = BchStatus;
  using P = PubStatus;
  return std::array{
      StatusCode{"JOBS", code(J::NotReady)},
      StatusCode{"JOBS", code(J::Pending)},
      StatusCode{"JOBS", code(J::IdentifyReady)},
      StatusCode{"JOBS", code(J::IdentifyScheduled)},
      StatusCode{"JOBS", code(J::IdentifyProcessing)},
      StatusCode{"JOBS", code(J::IdentifyError)},
      StatusCode{"JOBS", code(J::AssemblyReady)},
      StatusCode{"JOBS", code(J::AssemblyProcessed)},
      StatusCode{"JOBS", code(J::DistributionReady)},
      StatusCode{"JOBS", code(J::DistributionError)},
      StatusCode{"JOBS", code(J::DistributionProcessed)},
      StatusCode{"JOBS", code(J::BatchingReady)},
      StatusCode{"JOBS", code(J::PresentationError)},
      StatusCode{"JOBS", code(J::PresentationCompleted)},
      StatusCode{"JOBS", code(J::ArchiveError)},
      StatusCode{"JOBS", code(J::Cancelled)},
      StatusCode{"JOBS", code(J::Complete)},

      StatusCode{"TRNS", code(T::IdentifierComplete)},
      StatusCode{"TRNS", code(T::AssemblyPending)},
      StatusCode{"TRNS", code(T::AssemblyReady)},
      StatusCode{"TRNS", code(T::AssemblyScheduled)},
      StatusCode{"TRNS", code(T::AssemblyProcessing)},
      StatusCode{"TRNS", code(T::AssemblyError)},
      StatusCode{"TRNS", code(T::AssemblyProcessed)},
      StatusCode{"TRNS", code(T::DistributionPending)},
      StatusCode{"TRNS", code(T::DistributionReady)},
      StatusCode{"TRNS", code(T::DistributionScheduled)},
      StatusCode{"TRNS", code(T::DistributionProcessing)},
      StatusCode{"TRNS", code(T::DistributionError)},
      StatusCode{"TRNS", code(T::DistributionProcessed)},
      StatusCode{"TRNS", code(T::BatchingPending)},
      StatusCode{"TRNS", code(T::BatchingReady)},
      StatusCode{"TRNS", code(T::BatchingProcessing)},
      StatusCode{"TRNS", code(T::PresentationScheduled)},
      StatusCode{"TRNS", code(T::PresentationProcessing)},
      StatusCode{"TRNS", code(T::PresentationError)},
      StatusCode{"TRNS", code(T::PresentationCompleted)},
      StatusCode{"TRNS", code(T::ArchiveError)},
      StatusCode{"TRNS", code(T::Cancelled)},
      StatusCode{"TRNS", code(T::Complete)},

      StatusCode{"RCPS", code(R::DistributionError)},
      StatusCode{"RCPS", code(R::Excluded)},
      StatusCode{"RCPS", code(R::WaitingForBatch)},
      StatusCode{"RCPS", code(R::Batched)},
      StatusCode{"RCPS", code(R::ArchiveError)},
      StatusCode{"RCPS", code(R::DeliveryFailed)},
      StatusCode{"RCPS", code(R::Cancelled)},
      StatusCode{"RCPS", code(R::Complete)},

      StatusCode{"BCHS", code(B::Pending)},
      StatusCode{"BCHS", code(B::Closed)},
      StatusCode{"BCHS", code(B::Filling)},
      StatusCode{"BCHS", code(B::PresentationScheduled)},
      StatusCode{"BCHS", code(B::PresentationProcessing)},
      StatusCode{"BCHS", code(B::PresentationError)},
      StatusCode{"BCHS", code(B::PresentationCompleted)},
      StatusCode{"BCHS", code(B::ArchivePending)},
      StatusCode{"BCHS", code(B::ArchiveReady)},
      StatusCode{"BCHS", code(B::ArchiveScheduled)},
      StatusCode{"BCHS", code(B::ArchiveProcessing)},
      StatusCode{"BCHS", code(B::ArchiveError)},
      StatusCode{"BCHS", code(B::ArchiveComplete)},
      StatusCode{"BCHS", code(B::PublicationPending)},
      StatusCode{"BCHS", code(B::PublicationReady)},
      StatusCode{"BCHS", code(B::PublicationScheduled)},
      StatusCode{"BCHS", code(B::PublicationProcessing)},
      StatusCode{"BCHS", code(B::PublicationError)},
      StatusCode{"BCHS", code(B::PublicationComplete)},
      StatusCode{"BCHS", code(B::NotificationPending)},
      StatusCode{"BCHS", code(B::NotificationReady)},
      StatusCode{"BCHS", code(B::NotificationScheduled)},
      StatusCode{"BCHS", code(B::NotificationProcessing)},
      StatusCode{"BCHS", code(B::NotificationError)},
      StatusCode{"BCHS", code(B::NotificationComplete)},
      StatusCode{"BCHS", code(B::Cancelled)},
      StatusCode{"BCHS", code(B::Complete)},

      StatusCode{"PUBS", code(P::Presented)},
      StatusCode{"PUBS", code(P::ArchiveReady)},
      StatusCode{"PUBS", code(P::PublicationReady)},
      StatusCode{"PUBS", code(P::NotificationReady)},
      StatusCode{"PUBS", code(P::Cancelled)},
      StatusCode{"PUBS", code(P::Complete)},
  };
}

}  // namespace al
