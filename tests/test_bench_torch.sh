#!/bin/sh
# test_bench_torch.sh: examples/bench_torch.lua without PyTorch says so, tells how to
# install it, and still prints lotto's figures; --help answers. (With PyTorch installed
# the same run compares; that path needs python3-torch, which make deps does not install.)
# usage: sh tests/test_bench_torch.sh path/to/lotto
LOTTO=${1:?usage: test_bench_torch.sh path/to/lotto}
SRC=${LOTTO_SOURCE_DIR:?LOTTO_SOURCE_DIR is not set}
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/btorch.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() {
  echo "FAIL: $*"
  sed 's/^/    | /' "$TMP/out"
  fails=$((fails + 1))
}

"$LOTTO" "$SRC/examples/bench_torch.lua" --help >"$TMP/out" 2>&1 || fail "--help exited non-zero"
grep -q '^usage: lotto examples/bench_torch.lua' "$TMP/out" || fail "--help prints no usage"
"$LOTTO" "$SRC/examples/bench_torch.lua" --rounds 0 >"$TMP/out" 2>&1 && fail "--rounds 0 accepted"

# an interpreter that does not exist: the no-PyTorch path, whatever this machine has
"$LOTTO" "$SRC/examples/bench_torch.lua" --only lenet --iters 2 --rounds 2 --python "$TMP/no-python" >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "without PyTorch the benchmark exited $rc"
grep -q '^BLAS: OpenBLAS .*kernel ' "$TMP/out" || fail "no BLAS header"
grep -q 'not found; lotto figures alone.*apt-get install python3-torch' "$TMP/out" || fail "no install hint"
grep -qE '^ +min +[0-9]+\.[0-9]+$' "$TMP/out" || fail "no lotto figures"
grep -q 'PyTorch/lotto' "$TMP/out" && fail "a ratio without PyTorch"

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "bench_torch checks passed"
