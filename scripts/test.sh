#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with ASan + UBSan and
# runs every unit and end-to-end test under them (LeakSanitizer included).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
# The queue tier of the local stack (fauxqs, a real SQS implementation on
# Node, and the workers' SQS client), also used by the SQS tests;
# without npm those tests say they are skipped and why.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix scenarios/local/stack/queue --no-audit --no-fund --loglevel=error
fi
build=${GAMEDAY_TEST_BUILD:-build-asan}
cmake -S . -B "$build" -DGAMEDAY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
