#!/bin/sh
# scripts/bench_smallgemm/run.sh: does a small-matrix GEMM library beat OpenBLAS on
# LeNet-300-100's GEMMs (batch 60)? Builds gemm_floor.c against OpenBLAS (what lotto uses),
# BLIS and libxsmm, runs them alternately round by round at one thread, and prints CPU
# microseconds per training step's GEMMs and each library's time over OpenBLAS's in the same
# round (median over rounds). The checksums of the outputs must agree to float rounding.
# A benchmark: run it on an otherwise idle machine.
#   scripts/bench_smallgemm/run.sh [--rounds 5] [--steps 1000]
# Needs gcc and libopenblas-dev (make deps); BLIS and libxsmm are optional, not installed by
# make deps (sudo apt-get install libblis-dev libxsmm-dev); a missing one is skipped and named.
set -eu
rounds=5 steps=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --steps) steps=${2:?--steps needs a number}; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds$steps" in *[!0-9]*|'') echo "run.sh: --rounds and --steps take positive integers" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cc=${CC:-gcc}
flags="-O2 -march=native"
$cc $flags -o "$tmp/openblas" "$here/gemm_floor.c" -lopenblas
libs="openblas"
if [ -f /usr/include/x86_64-linux-gnu/blis.h ] || [ -f /usr/include/blis/blis.h ] || [ -f /usr/include/blis.h ]; then
  $cc $flags -DUSE_BLIS -I/usr/include/x86_64-linux-gnu -I/usr/include/blis -o "$tmp/blis" "$here/gemm_floor.c" -lblis -lm
  libs="$libs blis"
else
  echo "BLIS not installed (sudo apt-get install libblis-dev): skipped"
fi
if [ -f /usr/include/libxsmm_source.h ]; then
  # Debian ships libxsmm header-only, its sources in /usr/include/libxsmm, which
  # libxsmm_source.h includes as ../src/: give it that layout
  mkdir -p "$tmp/xs/inc" && ln -s /usr/include/libxsmm_source.h "$tmp/xs/inc/" && ln -s /usr/include/libxsmm "$tmp/xs/src"
  echo "building libxsmm (header-only, about 20 s)"
  $cc $flags -DNDEBUG -DUSE_XSMM -I"$tmp/xs/inc" -I/usr/include/libxsmm -o "$tmp/libxsmm" "$here/gemm_floor.c" \
    -lopenblas -lm -lpthread -ldl
  libs="$libs libxsmm libxsmm_keptWT"
else
  echo "libxsmm not installed (sudo apt-get install libxsmm-dev): skipped"
fi
export OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1 LIBXSMM_VERBOSE=0
echo "LeNet-300-100 step GEMMs, batch 60, 1 thread, CPU us per step (best of 3 x $steps steps); ratio = time / OpenBLAS's"
r=1
while [ "$r" -le "$rounds" ]; do
  line="round $r:"
  for l in $libs; do
    case $l in
      libxsmm_keptWT) out=$(WT_EACH_STEP=0 "$tmp/libxsmm" "$steps" 3 2>/dev/null) ;;
      *) out=$("$tmp/$l" "$steps" 3 2>/dev/null) ;;
    esac
    set -- $out
    echo "$l $r $2 $3" >> "$tmp/results"
    line="$line  $l $2 (sum $3)"
  done
  echo "$line"
  r=$((r + 1))
done
awk '
  { t[$1, $2] = $3; libs[$1] = 1; if ($2 > R) R = $2; sum[$1] = $4 }
  END {
    for (l in libs) {
      n = 0
      for (r = 1; r <= R; r++) { n++; v[n] = t[l, r] / t["openblas", r]; w[n] = t[l, r] }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) { if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
                                                               if (w[j] < w[i]) { x = w[i]; w[i] = w[j]; w[j] = x } }
      med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      medt = (n % 2) ? w[(n + 1) / 2] : (w[n / 2] + w[n / 2 + 1]) / 2
      d = sum[l] - sum["openblas"]; if (d < 0) d = -d
      ok = d <= 1e-5 * (sum["openblas"] < 0 ? -sum["openblas"] : sum["openblas"]) ? "outputs agree" : "OUTPUTS DIFFER"
      printf "%-16s median %8.1f us/step   %.2fx OpenBLAS (rounds %.2f-%.2f)  %s\n", l, medt, med, v[1], v[n], ok
    }
  }' "$tmp/results" | sort
echo "(libxsmm 1.17 JITs no transposed A: its forward needs W^T, transposed every step in 'libxsmm',"
echo " left out in 'libxsmm_keptWT' as if the engine kept its weights transposed)"
