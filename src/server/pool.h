// A fixed set of slots (a model and its search backend each) handed to one
// request at a time: a LanguageModel serves one caller at a time, so
// concurrent requests queue for a free slot.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace lmlab::server {

template <class Slot>
class SlotPool {
 public:
  explicit SlotPool(std::vector<Slot> slots) : slots_(std::move(slots)) {
    for (size_t i = 0; i < slots_.size(); ++i) free_.push_back(i);
  }

  // Returns the slot to the pool when it goes out of scope.
  class Lease {
   public:
    Lease(SlotPool* pool, size_t index) : pool_(pool), index_(index) {}
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->Release(index_);
    }
    Slot& operator*() const { return pool_->slots_[index_]; }
    Slot* operator->() const { return &pool_->slots_[index_]; }

   private:
    SlotPool* pool_;
    size_t index_;
  };

  // nullopt when no slot frees up within `timeout`.
  std::optional<Lease> Acquire(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !free_.empty(); })) return std::nullopt;
    size_t i = free_.back();
    free_.pop_back();
    return Lease(this, i);
  }

  size_t size() const { return slots_.size(); }
  // Any slot, for read-only facts (names); never use it to generate.
  const Slot& front() const { return slots_.front(); }

 private:
  void Release(size_t i) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(i);
    }
    cv_.notify_one();
  }

  std::vector<Slot> slots_;
  std::vector<size_t> free_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace lmlab::server
