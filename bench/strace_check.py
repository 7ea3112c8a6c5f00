#!/usr/bin/env python3
"""Runs larder-disk-bench's put, flush and get sections (larder only, io_uring backend)
under `strace -f -y` and fails if any blocking file syscall touched the store's files or
directories: on the io_uring backend they must all be io_uring requests. Listing directories
at open (getdents64, which io_uring cannot do) is the documented exception and is not traced.

usage: strace_check.py LARDER_DISK_BENCH
Exit 0: clean; 1: blocking calls found (printed); 77: strace or io_uring unavailable (skip).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# What the issue names, with the variants glibc and the kernel use for each.
BLOCKING = [
    "open", "openat", "openat2", "creat",
    "read", "pread64", "readv", "preadv", "preadv2",
    "write", "pwrite64", "writev", "pwritev", "pwritev2",
    "rename", "renameat", "renameat2",
    "fsync", "fdatasync", "sync_file_range",
    "unlink", "unlinkat", "rmdir",
    "statx", "stat", "lstat", "fstat", "newfstatat",
    "mkdir", "mkdirat",
]


def main():
    bench = sys.argv[1]
    strace = shutil.which("strace")
    if not strace:
        print("strace is not installed: skipped")
        return 77
    parent = tempfile.mkdtemp(prefix="larder-strace-", dir=os.environ.get("LARDER_TEST_TMP"))
    log = os.path.join(parent, "trace.log")
    env = dict(os.environ, LARDER_IO_BACKEND="io_uring")
    # LeakSanitizer cannot run under ptrace and then ends the process with a fatal error at
    # exit, at random: in a sanitizer build the leak check is left to the other tests.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    try:
        run = subprocess.run(
            [strace, "-f", "-y", "-qq", "-o", log, "-e", "trace=" + ",".join(BLOCKING), bench,
             "--larder-only", "--keep", "--dir", parent, "--sections", "put,flush,get",
             "--small-puts", "2000", "--put-mib", "16", "--flush-entries", "500",
             "--get-entries", "2000", "--get-ops", "20000", "--rounds", "1"],
            env=env, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            if "PTRACE" in run.stderr or "Operation not permitted" in run.stderr:
                print("strace cannot trace here: skipped\n" + run.stderr)
                return 77
            print("larder-disk-bench failed under strace:\n" + run.stdout + run.stderr)
            return 1
        print(run.stdout)
        if "io backend io_uring" not in run.stdout:
            print("io_uring is not available here: skipped")
            return 77
        # The scratch root: every store directory lies below it.
        match = re.search(r"larder-disk-bench in (\S+)", run.stdout)
        root = match.group(1) if match else parent
        store_paths = re.compile(re.escape(root) + r"/(larder|index)-")
        bad = [line.rstrip() for line in open(log) if store_paths.search(line)]
        calls = sum(1 for _ in open(log))
        if bad:
            print(f"{len(bad)} blocking syscalls on the store's files:")
            print("\n".join(bad[:40]))
            return 1
        print(f"clean: {calls} traced file syscalls, none on the store's files or directories")
        return 0
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
