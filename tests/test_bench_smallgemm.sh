#!/bin/sh
# test_bench_smallgemm.sh: scripts/bench_smallgemm/run.sh builds LeNet's GEMM floor against
# OpenBLAS and whichever of BLIS and libxsmm are installed (optional packages: a missing one
# is named as skipped), runs a short round, and every library's outputs agree with OpenBLAS's;
# --help answers and a bad argument is refused. Timing is printed, never checked.
# usage: sh tests/test_bench_smallgemm.sh path/to/lotto (unused: the script is plain C and sh)
SRC=${LOTTO_SOURCE_DIR:?LOTTO_SOURCE_DIR is not set}
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/bsg.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
RUN="$SRC/scripts/bench_smallgemm/run.sh"
fails=0
fail() {
  echo "FAIL: $*"
  sed 's/^/    | /' "$TMP/out"
  fails=$((fails + 1))
}
sh "$RUN" --help >"$TMP/out" 2>&1 || fail "--help exited non-zero"
grep -q 'scripts/bench_smallgemm/run.sh \[--rounds 5\]' "$TMP/out" || fail "--help prints no usage"
sh "$RUN" --rounds 0x >"$TMP/out" 2>&1 && fail "--rounds 0x accepted"
grep -q 'positive integers' "$TMP/out" || fail "no message for a bad --rounds"
sh "$RUN" --bogus >"$TMP/out" 2>&1 && fail "--bogus accepted"
if ! sh "$RUN" --rounds 1 --steps 3 >"$TMP/out" 2>&1; then
  fail "a short run failed"
else
  grep -q '^openblas .* outputs agree' "$TMP/out" || fail "no OpenBLAS line"
  grep -q 'OUTPUTS DIFFER' "$TMP/out" && fail "a library's outputs differ from OpenBLAS's"
  for pair in "blis:BLIS" "libxsmm:libxsmm"; do
    lib=${pair%%:*} name=${pair#*:}
    if grep -q "^$name not installed" "$TMP/out"; then
      echo "note: $name not installed, its part not run"
    else
      grep -q "^$lib .* outputs agree" "$TMP/out" || fail "$name installed but no agreeing line"
    fi
  done
fi
[ "$fails" -eq 0 ] && echo "test_bench_smallgemm: ok" || exit 1
