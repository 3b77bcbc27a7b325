#!/bin/sh
# test_blas_kernel.sh: end to end, the BLAS kernel lotto ends up with. With no
# environment it is never older than the CPU (never generic on AVX2/AVX-512); a library
# really started on a generic kernel (OPENBLAS_CORETYPE=Prescott, LOTTO_BLAS=override)
# is replaced by re-executing, once; a user's OPENBLAS_CORETYPE is respected; scripts,
# arguments, stdin and `lotto plot` survive the re-execution.
# usage: sh tests/test_blas_kernel.sh path/to/lotto
LOTTO=${1:?usage: test_blas_kernel.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/blas.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
unset OPENBLAS_CORETYPE LOTTO_BLAS LOTTO_BLAS_REEXEC OPENBLAS_VERBOSE
fails=0

fail() {
  echo "FAIL: $*"
  for f in out err; do [ -s "$TMP/$f" ] && sed "s/^/    $f| /" "$TMP/$f"; done
  fails=$((fails + 1))
}

# tier NAME: 3 AVX-512, 2 AVX2, 1 AVX, 0 SSE, -1 unknown (kernel names or cpu_isa names)
tier() {
  case $1 in
  SkylakeX | Cooperlake | SapphireRapids | AVX-512) echo 3 ;;
  Haswell | Zen | AVX2+FMA) echo 2 ;;
  Sandybridge | Bulldozer | Piledriver | Steamroller | Excavator | AVX) echo 1 ;;
  Prescott | Core2 | Penryn | Dunnington | Nehalem | Atom | Barcelona | Opteron* | Bobcat | Nano | SSE) echo 0 ;;
  *) echo -1 ;;
  esac
}

# info [ENV=VALUE...]: runs lotto -e under env; sets KERNEL FORCED ISA CHECK CORE GUARD
info() {
  env "$@" "$LOTTO" -e 'local b = lotto.tensor.blas_info()
    print(b.kernel, tostring(b.forced), b.cpu_isa, b.check:match("^%S+"),
          os.getenv("OPENBLAS_CORETYPE") or "-", os.getenv("LOTTO_BLAS_REEXEC") or "-")' \
    </dev/null >"$TMP/out" 2>"$TMP/err"
  rc=$?
  read -r KERNEL FORCED ISA CHECK CORE GUARD <"$TMP/out"
}

# ---- --version ----
"$LOTTO" --version </dev/null >"$TMP/out" 2>"$TMP/err"
grep -qE '^BLAS: OpenBLAS [0-9]+\.[0-9]+\.[0-9]+, kernel [A-Za-z0-9_]+ \(chosen by (OpenBLAS|lotto)\), [0-9]+ threads?, self-check ok$' "$TMP/out" ||
  fail "--version lacks the BLAS line"
grep -qE '^CPU: .*(AVX-512|AVX2\+FMA|AVX|SSE)$' "$TMP/out" || fail "--version lacks the CPU line"
[ -s "$TMP/err" ] && fail "--version with no environment should print no warning"

# ---- no environment: never a kernel older than the CPU ----
info
[ "$rc" = 0 ] || fail "lotto -e blas_info exited $rc"
echo "no environment: kernel $KERNEL (forced: $FORCED), CPU $ISA, self-check $CHECK"
[ "$CHECK" = ok ] || fail "self-check: $CHECK"
have=$(tier "$ISA")
runs=$(tier "$KERNEL")
if [ "$runs" -lt 0 ]; then
  echo "note: kernel '$KERNEL' is not in the test's table; its tier is not checked"
elif [ "$runs" -lt "$have" ]; then
  fail "kernel $KERNEL is older than the CPU ($ISA)"
fi
if [ "$have" -ge 2 ] && [ "$runs" -ge 0 ] && [ "$runs" -lt 2 ]; then
  fail "a generic kernel ($KERNEL) on a CPU with $ISA"
fi

if [ "$have" -lt 1 ]; then
  echo "this CPU has no AVX: OpenBLAS's generic kernels are its best; the re-execution is not exercised"
  [ "$fails" -eq 0 ] || exit 1
  exit 77
fi
best=$(case $have in 3) echo SkylakeX ;; 2) echo Haswell ;; 1) echo Sandybridge ;; esac)

