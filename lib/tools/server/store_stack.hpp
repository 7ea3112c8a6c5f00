// store_stack: the layered store larder-server serves: memory over the disk tier, and,
// with a Redis URL, over the Redis tier as well (shared by every server that names it).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <memory>
#include <string>

#include "larder/layered_store.hpp"
#include "larder/open_default.hpp"
#include "larder/result.hpp"

namespace larder::server {

/// Opens memory over disk (open_default with `cache`), or memory over disk over Redis when
/// `redis_url` is not empty. Errors: those of the disk tier's open; errc::invalid_argument
/// for a Redis URL in a build without the Redis tier; a malformed URL throws
/// std::system_error naming it (from the Redis store's construction). A Redis server that
/// is down is no error here: the tier reports faults, which the layered store counts.
asio::awaitable<result<std::unique_ptr<layered_store>>> open_store_stack(
    asio::io_context& io, default_cache_options cache, std::string redis_url);

}  // namespace larder::server
