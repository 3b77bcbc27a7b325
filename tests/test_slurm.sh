#!/bin/sh
# test_slurm.sh: the sweep's Slurm backend on a real one-node Slurm cluster that this
# script starts in a temporary directory with scripts/slurm_local.sh (munge key,
# slurm.conf naming this host with its CPUs and memory, munged, slurmctld, slurmd, all
# with their pid and state files there) and stops on exit, by pid. A tiny LeNet grid
# (2 cells x 2 seeds) runs with the local backend, then as a job array; the collected
# results must be bit-identical. A
# second submission has one running unit cancelled (scancel: SIGTERM), is resubmitted,
# resumes that unit and must again match. Skipped (exit 77) where no cluster can start.
LOTTO=$(cd "$(dirname "${1:-build/lotto}")" && pwd)/$(basename "${1:-build/lotto}")
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }

SRC=$(cd "$(dirname "$0")/.." && pwd)
"$LOTTO" -e "os.exit(lotto.data.available('mnist') and 0 or 1)" || skip "MNIST not found (make data, or set LOTTO_DATA)"
BASE=${LOTTO_TEST_TMP:-/tmp}
mkdir -p "$BASE"
T=$(mktemp -d "$(cd "$BASE" && pwd)/slurm.XXXXXX") || skip "no temporary directory"
chmod 711 "$T"
FAILED=0
cleanup() {
  sh "$SRC/scripts/slurm_local.sh" stop "$T/cluster"
  [ "$FAILED" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the cluster (scripts/slurm_local.sh: root, munge and slurm daemons, or exit 77) --
CONF=$(sh "$SRC/scripts/slurm_local.sh" start "$T/cluster")
case $? in
  0) eval "$CONF" ;;
  77) KEEP=; FAILED=0; skip "no one-node Slurm cluster here (the reason is above)" ;;
  *) FAILED=1; echo "FAIL: slurm_local.sh start"; exit 1 ;;
esac
echo "cluster up: $(sinfo -h -o '%P %D nodes %C cpus(A/I/O/T) %T')"

# ---- the sweep ----------------------------------------------------------------------
# 2 cells x 2 seeds of a tiny LeNet, 5 rounds: a few seconds a unit, long enough to
# cancel one in the middle.
cd "$T" || exit 1
cat > sweep.lua <<'EOF'
local ASAN = os.getenv('LOTTO_ASAN') ~= nil -- sanitizer builds run ~30x slower
return {
  name = 'tiny', root = os.getenv('SWEEP_ROOT'), threads = 1,
  base = { model = 'lenet300', model_opts = { hidden = { 16 } }, data = 'mnist', data_opts = { val = 1000 },
           iterations = ASAN and 150 or 1200, eval_every = ASAN and 50 or 300, rounds = 5, controls = {}, batch = 60 },
  grid = { ['prune.rate'] = { 0.3, 0.5 } },
  seeds = { 1, 2 },
  slurm = { time = '00:10:00' },
}
EOF

SWEEP_ROOT=$T/local "$LOTTO" sweep sweep.lua --backend local --jobs 2 > local.out 2>&1 || { cat local.out; fail "local sweep"; }
grep -q 'collected 4 of 4 units' local.out || { cat local.out; fail "local sweep did not collect 4 units"; }

# dry run: the script and the unit list, nothing submitted or written
SWEEP_ROOT=$T/dry "$LOTTO" sweep sweep.lua --backend slurm --dry-run > dry.out 2>&1 || { cat dry.out; fail "dry run"; }
grep -q '^#SBATCH --array=0-3$' dry.out || { cat dry.out; fail "dry run: no --array=0-3 line"; }
grep -q '^#SBATCH --time=00:10:00$' dry.out || fail "dry run: slurm.time not in the script"
[ -e "$T/dry" ] && fail "dry run wrote $T/dry"
[ -z "$(squeue -h)" ] || fail "dry run submitted a job"

