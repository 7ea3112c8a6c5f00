// The peers this build has no library for: the disk bench then says so and runs without.
#include "peers/peer.hpp"

namespace larder::bench {

#if !LARDER_BENCH_LMDB
std::unique_ptr<kv_peer> make_lmdb_peer() {
  return nullptr;
}
#endif
#if !LARDER_BENCH_ROCKSDB
std::unique_ptr<kv_peer> make_rocksdb_peer() {
  return nullptr;
}
#endif

}  // namespace larder::bench
