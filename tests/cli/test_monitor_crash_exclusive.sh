#!/usr/bin/env bash
# The crash test of test_monitor_crash.sh with every other run holding the
# state alone (`ktaudit monitor --once --exclusive`: a rollback journal
# instead of the WAL), the replay committed in chunks (commit_every 7000:
# eight chunks of the 50k-entry log) through the smallest cache (so pages
# spill into the database mid-chunk): kill -9 anywhere, restart in the
# other mode, and the outcome must still equal the uninterrupted (also
# chunked) run's; at least one kill must leave a hot journal.
KTA_CRASH_EXCLUSIVE=1 KTA_CRASH_COMMIT_EVERY=${KTA_CRASH_COMMIT_EVERY:-7000} \
  exec bash "$(dirname "$0")/test_monitor_crash.sh"
