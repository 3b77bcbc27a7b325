#!/bin/sh
# test_crossover_cache.sh: the machine's crossover rates, measured once and cached. A first
# auto decision with an empty cache measures them and writes them keyed by the BLAS kernel
# and thread count; a second run reads them (no new measurement); another thread count or
# another kernel's entry makes a new measurement beside the old ones; a corrupted cache is
# reported and replaced; LOTTO_CALIBRATE=0 measures nothing; a pinned run file decides alone;
# a cached scale no CPU gives is measured again, judged by the bound of the build that
# recorded it (a debug build's entries survive a release build's rewrite).
# The cache logic only: no timing is asserted.
# usage: sh tests/test_crossover_cache.sh path/to/lotto
LOTTO=${1:?usage: test_crossover_cache.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/xcache.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
export LOTTO_CACHE="$TMP/cache" LOTTO_CALIBRATE=1
fails=0
fail() {
  echo "FAIL: $*"
  for f in out err; do [ -s "$TMP/$f" ] && sed "s/^/    $f| /" "$TMP/$f"; done
  fails=$((fails + 1))
}
# run LUA: runs it, stdout in $TMP/out, stderr in $TMP/err
run() { "$LOTTO" -e "$1" >"$TMP/out" 2>"$TMP/err"; }
LOOK='local d, m, src = lotto.sparse.crossover_for(300, 784, 60)
local ms = lotto.sparse.machines()
local k = lotto.sparse.machine_key()
local mine
for _, e in ipairs(ms) do if e.blas == k and e.threads == lotto.tensor.get_threads() then mine = e end end
print(src, #ms, mine and string.format("%.17g %.17g", mine.dense_ns_per_mac, mine.sparse_scale) or "none", d)'

# 1. empty cache: measured, recorded for this kernel and 1 thread, written
run "lotto.tensor.set_threads(1) $LOOK" || fail "first run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = 1 ] && [ "$3" != none ] || fail "an empty cache should give measured machine rates (got: $*)"
first="$3 $4"
grep -q '"machines"' "$LOTTO_CACHE/crossover.json" 2>/dev/null || fail "the rates should be written to the cache"
grep -q '"threads":[[:space:]]*1' "$LOTTO_CACHE/crossover.json" || fail "the cache entry should name its thread count"
[ -s "$TMP/err" ] && fail "a first measurement should be silent"

# 2. second run: read from the cache, not measured again (a new measurement differs in the last bits)
run "lotto.tensor.set_threads(1) $LOOK" || fail "second run failed"
set -- $(cat "$TMP/out")
[ "$1 $2 $3 $4" = "machine 1 $first" ] || fail "a second run should read the cached rates (got: $*, first: $first)"

# 3. another thread count: measured beside the first
run "lotto.tensor.set_threads(2) $LOOK" || fail "two-thread run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = 2 ] || fail "2 threads should add a second entry (got: $*)"
n=$(grep -c '"blas"' "$LOTTO_CACHE/crossover.json")
[ "$n" = 2 ] || fail "the cache should hold 2 machine entries, holds $n"

# 4. another kernel's rates only: this kernel is measured, the other entry kept
cat >"$LOTTO_CACHE/crossover.json" <<'EOF'
{"format": "lotto.crossover", "entries": [],
 "machines": [{"blas": "SomeOtherCore", "threads": 1, "dense_ns_per_mac": 0.5, "sparse_scale": 2}]}
EOF
run "lotto.tensor.set_threads(1) $LOOK" || fail "other-kernel run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = 2 ] && [ "$3" != none ] || fail "rates of another kernel should not be used (got: $*)"
grep -q SomeOtherCore "$LOTTO_CACHE/crossover.json" || fail "the other kernel's entry should stay in the cache"

# 5. a corrupted cache: a message, a new measurement, a valid file again
printf '{"entries": [ {"rows": 3,' >"$LOTTO_CACHE/crossover.json"
run "lotto.tensor.set_threads(1) $LOOK" || fail "corrupted-cache run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = 1 ] || fail "a corrupted cache should be measured again (got: $*)"
grep -q "crossover.json" "$TMP/err" && grep -q "measuring the sparse crossover again" "$TMP/err" ||
  fail "a corrupted cache should be reported on stderr, naming the file"
run "assert(lotto.sparse.load_cache()); print(#lotto.sparse.machines())" || fail "the replaced cache should load"
[ "$(cat "$TMP/out")" = 1 ] || fail "the replaced cache should hold the new rates"
[ -s "$TMP/err" ] && fail "the replaced cache should load without a message"

# 6. LOTTO_CALIBRATE=0: nothing measured, nothing written
rm -rf "$LOTTO_CACHE"
LOTTO_CALIBRATE=0 run "lotto.tensor.set_threads(1) $LOOK" || fail "LOTTO_CALIBRATE=0 run failed"
set -- $(cat "$TMP/out")
[ "$1" = default ] && [ "$2" = 0 ] || fail "LOTTO_CALIBRATE=0 should keep the default model (got: $*)"
[ -e "$LOTTO_CACHE/crossover.json" ] && fail "LOTTO_CALIBRATE=0 should write no cache"

# 7. a pinned run file decides alone: its rates are used, none measured, even with an empty cache
K=$("$LOTTO" -e 'print((lotto.sparse.machine_key()))')
MAXSCALE=$("$LOTTO" -e 'print(select(2, lotto.sparse.machine_key()))')
printf '{"entries": [], "machines": [{"blas": "%s", "threads": 1, "dense_ns_per_mac": 5, "sparse_scale": 1}]}' "$K" >"$TMP/pin.json"
printf '{"entries": []}' >"$TMP/old.json"
run "lotto.tensor.set_threads(1)
local restore = lotto.sparse.pin('$TMP/pin.json')
local d, m, src = lotto.sparse.crossover_for(300, 784, 60)
restore()
local restore2 = lotto.sparse.pin('$TMP/old.json')
local d2, m2, src2 = lotto.sparse.crossover_for(300, 784, 60)
local n = #lotto.sparse.machines()
restore2()
print(src, d == 1, src2, n, lotto.sparse.autocalibrate())" || fail "pinned run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = true ] || fail "a pinned file's rates should decide (slow dense: crossover 1; got: $*)"
[ "$3" = default ] && [ "$4" = 0 ] || fail "a pinned file without rates should measure none while pinned (got: $*)"
[ "$5" = true ] || fail "restore() should turn auto calibration back on (got: $*)"

# 8. a cached scale this build's kernels cannot give (an older lotto recorded 50, measured on a
# busy machine) is dropped on load and measured again, in an optimised AVX2 build (bound 20;
# portable and debug builds accept up to 1000); a pinned file's is obeyed (resume stays stable)
mkdir -p "$LOTTO_CACHE"
if [ "$MAXSCALE" = 20.0 ] || [ "$MAXSCALE" = 20 ]; then
  printf '{"format": "lotto.crossover", "entries": [], "machines": [{"blas": "%s", "threads": 1, "dense_ns_per_mac": 0.03, "sparse_scale": 50}]}' "$K" >"$LOTTO_CACHE/crossover.json"
  run "lotto.tensor.set_threads(1) $LOOK" || fail "implausible-cache run failed"
  set -- $(cat "$TMP/out")
  [ "$1" = machine ] && [ "$2" = 1 ] && [ "$3" != none ] || fail "an implausible cached scale should be measured again (got: $*)"
  awk -v s="$4" 'BEGIN { exit !(s > 0 && s <= 20) }' || fail "the new scale should be plausible (got $4)"
  grep -Eq '"sparse_scale":[[:space:]]*50([,}[:space:]]|$)' "$LOTTO_CACHE/crossover.json" && fail "the implausible rate should be replaced in the cache"
else
  echo "note: a $K build accepts sparse scales up to $MAXSCALE: the implausible-cache case needs an optimised AVX2 build"
fi
printf '{"entries": [], "machines": [{"blas": "%s", "threads": 1, "dense_ns_per_mac": 0.03, "sparse_scale": 50}]}' "$K" >"$TMP/pin50.json"
run "lotto.tensor.set_threads(1)
local restore = lotto.sparse.pin('$TMP/pin50.json')
local _, _, src = lotto.sparse.crossover_for(300, 784, 60)
local m = lotto.sparse.machines()[1]
restore()
print(src, m and math.floor(m.sparse_scale))" || fail "pinned implausible run failed"
[ "$(cat "$TMP/out")" = "machine	50" ] || fail "a pinned run's rates are used as they are (got: $(cat "$TMP/out"))"

# 9. another build's entry is judged by its own key's bound: a release build (bound 20) that
# measures and saves keeps a debug build's scale of 470 in a cache they share
cat >"$LOTTO_CACHE/crossover.json" <<'EOF2'
{"format": "lotto.crossover", "entries": [],
 "machines": [{"blas": "OtherCore+portable+debug", "threads": 1, "dense_ns_per_mac": 0.03, "sparse_scale": 470}]}
EOF2
run "lotto.tensor.set_threads(1) $LOOK" || fail "shared-cache run failed"
set -- $(cat "$TMP/out")
[ "$1" = machine ] && [ "$2" = 2 ] && [ "$3" != none ] || fail "this build should measure beside the debug build's entry (got: $*)"
grep -Eq '"sparse_scale":[[:space:]]*470([,}[:space:]]|$)' "$LOTTO_CACHE/crossover.json" ||
  fail "a debug build's entry should stay in the cache a release build rewrites"

[ "$fails" = 0 ] && echo "ok: crossover cache" || exit 1
