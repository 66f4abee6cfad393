// A reader/writer lock that serves threads in the order they arrive, letting
// consecutive readers in together. std::shared_mutex leaves fairness open
// (glibc's prefers readers), and a stream of predicts from several threads
// would then hold a training pass off indefinitely; here a training batch
// waits only for the predicts that came before it, and a predict only for
// the batch that came before it. Meets SharedMutex: works with
// std::unique_lock and std::shared_lock. Not recursive.
//
// Waiting is an interruption point (interrupt.hpp): a thread with an interrupt
// check installed (Python's main thread, waiting behind another thread's long
// training step or predict) asks it every 50 ms while it waits, and on
// Interrupted gives up its place in the queue without taking the lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

#include "densenn/interrupt.hpp"

namespace densenn {

class FairSharedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
    const std::uint64_t ticket = next_ticket_++;
    await(guard, ticket, [&] { return serving_ == ticket && !writer_ && readers_ == 0; });
    writer_ = true;
    serve_next();
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
      await(guard, ticket, [&] { return serving_ == ticket && !writer_; });
      ++readers_;
      serve_next();
      waiting = next_ticket_ != serving_;
    }
    if (waiting) changed_.notify_all();  // the next in line may be a reader too
  }

  // Without waiting: false when a writer holds the lock or anyone awaits it (their turn comes first).
  bool try_lock_shared() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (writer_ || next_ticket_ != serving_) return false;
    ++readers_;  // (as lock_shared with the ticket served at once)
    return true;
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
  // Waits until ready(); where the thread has an interrupt check, in slices between which it is asked (without
  // holding mutex_: the check may wait for Python's GIL). Interrupted: the ticket is given up, and rethrown.
  template <class Ready>
  void await(std::unique_lock<std::mutex>& guard, std::uint64_t ticket, Ready ready) {
    if (!interruption_check_installed()) return changed_.wait(guard, ready);
    while (!changed_.wait_for(guard, std::chrono::milliseconds(50), ready)) {
      guard.unlock();
      try {
        interruption_point();
      } catch (...) {
        guard.lock();
        give_up(ticket);
        throw;
      }
      guard.lock();
    }
  }

  // The ticket after the one just served, skipping those given up.
  void serve_next() {
    ++serving_;
    for (auto first = abandoned_.begin(); first != abandoned_.end() && *first == serving_;
         first = abandoned_.erase(first))
      ++serving_;
  }

  void give_up(std::uint64_t ticket) {
    if (serving_ == ticket)
      serve_next();
    else
      abandoned_.insert(ticket);  // (its turn comes later: skipped then)
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t next_ticket_ = 0, serving_ = 0;  // tickets are served in order
  std::set<std::uint64_t> abandoned_;            // tickets given up before their turn (rare: a Ctrl-C)
  long readers_ = 0;
  bool writer_ = false;
};

}  // namespace densenn
