#!/bin/sh
# test_sweep.sh: `lotto sweep` with the local backend on a tiny LeNet grid (2 cells x
# 2 seeds): a serial run (--jobs 1) is the reference; a run with --jobs 2 is stopped
# with SIGTERM and then Ctrl-C (SIGINT to the parent only, as a terminal sends it: the
# workers are in their own process groups) after some rounds, leaves no worker behind,
# exits 75, and two reruns resume it to results bit-identical to the reference. Also:
# a failing unit, a changed base config, status, collect, --help.
# usage: sh tests/test_sweep.sh path/to/lotto
LOTTO=${1:?usage: test_sweep.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
"$LOTTO" -e "os.exit(lotto.data.available('mnist') and 0 or 1)" || {
  echo "SKIP: MNIST not found (make data, or set LOTTO_DATA)"; exit 77; }
BASE=${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}
mkdir -p "$BASE"
T=$(mktemp -d "$(cd "$BASE" && pwd)/sweep.XXXXXX") || exit 1
fails=0
trap '[ $fails = 0 ] && rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cd "$T" || exit 1

cat > sweep.lua <<'EOF'
local ASAN = os.getenv('LOTTO_ASAN') ~= nil -- sanitizer builds run ~30x slower
return {
  name = 'tiny', root = os.getenv('SWEEP_ROOT'), threads = 1,
  base = { model = 'lenet300', model_opts = { hidden = { 16 } }, data = 'mnist', data_opts = { val = 1000 },
           iterations = ASAN and 150 or 1200, eval_every = ASAN and 50 or 300, rounds = 4, controls = {}, batch = 60 },
  grid = { ['prune.rate'] = { 0.3, 0.5 } },
  seeds = { 1, 2 },
}
EOF

"$LOTTO" sweep --help > help.out; rc=$?
[ $rc = 0 ] && grep -q 'lotto sweep status' help.out && grep -q -- '--backend local|slurm' help.out || fail "lotto sweep --help"
"$LOTTO" sweep > /dev/null 2>&1 && fail "lotto sweep without arguments should fail"
for sub in status collect unit; do
  "$LOTTO" sweep $sub --help | grep -q "lotto sweep $sub" || fail "lotto sweep $sub --help"
done
"$LOTTO" sweep nosuch.lua > nosuch.out 2>&1 && fail "a missing script should fail"
grep -q 'nosuch.lua' nosuch.out || fail "a missing script is not named"
"$LOTTO" sweep unit "$T/nothing" 'a/1' > unit.out 2>&1 && fail "unit of a missing sweep should fail"
grep -q 'not a sweep directory' unit.out || { cat unit.out; fail "unit of a missing sweep: message"; }

SWEEP_ROOT=$T/ref "$LOTTO" sweep sweep.lua --jobs 1 > ref.out 2>&1 || { cat ref.out; fail "serial sweep"; }
grep -q '4 done, 0 failed' ref.out || { cat ref.out; fail "serial sweep summary"; }
grep -q 'per unit [0-9.]* s mean, overhead [0-9]* ms mean' ref.out || { cat ref.out; fail "no per-unit times"; }
grep -q 'wrote .*/plots/by_prune_rate' ref.out || fail "no plot per swept parameter"

# stop a parallel run twice (SIGTERM, then SIGINT) once some rounds are done
stop_after_round() { # $1 signal, $2 round that must exist first
  SWEEP_ROOT=$T/par "$LOTTO" sweep sweep.lua --jobs 2 > "par_$1.out" 2>&1 &
  pid=$!
  i=0
  until ls "$T"/par/tiny/*/replicate_*/replicate_*/round_$2/summary.json > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 3600 ] && break; sleep 0.05
  done
  kill -"$1" $pid
  wait $pid; rc=$?
  [ $rc = 75 ] || { cat "par_$1.out"; fail "SIG$1: exit status $rc, expected 75"; }
  grep -q 'stopping 2 workers' "par_$1.out" || { cat "par_$1.out"; fail "SIG$1: workers not stopped"; }
  for st in "$T"/par/tiny/*/*.state.json; do
    p=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$st")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && fail "SIG$1: worker $p still running"
  done
}
stop_after_round TERM 1
grep -q '"state": "interrupted"' "$T"/par/tiny/prune.rate=0.3/replicate_1.state.json || fail "TERM: unit not marked interrupted"
"$LOTTO" sweep status "$T/par/tiny" > status.out
grep -q 'pending  interrupted after [1-9] rounds; resumes' status.out || { cat status.out; fail "status after TERM"; }
stop_after_round INT 3
SWEEP_ROOT=$T/par "$LOTTO" sweep sweep.lua --jobs 2 > par.out 2>&1 || { cat par.out; fail "resumed sweep"; }
grep -q '(resumed)' par.out || fail "the rerun did not say it resumed"
cmp "$T/ref/tiny/results.json" "$T/par/tiny/results.json" || fail "results.json: interrupted twice and resumed != serial"
for f in $(cd "$T/ref/tiny" && find . -name '*.safetensors' | sort); do
  cmp -s "$T/ref/tiny/$f" "$T/par/tiny/$f" || fail "$f differs"
done
grep -q '"attempt": 3' "$T"/par/tiny/prune.rate=0.3/replicate_1.state.json || fail "unit not on its third attempt"
"$LOTTO" sweep status "$T/par/tiny" > status.out
grep -q '4 units: 4 done, 0 running, 0 failed, 0 pending' status.out || { cat status.out; fail "status when done"; }

# a unit that fails: its error line in status; exit status 1; collect says what is missing
sed 's/seeds = { 1, 2 },/seeds = { 1, 2 }, cells = { { batch = 0 } },/' sweep.lua > bad.lua
SWEEP_ROOT=$T/par "$LOTTO" sweep bad.lua --jobs 2 > bad.out 2>&1; rc=$?
[ $rc = 1 ] || { cat bad.out; fail "a failed unit: exit status $rc, expected 1"; }
grep -q "FAILED  batch=0/1  lotto.ticket: option 'batch' must be a positive integer" bad.out || { cat bad.out; fail "failed unit line"; }
"$LOTTO" sweep status "$T/par/tiny" > status.out
grep -q "batch=0/2 *failed *lotto.ticket: option 'batch' must be a positive integer (got 0)" status.out || { cat status.out; fail "status of a failed unit"; }
"$LOTTO" sweep collect "$T/par/tiny" > collect.out 2>&1 || fail "collect of a partial sweep"
grep -q 'collected 4 of 6 units (3 cells)' collect.out && grep -q 'missing batch=0/1: failed' collect.out || { cat collect.out; fail "partial collect"; }

# a changed base config is refused, naming the key
sed 's/batch = 60 }/batch = 50 }/' sweep.lua > changed.lua
SWEEP_ROOT=$T/par "$LOTTO" sweep changed.lua > changed.out 2>&1 && fail "a changed base was accepted"
grep -q 'different config (base.batch: 60 -> 50)' changed.out || { cat changed.out; fail "changed base message"; }
"$LOTTO" sweep status "$T/nothing" > /dev/null 2>&1 && fail "status of a missing sweep should fail"

# A second attempt at a unit whose run another process holds (a requeued Slurm task beside
# its first attempt) exits 75 (try again), says so, and leaves the first one's status alone.
SWEEP_ROOT=$T/lk "$LOTTO" sweep sweep.lua --jobs 1 > lk.out 2>&1 &
lkpid=$!
st="$T/lk/tiny/prune.rate=0.3/replicate_1.state.json"
for i in $(seq 1 600); do
  [ -f "$T/lk/tiny/prune.rate=0.3/replicate_1/lock" ] && grep -q '"running"' "$st" 2>/dev/null && break
  sleep 0.1
done
"$LOTTO" sweep unit "$T/lk/tiny" 'prune.rate=0.3/1' > lk2.out 2>&1; rc=$?
[ $rc = 75 ] || fail "a second attempt at a locked unit should exit 75, got $rc: $(cat lk2.out)"
grep -q -e 'locked by process' -e 'is running in process' lk2.out || fail "the second attempt does not say who holds the unit: $(cat lk2.out)"
grep -q '"running"' "$st" || fail "the second attempt changed the first one's status: $(cat "$st")"
kill -TERM $lkpid 2>/dev/null; wait $lkpid 2>/dev/null

[ $fails = 0 ] && echo PASS
[ $fails = 0 ]
