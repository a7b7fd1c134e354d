# Sourced by scripts: the shell side of testbed-testkit's skip. `tb_skip WHAT WHY` says what
# is skipped and why, appends one line to $TESTBED_SKIP_LOG (when set), and returns 0; under
# TESTBED_REQUIRE_ALL=1 it prints the same as a failure and returns 1 (callers `|| exit 1`).
tb_skip() {
  local what=$1 why=$2
  if [ "${TESTBED_REQUIRE_ALL:-}" = 1 ]; then
    echo "FAIL $what: $why (and TESTBED_REQUIRE_ALL=1: nothing may skip)" >&2
    return 1
  fi
  echo "SKIP $what: $why" >&2
  if [ -n "${TESTBED_SKIP_LOG:-}" ]; then
    echo "scripts/$(basename "$0") $what: $why" >>"$TESTBED_SKIP_LOG"
  fi
  return 0
}
