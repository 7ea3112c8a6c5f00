// LMDB 0.9: one write transaction for the whole load, committed with a sync (LMDB's
// durable bulk load); readers each hold one read-only transaction, reset and renewed per
// read batch as its documentation advises, on MDB_NOTLS so that threads own them.
#include <lmdb.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "peers/peer.hpp"

namespace larder::bench {

namespace {

void check(int rc, const char* what) {
  if (rc == MDB_SUCCESS) return;
  std::fprintf(stderr, "lmdb %s: %s\n", what, mdb_strerror(rc));
  std::exit(1);
}

MDB_val val_of(std::string_view s) {
  return {s.size(), const_cast<char*>(s.data())};
}

class lmdb_peer final : public kv_peer {
 public:
  ~lmdb_peer() override { close(); }
  const char* name() const override { return "lmdb"; }

  void open(const std::string& dir) override {
    ::mkdir(dir.c_str(), 0755);
    check(mdb_env_create(&env_), "env_create");
    check(mdb_env_set_mapsize(env_, 64ull << 30), "set_mapsize");  // sparse: only what is used
    check(mdb_env_set_maxreaders(env_, 64), "set_maxreaders");
    check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS, 0644), "env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi_open");
    check(mdb_txn_commit(txn), "txn_commit");
  }

  void close() override {
    if (!env_) return;
    mdb_env_close(env_);
    env_ = nullptr;
  }

  void put_durable(const std::vector<std::string>& keys,
                   const std::vector<std::string>& values) override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto k = val_of(keys[i]);
      auto v = val_of(values[i % values.size()]);
      check(mdb_put(txn, dbi_, &k, &v, 0), "put");
    }
    check(mdb_txn_commit(txn), "commit");  // synced: the env has no MDB_NOSYNC
  }

  void begin_reader() override {
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &reader()), "read txn_begin");
  }
  void end_reader() override {
    mdb_txn_abort(reader());
    reader() = nullptr;
  }

  bool get(std::string_view key, std::string& out) override {
    auto k = val_of(key);
    MDB_val v{};
    const int rc = mdb_get(reader(), dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "get");
    out.assign(static_cast<const char*>(v.mv_data), v.mv_size);  // the copy a caller keeps
    return true;
  }

 private:
  static MDB_txn*& reader() {
    thread_local MDB_txn* txn = nullptr;
    return txn;
  }
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

}  // namespace

std::unique_ptr<kv_peer> make_lmdb_peer() {
  return std::make_unique<lmdb_peer>();
}

}  // namespace larder::bench
