#!/usr/bin/env bash
# The crash test of test_monitor_crash.sh with the replay committed in
# chunks (ktaudit.conf(5) commit_every 7000: eight chunks of the 50k-entry
# log) and one shard of the labels (shard 1/2, the shard of the watched
# user-0): kill -9 anywhere in any chunk, restart, and the outcome must
# still equal the uninterrupted (also chunked, also sharded) run's.
KTA_CRASH_COMMIT_EVERY=${KTA_CRASH_COMMIT_EVERY:-7000} KTA_CRASH_SHARD=${KTA_CRASH_SHARD-1/2} \
  exec bash "$(dirname "$0")/test_monitor_crash.sh"
