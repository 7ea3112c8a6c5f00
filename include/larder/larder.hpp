// Convenience header: everything in larder's public API.
#pragma once

#include "larder/any_store.hpp"
#include "larder/blob.hpp"
#include "larder/canonical.hpp"
#include "larder/disk_store.hpp"
#include "larder/error.hpp"
#include "larder/eviction.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"
#include "larder/io_engine.hpp"
#include "larder/layered_store.hpp"
#include "larder/lookup.hpp"
#include "larder/memory_store.hpp"
#include "larder/metrics.hpp"
#include "larder/null_store.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"
