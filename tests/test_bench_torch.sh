#!/bin/sh
# test_bench_torch.sh: examples/bench_torch.lua without PyTorch says so, tells how to
# install it, and still prints lotto's figures with their baselines (LeNet's GEMM floor,
# the convolutions' GEMM path); --help answers. With PyTorch installed (python3-torch,
# which make deps does not install) it also runs a short comparison and checks its ratios.
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
"$LOTTO" "$SRC/examples/bench_torch.lua" --only lenet,conv --threads 1 --iters 2 --conv-iters 1 --rounds 2 \
  --python "$TMP/no-python" >"$TMP/out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "without PyTorch the benchmark exited $rc"
grep -q '^BLAS: OpenBLAS .*kernel ' "$TMP/out" || fail "no BLAS header"
grep -q 'not found; lotto figures alone.*apt-get install python3-torch' "$TMP/out" || fail "no install hint"
grep -qE '^median +1 +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+$' "$TMP/out" || fail "no lotto figures"
grep -q 'GEMM floor lotto/floor' "$TMP/out" || fail "no GEMM floor beside LeNet"
grep -q 'epoch of 1000 steps takes lotto .* its GEMM floor' "$TMP/out" || fail "no epoch against the floor"
grep -q 'Winograd off' "$TMP/out" || fail "no GEMM-path baseline beside Conv-2"
"$LOTTO" "$SRC/examples/bench_torch.lua" --only lenet,nosuch >"$TMP/out" 2>&1 && fail "--only nosuch accepted"
grep -q "bad entry 'nosuch'" "$TMP/out" || fail "--only nosuch: no message naming it"
"$LOTTO" "$SRC/examples/bench_torch.lua" --tile 3 >"$TMP/out" 2>&1 && fail "--tile 3 accepted"
grep -q "option '--tile' must be 2 or 4" "$TMP/out" || fail "--tile 3: no message naming it"
grep -q 'PyTorch/lotto' "$TMP/out" && fail "a ratio without PyTorch"

# with PyTorch (Debian's python3-torch at /usr/bin/python3, or LOTTO_PYTHON): the comparison itself
PY=${LOTTO_PYTHON:-/usr/bin/python3}
if "$PY" -c 'import torch' >/dev/null 2>&1; then
  "$LOTTO" "$SRC/examples/bench_torch.lua" --only lenet,conv --threads 1 --iters 2 --conv-iters 1 --rounds 1 \
    --python "$PY" >"$TMP/out" 2>&1 || fail "with PyTorch the benchmark exited $?"
  grep -q '^PyTorch [0-9].*1 thread(s)' "$TMP/out" || fail "no PyTorch header"
  n=$(grep -cE '^median +1 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+x +[0-9.]+x$' "$TMP/out")
  [ "$n" = 2 ] || fail "expected two median lines with PyTorch ratios, got $n"
else
  echo "no PyTorch for $PY: the comparison path is not checked (apt-get install python3-torch)"
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "bench_torch checks passed"
