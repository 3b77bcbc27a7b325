#!/bin/sh
# run.sh BUILD [SECONDS]: runs each libFuzzer harness built in BUILD (make fuzz) for SECONDS
# (default 60) on its corpus (BUILD/fuzz/corpus/<name>, kept between runs) and the seeds
# fuzz_seeds writes. Prints one summary line per harness; on a crash, leak, UB or failed
# check prints the reproducer and the command that replays it, and exits 1.
usage="usage: sh tests/fuzz/run.sh BUILD [SECONDS]"
case ${1:-} in -h | --help) echo "$usage"; exit 0 ;; "") echo "$usage" >&2; exit 2 ;; esac
B=$(cd "$1" && pwd) || exit 2
S=${2:-60}
case $S in '' | *[!0-9]*) S=x ;; esac
[ "$S" != x ] && [ "$S" -ge 1 ] || { echo "run.sh: SECONDS must be a whole number >= 1 (libFuzzer reads 0 as no limit)" >&2; exit 2; }
BIN=$B/tests/fuzz
W=$B/fuzz
rm -rf "$W/seeds"
mkdir -p "$W/seeds" "$W/corpus" "$W/artifacts" || exit 1
"$BIN/fuzz_seeds" "$W/seeds" || { echo "fuzz: fuzz_seeds failed" >&2; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
for h in safetensors json idx cifar sparse; do
  case $h in cifar) max=8192 ;; json) max=4096 ;; *) max=16384 ;; esac
  mkdir -p "$W/corpus/$h" "$W/artifacts/$h"
  log=$W/$h.log
  "$BIN/fuzz_$h" -max_total_time="$S" -max_len=$max -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$W/artifacts/$h/" "$W/corpus/$h" "$W/seeds/$h" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(ls "$W/corpus/$h" | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$h: ok, ${runs:-?} inputs in ${S}s, coverage ${cov:-?} edges, corpus $corpus files"
    passed=$((passed + 1))
  else
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz_$h: FAILED (exit $rc) after ${runs:-?} inputs"
    echo "  reproducer: ${repro:-none written (see $log)}"
    [ -n "$repro" ] && echo "  replay: $BIN/fuzz_$h $repro"
    echo "  log: $log; its end:"
    grep -v '^#[0-9]' "$log" | tail -30 | sed 's/^/  | /'
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
