#include "larder/null_store.hpp"

namespace larder {

asio::awaitable<lookup> null_store::get(key_view) {
  counters_.add(counter::misses);
  co_return lookup::miss();
}

asio::awaitable<std::error_code> null_store::put(key_view, blob) {
  counters_.add(counter::puts);
  co_return std::error_code{};
}

asio::awaitable<result<bool>> null_store::erase(key_view) {
  co_return false;
}

asio::awaitable<std::error_code> null_store::flush() {
  counters_.add(counter::flushes);
  co_return std::error_code{};
}

asio::awaitable<result<std::uint64_t>> null_store::invalidate_prefix(key_view) {
  co_return std::uint64_t{0};
}

metrics_snapshot null_store::metrics() const noexcept {
  metrics_snapshot out;
  counters_.accumulate_into(out);
  return out;
}

}  // namespace larder
