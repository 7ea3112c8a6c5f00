// blob: immutable, reference-counted bytes. A cache hit hands out a blob, never a copy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace larder {

namespace detail {

// One allocation holds the count and, for blobs larder allocates, the bytes themselves;
// an adopted container or a memory-store entry lives in a subclass. 16 bytes of header
// keep bookkeeping small: a 32-bit count (each blob is 24 bytes, so 2^32 live copies
// cannot fit in memory) leaves a word that a subclass may use for its own fields.
struct blob_rep {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t owner_word = 0;
  void (*destroy)(blob_rep*) noexcept = nullptr;
};

inline void blob_acquire(blob_rep* rep) noexcept {
  if (rep) rep->refs.fetch_add(1, std::memory_order_relaxed);
}
inline void blob_release(blob_rep* rep) noexcept {
  if (rep && rep->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) rep->destroy(rep);
}

// Allocates a rep with `size` writable bytes directly behind it.
blob_rep* blob_allocate(std::size_t size);
inline std::byte* blob_inline_bytes(blob_rep* rep) noexcept {
  return reinterpret_cast<std::byte*>(rep + 1);
}

template <class Container>
struct adopted_rep final : blob_rep {
  explicit adopted_rep(Container&& c) noexcept : container(std::move(c)) {
    destroy = [](blob_rep* self) noexcept { delete static_cast<adopted_rep*>(self); };
  }
  Container container;
};

}  // namespace detail

class blob_buffer;
namespace detail {
struct blob_access;
}

/// Immutable shared bytes. Copying a blob bumps a reference count; the bytes are
/// freed when the last blob that refers to them goes. Safe to copy and destroy
/// concurrently from any thread; the bytes are never written after construction.
class blob {
 public:
  blob() noexcept = default;

  /// Adopt a container's storage without copying its bytes.
  explicit blob(std::vector<std::byte>&& bytes) { adopt(std::move(bytes)); }
  explicit blob(std::vector<unsigned char>&& bytes) { adopt(std::move(bytes)); }
  explicit blob(std::vector<char>&& bytes) { adopt(std::move(bytes)); }
  explicit blob(std::string&& bytes) { adopt(std::move(bytes)); }

  /// Copy `bytes` into a new blob (one allocation, header and bytes together).
  static blob copy_of(std::span<const std::byte> bytes);
  static blob copy_of(std::string_view bytes) {
    return copy_of(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }

  blob(const blob& other) noexcept : rep_(other.rep_), data_(other.data_), size_(other.size_) {
    detail::blob_acquire(rep_);
  }
  blob(blob&& other) noexcept
      : rep_(std::exchange(other.rep_, nullptr)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  blob& operator=(blob other) noexcept {
    swap(other);
    return *this;
  }
  ~blob() { detail::blob_release(rep_); }

  void swap(blob& other) noexcept {
    std::swap(rep_, other.rep_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }

  /// A blob over bytes [offset, offset+length) of this one, sharing its storage.
  /// The range is clamped to the blob's size.
  blob slice(std::size_t offset, std::size_t length) const noexcept;

  /// How many blobs share this storage (for tests and diagnostics; racy by nature).
  std::size_t use_count() const noexcept {
    return rep_ ? rep_->refs.load(std::memory_order_relaxed) : 0;
  }

  /// True when both refer to the same storage (not merely equal bytes).
  bool shares_storage_with(const blob& other) const noexcept {
    return rep_ != nullptr && rep_ == other.rep_;
  }

  friend bool operator==(const blob& a, const blob& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  friend class blob_buffer;
  friend struct detail::blob_access;
  blob(detail::blob_rep* rep, const std::byte* data, std::size_t size) noexcept
      : rep_(rep), data_(data), size_(size) {}

  template <class Container>
  void adopt(Container&& c) {
    if (c.empty()) return;
    auto* rep = new detail::adopted_rep<Container>(std::move(c));
    rep_ = rep;
    data_ = reinterpret_cast<const std::byte*>(rep->container.data());
    size_ = rep->container.size();
  }

  detail::blob_rep* rep_ = nullptr;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Writable bytes that become a blob without a copy: fill them (an I/O read, a
/// decoder), then freeze(). Not shared, so writing needs no synchronisation.
class blob_buffer {
 public:
  blob_buffer() noexcept = default;
  explicit blob_buffer(std::size_t size)
      : rep_(size ? detail::blob_allocate(size) : nullptr), size_(size) {}
  blob_buffer(blob_buffer&& other) noexcept
      : rep_(std::exchange(other.rep_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  blob_buffer& operator=(blob_buffer&& other) noexcept {
    blob_buffer(std::move(other)).swap(*this);
    return *this;
  }
  ~blob_buffer() { detail::blob_release(rep_); }
  void swap(blob_buffer& other) noexcept {
    std::swap(rep_, other.rep_);
    std::swap(size_, other.size_);
  }

  std::byte* data() noexcept { return rep_ ? detail::blob_inline_bytes(rep_) : nullptr; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> bytes() noexcept { return {data(), size_}; }

  /// Keep only the first `size` bytes (a read that met end of file). The allocation stays.
  void truncate(std::size_t size) noexcept {
    if (size < size_) size_ = size;
  }

  /// Hand the bytes over as an immutable blob; the buffer is empty afterwards.
  blob freeze() && noexcept {
    auto* rep = std::exchange(rep_, nullptr);
    auto* data = rep ? detail::blob_inline_bytes(rep) : nullptr;
    return blob(rep, data, std::exchange(size_, 0));
  }

 private:
  detail::blob_rep* rep_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {
// For stores whose entries are blob_reps: make a blob that shares an existing rep.
struct blob_access {
  static blob share(blob_rep* rep, const std::byte* data, std::size_t size) noexcept {
    blob_acquire(rep);
    return blob(rep, data, size);
  }
};
}  // namespace detail

inline blob blob::copy_of(std::span<const std::byte> bytes) {
  blob_buffer buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  return std::move(buffer).freeze();
}

inline blob blob::slice(std::size_t offset, std::size_t length) const noexcept {
  if (offset > size_) offset = size_;
  if (length > size_ - offset) length = size_ - offset;
  detail::blob_acquire(rep_);
  return blob(rep_, data_ ? data_ + offset : nullptr, length);
}

}  // namespace larder