# ---- the user's OPENBLAS_CORETYPE is respected, with a warning ----
info OPENBLAS_CORETYPE=Prescott
[ "$KERNEL $FORCED" = "Prescott user" ] || fail "OPENBLAS_CORETYPE=Prescott gave '$KERNEL $FORCED'"
grep -q 'warning: OPENBLAS_CORETYPE=Prescott: .*slower than this CPU' "$TMP/err" || fail "no warning for a slow user kernel"

# ---- a library really started on a generic kernel: lotto re-executes with the CPU's ----
info OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override
[ "$KERNEL $FORCED" = "$best lotto" ] || fail "override from Prescott gave '$KERNEL $FORCED', expected '$best lotto'"
[ "$CORE $GUARD" = "$best $best" ] || fail "after re-executing, OPENBLAS_CORETYPE=$CORE LOTTO_BLAS_REEXEC=$GUARD"
[ -s "$TMP/err" ] && fail "a successful re-execution should print nothing"
OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override "$LOTTO" --version </dev/null >"$TMP/out" 2>"$TMP/err"
grep -q "kernel $best (chosen by lotto)" "$TMP/out" || fail "--version after re-executing"

# ---- the guard: never a second re-execution ----
info OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override LOTTO_BLAS_REEXEC=$best
[ "$KERNEL" = Prescott ] || fail "with the guard set lotto re-executed anyway (kernel $KERNEL)"

# ---- lotto's choice inherited from a machine with a smaller CPU (a Slurm job inherits
# its submitter's environment): raised to this CPU's ----
if [ "$have" -ge 2 ]; then
  info OPENBLAS_CORETYPE=Sandybridge LOTTO_BLAS_REEXEC=Sandybridge
  [ "$KERNEL $FORCED" = "$best lotto" ] || fail "an inherited Sandybridge choice gave '$KERNEL $FORCED'"
fi

# ---- LOTTO_BLAS=library and a misspelt mode ----
info LOTTO_BLAS=library
[ "$FORCED" = false ] || fail "LOTTO_BLAS=library: forced $FORCED"
info LOTTO_BLAS=sometimes
grep -q "LOTTO_BLAS='sometimes' is not auto, library or override" "$TMP/err" || fail "misspelt LOTTO_BLAS not reported"

# ---- a user kernel beyond the CPU would die on an illegal instruction: replaced ----
if [ "$have" -lt 3 ]; then
  info OPENBLAS_CORETYPE=SkylakeX
  [ "$rc" = 0 ] || fail "OPENBLAS_CORETYPE=SkylakeX on a CPU without AVX-512 exited $rc"
  [ "$KERNEL $FORCED" = "$best lotto" ] || fail "OPENBLAS_CORETYPE=SkylakeX without AVX-512 gave '$KERNEL $FORCED'"
  grep -q 'needs AVX-512, which this CPU (or OS) lacks; using' "$TMP/err" || fail "no warning for a kernel beyond the CPU"
fi

# ---- every mode of the host survives the re-execution ----
printf 'print(select("#", ...), arg[1], arg[2], arg[0]:match("[^/]*$"))\n' >"$TMP/args.lua"
OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override "$LOTTO" "$TMP/args.lua" one 'two words' </dev/null >"$TMP/out" 2>"$TMP/err"
[ "$(cat "$TMP/out")" = "$(printf '2\tone\ttwo words\targs.lua')" ] || fail "script arguments across the re-execution"
printf 'print(6 * 7, lotto.tensor.blas_info().kernel)\n' |
  OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override "$LOTTO" >"$TMP/out" 2>"$TMP/err"
[ "$(cat "$TMP/out")" = "$(printf '42\t%s' "$best")" ] || fail "a script on stdin across the re-execution"
printf 'x = 6\n x * 7\n' | OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override "$LOTTO" -i >"$TMP/out" 2>"$TMP/err"
grep -q 'lotto> 42' "$TMP/out" || fail "the REPL (-i) across the re-execution"
OPENBLAS_CORETYPE=Prescott LOTTO_BLAS=override "$LOTTO" plot "$TMP/no_such_run" </dev/null >"$TMP/out" 2>"$TMP/err"
grep -q '^lotto plot: ' "$TMP/err" || fail "lotto plot across the re-execution"

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all BLAS kernel checks passed"
