// local_group(): N ranks in one process, one thread each, exchanging through shared memory.
#include "densenn/communicator.hpp"
#include "densenn/interrupt.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <numeric>

namespace densenn {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::size_t> offsets_of(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> offsets(counts.size(), 0);
  if (!counts.empty()) std::partial_sum(counts.begin(), counts.end() - 1, offsets.begin() + 1);
  return offsets;
}

// What the ranks share: each rank posts its buffers, meets the others at a barrier, copies what it needs from
// theirs, and meets them again before anyone may change a buffer.
struct Group {
  explicit Group(int n) : size(n), here(std::size_t(n), false), data(std::size_t(n)), counts(std::size_t(n)) {}

  const int size;
  std::mutex mutex;
  std::condition_variable changed;
  long generation = 0;
  int arrived = 0;
  std::vector<bool> here;  // who has arrived at the current barrier
  std::string broken;      // why the group failed ("" while it works)
  std::vector<const char*> data;                            // each rank's posted buffer
  std::vector<const std::vector<std::size_t>*> counts;  // and its counts

  void fail(std::string why) {  // (under the mutex)
    if (broken.empty()) broken = std::move(why);
    changed.notify_all();
  }

  void barrier(int rank, Clock::time_point deadline, std::chrono::duration<double> timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    if (!broken.empty()) throw ExchangeError(broken);
    const long entered = generation;
    here[std::size_t(rank)] = true;
    if (++arrived == size) {
      arrived = 0;
      std::fill(here.begin(), here.end(), false);
      ++generation;
      changed.notify_all();
      return;
    }
    while (generation == entered) {
      if (!broken.empty()) throw ExchangeError(broken);
      if (Clock::now() >= deadline) {
        std::string missing;
        for (int q = 0; q < size; ++q)
          if (!here[std::size_t(q)]) missing += (missing.empty() ? "" : ", ") + std::to_string(q);
        const std::string why = "rank " + std::to_string(rank) + " of " + std::to_string(size) + " waited " +
                                seconds_text(timeout.count()) + " s for rank(s) " + missing +
                                " to exchange (local group)";
        fail(why);
        throw ExchangeTimeout(why);
      }
      changed.wait_for(lock, std::chrono::milliseconds(20));
      lock.unlock();  // (the interrupt check may take Python's lock: never with ours held)
      try {
        interruption_point();
      } catch (const Interrupted&) {
        lock.lock();
        fail("rank " + std::to_string(rank) + " was interrupted during an exchange (local group)");
        throw;
      }
      lock.lock();
    }
  }
};

class LocalGroupCommunicator final : public Communicator {
 public:
  LocalGroupCommunicator(std::shared_ptr<Group> group, int rank) : group_(std::move(group)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return group_->size; }
  std::string description() const override { return "local group of " + std::to_string(group_->size); }

  void all_gather(void* data, const std::vector<std::size_t>& counts) override {
    const Timing timing(*this);
    check_counts(counts, "all_gather");
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout());
    post(static_cast<const char*>(data), &counts);
    group_->barrier(rank_, deadline, timeout());
    const std::vector<std::size_t> at = offsets_of(counts);
    for (int q = 0; q < size(); ++q)
      if (q != rank_ && counts[std::size_t(q)])
        std::memcpy(static_cast<char*>(data) + at[std::size_t(q)], group_->data[std::size_t(q)] + at[std::size_t(q)],
                    counts[std::size_t(q)]);
    group_->barrier(rank_, deadline, timeout());
  }

  void all_to_all(const void* send, const std::vector<std::size_t>& send_counts, void* recv,
                  const std::vector<std::size_t>& recv_counts) override {
    const Timing timing(*this);
    check_counts(send_counts, "all_to_all");
    check_counts(recv_counts, "all_to_all");
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout());
    post(static_cast<const char*>(send), &send_counts);
    group_->barrier(rank_, deadline, timeout());
    const std::vector<std::size_t> at = offsets_of(recv_counts);
    for (int q = 0; q < size(); ++q) {
      const std::vector<std::size_t>& theirs = *group_->counts[std::size_t(q)];
      if (theirs[std::size_t(rank_)] != recv_counts[std::size_t(q)])
        throw ExchangeError("all_to_all: rank " + std::to_string(q) + " sends " +
                            std::to_string(theirs[std::size_t(rank_)]) + " bytes to rank " + std::to_string(rank_) +
                            ", which expects " + std::to_string(recv_counts[std::size_t(q)]) + ".");
      const std::size_t from = std::accumulate(theirs.begin(), theirs.begin() + rank_, std::size_t(0));
      if (recv_counts[std::size_t(q)])
        std::memcpy(static_cast<char*>(recv) + at[std::size_t(q)], group_->data[std::size_t(q)] + from,
                    recv_counts[std::size_t(q)]);
    }
    group_->barrier(rank_, deadline, timeout());
  }

 private:
  void check_counts(const std::vector<std::size_t>& counts, const char* what) const {
    if (counts.size() != std::size_t(size()))
      throw ExchangeError(std::string(what) + ": expected " + std::to_string(size()) + " counts, got " +
                          std::to_string(counts.size()) + ".");
  }

  void post(const char* data, const std::vector<std::size_t>* counts) {
    std::lock_guard<std::mutex> lock(group_->mutex);
    group_->data[std::size_t(rank_)] = data;
    group_->counts[std::size_t(rank_)] = counts;
  }

  std::shared_ptr<Group> group_;
  int rank_;
};

}  // namespace

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

std::vector<std::shared_ptr<Communicator>> local_group(int size) {
  if (size < 1) throw std::invalid_argument("local_group: size must be >= 1, got " + std::to_string(size) + ".");
  auto group = std::make_shared<Group>(size);
  std::vector<std::shared_ptr<Communicator>> ranks;
  for (int r = 0; r < size; ++r) ranks.push_back(std::make_shared<LocalGroupCommunicator>(group, r));
  return ranks;
}

}  // namespace densenn