# the same sweep as a job array, waited for and collected
SWEEP_ROOT=$T/slurm "$LOTTO" sweep sweep.lua --backend slurm --wait > slurm.out 2>&1 || { cat slurm.out; fail "slurm sweep"; }
JOB=$(sed -n 's/^submitted job array \([0-9]*\).*/\1/p' slurm.out)
[ -n "$JOB" ] || { cat slurm.out; fail "no job id printed"; }
grep -q 'collected 4 of 4 units' slurm.out || { cat slurm.out; fail "slurm sweep did not collect 4 units"; }
grep -q "job $JOB done [0-9.]* s after submission: 4 units done, 0 failed; per unit" slurm.out || { cat slurm.out; fail "no timing summary"; }
cmp "$T/local/tiny/results.json" "$T/slurm/tiny/results.json" || fail "results.json of slurm and local differ"
for u in 'prune.rate=0.3' 'prune.rate=0.5'; do
  for s in 1 2; do
    for r in 0 1 2 3 4 5; do
      f="$u/replicate_$s/replicate_$s/round_$r/final.safetensors"
      cmp -s "$T/local/tiny/$f" "$T/slurm/tiny/$f" || fail "$f differs between local and slurm"
    done
  done
done
grep -q '"job": "'"$JOB"'_' "$T/slurm/tiny/prune.rate=0.3/replicate_1.state.json" || fail "unit state has no Slurm job id"
echo "slurm backend: job $JOB, results bit-identical to the local backend"

# cancel a running unit after its first pruning round, resubmit, resume
SWEEP_ROOT=$T/cancel "$LOTTO" sweep sweep.lua --backend slurm > cancel.out 2>&1 || { cat cancel.out; fail "submission"; }
UNIT="$T/cancel/tiny/prune.rate=0.3/replicate_1"
i=0
until [ -f "$UNIT/replicate_1/round_1/summary.json" ]; do
  i=$((i + 1)); [ $i -gt 1800 ] && break; sleep 0.1
done
TASK=$(sed -n 's/.*"job": "\([0-9_]*\)".*/\1/p' "$UNIT.state.json")
[ -n "$TASK" ] || fail "the unit never started under Slurm"
scancel "$TASK"
i=0
until grep -q '"state": "interrupted"' "$UNIT.state.json" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 600 ] && break; sleep 0.1
done
grep -q '"state": "interrupted"' "$UNIT.state.json" || { cat "$UNIT.state.json"; fail "the cancelled unit did not record 'interrupted' (SIGTERM)"; }
i=0; while [ $i -lt 1500 ] && [ -n "$(squeue -h)" ]; do sleep 0.2; i=$((i + 1)); done
"$LOTTO" sweep status "$T/cancel/tiny" > status.out
grep -q '3 done, 0 running, 0 failed, 1 pending' status.out || { cat status.out; fail "status after the cancel"; }
grep -q 'interrupted after' status.out || { cat status.out; fail "status does not say the unit was interrupted"; }
SWEEP_ROOT=$T/cancel "$LOTTO" sweep sweep.lua --backend slurm --wait > resume.out 2>&1 || { cat resume.out; fail "resubmission"; }
grep -q '3 done, 0 running elsewhere, 1 to run' resume.out || { cat resume.out; fail "resubmission did not pick the one unfinished unit"; }
grep -q '"attempt": 2' "$UNIT.state.json" || fail "the resumed unit is not on its second attempt"
grep -q '"resumed_rounds": [1-9]' "$UNIT.state.json" || { cat "$UNIT.state.json"; fail "the unit restarted instead of resuming"; }
cmp "$T/local/tiny/results.json" "$T/cancel/tiny/results.json" || fail "results after cancel + resume differ from the local run"
echo "scancel + resubmit: unit $TASK resumed ($(grep -o '"resumed_rounds": [0-9]*' "$UNIT.state.json")), results bit-identical"

# Slurm's own record (job completion data: this cluster has no accounting database;
# array tasks are listed by their own job ids)
sacct -c -o JobID,JobName,State,ExitCode,Elapsed,NodeList 2>/dev/null > sacct.out
cat sacct.out
[ "$(grep -c ' COMPLETED ' sacct.out)" = 8 ] || fail "sacct -c: not 8 completed tasks (4 + 3 + the resumed one)"
[ "$(grep -c ' CANCELLED ' sacct.out)" = 1 ] || fail "sacct -c: not 1 cancelled task"

if [ "$FAILED" != 0 ]; then
  KEEP=1
  echo "logs kept in $T"
  exit 1
fi
echo "PASS"
