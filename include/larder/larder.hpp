// Convenience header: everything in larder's public API.
#pragma once

#include "larder/config.hpp"

#include "larder/any_store.hpp"
#include "larder/blob.hpp"
#include "larder/bulk.hpp"
#include "larder/canonical.hpp"
#include "larder/disk_store.hpp"
#include "larder/error.hpp"
#include "larder/eviction.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"
#include "larder/io_engine.hpp"
#include "larder/layered_store.hpp"
#include "larder/live_source.hpp"
#include "larder/live_table.hpp"
#include "larder/live_table_options.hpp"
#include "larder/lookup.hpp"
#include "larder/memory_store.hpp"
#include "larder/metrics.hpp"
#include "larder/null_store.hpp"
#include "larder/open_default.hpp"
#include "larder/result.hpp"
#include "larder/row_codec.hpp"
#include "larder/row_set.hpp"
#include "larder/store.hpp"

#if LARDER_HAVE_REDIS
#include "larder/invalidation_bus.hpp"
#include "larder/redis_store.hpp"
#endif
