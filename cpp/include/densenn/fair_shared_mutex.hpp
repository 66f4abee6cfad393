// A reader/writer lock that serves threads in the order they arrive, letting
// consecutive readers in together. std::shared_mutex leaves fairness open
// (glibc's prefers readers), and a stream of predicts from several threads
// would then hold a training pass off indefinitely; here a training batch
// waits only for the predicts that came before it, and a predict only for
// the batch that came before it. Meets SharedMutex: works with
// std::unique_lock and std::shared_lock. Not recursive.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace densenn {

class FairSharedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
    const std::uint64_t ticket = next_ticket_++;
    changed_.wait(guard, [&] { return serving_ == ticket && !writer_ && readers_ == 0; });
    writer_ = true;
    ++serving_;
  }

  void unlock() {
    bool waiting;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      writer_ = false;
      waiting = next_ticket_ != serving_;
    }
    if (waiting) changed_.notify_all();
  }

  void lock_shared() {
    bool waiting;
    {
      std::unique_lock<std::mutex> guard(mutex_);
      const std::uint64_t ticket = next_ticket_++;
      changed_.wait(guard, [&] { return serving_ == ticket && !writer_; });
      ++readers_;
      ++serving_;
      waiting = next_ticket_ != serving_;
    }
    if (waiting) changed_.notify_all();  // the next in line may be a reader too
  }

  void unlock_shared() {
    bool wake;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      wake = --readers_ == 0 && next_ticket_ != serving_;
    }
    if (wake) changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t next_ticket_ = 0, serving_ = 0;  // tickets are served in order
  long readers_ = 0;
  bool writer_ = false;
};

}  // namespace densenn
