// Objects kept for reuse by concurrent callers, such as predict's workspaces:
// once every caller has had one, taking and giving back allocates nothing.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

namespace densenn {

template <class W>
class Pool {
 public:
  // An object taken from the pool; it goes back when the lease ends, also when the caller throws.
  class Lease {
   public:
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (item_) pool_->give_back(std::move(item_));
    }
    W& operator*() const { return *item_; }
    W* operator->() const { return item_.get(); }

   private:
    friend class Pool;
    Lease(const Pool* pool, std::unique_ptr<W> item) : pool_(pool), item_(std::move(item)) {}
    const Pool* pool_;
    std::unique_ptr<W> item_;
  };

  // An idle object, or a new one (default-constructed) when all are in use.
  Lease take() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<W> item = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(item));
      }
    }
    return Lease(this, std::make_unique<W>());
  }

 private:
  void give_back(std::unique_ptr<W> item) const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      idle_.push_back(std::move(item));
    } catch (...) {  // no memory for the pool's slot: drop the object
    }
  }

  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<W>> idle_;
};

}  // namespace densenn
