#!/bin/sh
# test_surface.sh: what a researcher meets first. Every example and `lotto plot` answer
# --help/-h on stdout with exit 0; a config typo is one line with the suggestion and no
# traceback (LOTTO_TRACEBACK=1 and -v add it; a real bug always has one); LOTTO_DATA
# without the data set names the folder and the layout; off a terminal the progress is
# plain lines without \r or escape codes; Ctrl-C prints what was saved and the command
# that resumes (without --restart).
# usage: sh tests/test_surface.sh path/to/lotto
LOTTO=${1:?usage: test_surface.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/surface.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
HOME=$TMP
export HOME
unset LOTTO_LUA_PATH LUA_PATH LUA_PATH_5_4 LUA_INIT LOTTO_TRACEBACK LOTTO_PROGRESS_SECONDS
cd "$TMP" || exit 1
fails=0

fail() {
  echo "FAIL: $*"
  for f in out err; do [ -s "$TMP/$f" ] && sed "s/^/    $f| /" "$TMP/$f" | head -20; done
  fails=$((fails + 1))
}
run() {
  "$LOTTO" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  rc=$?
}
rc_is() { [ "$rc" = "$1" ] || fail "$2: exit status $rc, expected $1"; }
out_has() { grep -qE -- "$1" "$TMP/out" || fail "$2: stdout lacks /$1/"; }
err_has() { grep -qE -- "$1" "$TMP/err" || fail "$2: stderr lacks /$1/"; }
err_lacks() { ! grep -qE -- "$1" "$TMP/err" || fail "$2: stderr has /$1/"; }
err_lines() { n=$(wc -l <"$TMP/err"); [ "$n" = "$1" ] || fail "$2: $n lines on stderr, expected $1"; }

# ---- --help of every example and command ----
n=0
for ex in "$SRC"/examples/*.lua; do
  name=examples/$(basename "$ex")
  for flag in --help -h; do
    run "$ex" $flag
    rc_is 0 "$name $flag"
    head -1 "$TMP/out" | grep -q "^usage: lotto $name" || fail "$name $flag: stdout does not open with its usage"
    out_has '^options:' "$name $flag"
    out_has '^  -h, --help' "$name $flag"
    out_has '^scales \((estimated time on a 2-core machine|CPU time with LOTTO_THREADS=1, measured or estimated as marked)\):' "$name $flag"
    [ -s "$TMP/err" ] && fail "$name $flag: wrote to stderr"
  done
  n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n examples found in $SRC/examples"
run "$SRC/examples/lenet_imp.lua" --ful
rc_is 1 'a typo of an example option'
err_has "unknown option '--ful' \(did you mean '--full'\?\)" 'a typo of an example option'
err_lines 1 'a typo of an example option'

run plot --help
rc_is 0 'lotto plot --help'
out_has '^usage: lotto plot <rundir>' 'lotto plot --help'
out_has '--format FORMAT .*pdf' 'lotto plot --help lists pdf'
for form in '--format svg' '--format=svg'; do
  run plot nosuch $form
  rc_is 1 "lotto plot nosuch $form"
  err_has 'not a run directory' "lotto plot nosuch $form: the option parsed, the directory checked"
done
run plot nosuch --fromat=svg
err_has "did you mean '--format'" 'lotto plot: a typo of --format'

# ---- lotto run <config>: a Lua config (functions allowed), a JSON one (data only) ----
run run --help
rc_is 0 'lotto run --help'
out_has '^usage: lotto run <config.lua \| config.json>' 'lotto run --help'
cat >cfg.lua <<'EOF'
local toy = function(seed) return lotto.data.sum_of_two { n = 32, seed = seed } end
return { name = 'cfgtoy', loss = 'mse', optimizer = { kind = 'sgd', lr = 0.05 }, batch = 16, iterations = 20,
  eval_every = 10, rounds = 1, prune = { rate = 0.5 }, controls = {}, plots = false, progress = false,
  model = function() return lotto.nn.model(lotto.nn.sequential { lotto.nn.linear(2, 8), lotto.nn.linear(8, 1) }, { input = { 2 } }) end,
  data = function() return { train = toy(1), val = toy(2), test = toy(3) } end }
EOF
run run cfg.lua
rc_is 0 'lotto run cfg.lua'
out_has '^1 +50\.[0-9]+%' 'lotto run prints the results table'
[ -f runs/cfgtoy/replicate_1/round_1/summary.json ] || fail 'lotto run cfg.lua: no round 1'
run run runs/cfgtoy/config.json
rc_is 1 'lotto run of a config.json holding functions'
err_has "option '(model|data)' was a Lua function, which JSON cannot hold" 'lotto run config.json with functions'

# ---- user errors: one line, no traceback; tracebacks when asked and for bugs ----
cat >typo.lua <<'EOF'
lotto.ticket.imp { name = 'typo', model = 'lenet300', data = { train = lotto.data.sum_of_two { n = 8 } },
  prune = { rat = 0.2 }, plots = false, verbose = false }
EOF
run typo.lua
rc_is 1 'config typo'
err_has "typo.lua:1: lotto.ticket: option 'prune': .*unknown option 'rat' \(did you mean 'rate'\?\)" 'config typo'
err_lines 1 'config typo'
err_lacks 'traceback' 'config typo'
[ -e runs/typo ] && fail 'config typo: the run directory was created'
LOTTO_TRACEBACK=1 run typo.lua
err_has "did you mean 'rate'" 'LOTTO_TRACEBACK=1'
err_has 'stack traceback' 'LOTTO_TRACEBACK=1'
run -v typo.lua
err_has 'stack traceback' 'lotto -v'
printf 'local t = nil\nprint(t.x)\n' >bug.lua
run bug.lua
err_has "attempt to index a nil value" 'a real bug'
err_has 'stack traceback' 'a real bug keeps its traceback'

# ---- LOTTO_DATA without the data set ----
mkdir empty
LOTTO_DATA=$TMP/empty run -e "lotto.data.mnist()"
rc_is 1 'LOTTO_DATA without MNIST'
err_has "MNIST not found under LOTTO_DATA=$TMP/empty: expected <data>/mnist/\{train-images-idx3-ubyte" 'LOTTO_DATA names the folder and layout'
err_lacks 'traceback' 'LOTTO_DATA'

# ---- progress off a terminal: plain lines, no \r, no escape codes ----
cat >prog.lua <<'EOF'
local m = lotto.nn.model(lotto.nn.sequential { lotto.nn.linear(2, 8), lotto.nn.relu(), lotto.nn.linear(8, 1) }, { input = { 2 } })
m:init { seed = 1 }
lotto.train.fit(m, { train = lotto.data.sum_of_two { n = 64 } }, { optimizer = { kind = 'sgd', lr = 0.01 },
  batch = 8, iterations = 40, eval_every = 20, progress_label = 'seed 1 · round 2/3 · ticket' })
EOF
LOTTO_PROGRESS_SECONDS=0 run prog.lua
rc_is 0 'progress off a terminal'
out_has '^progress: seed 1 · round 2/3 · ticket \| [0-9]+/40 ' 'plain labelled progress lines'
if LC_ALL=C grep -q "$(printf '\r')" "$TMP/out" || LC_ALL=C grep -q "$(printf '\033')" "$TMP/out"; then
  fail 'progress off a terminal: a carriage return or an escape code in the log'
fi

# ---- Ctrl-C: one line, what was saved, the command that resumes ----
cat >long.lua <<'EOF'
local run = assert(lotto.experiment.open { root = 'runs', name = 'long', config = { a = 1 } })
run:begin_round(1, 0)
assert(run:write_summary(1, 0, { round = 0 }))
local f = io.open('ready', 'w'); f:close()
while true do end
EOF
"$LOTTO" long.lua --restart --x >"$TMP/out" 2>"$TMP/err" </dev/null &
pid=$!
i=0
while [ ! -e ready ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
rc_is 1 'Ctrl-C'
err_lines 1 'Ctrl-C'
err_has "^lotto: interrupted; saved runs/long/ up to seed 1 round 0 .*; resume with: $LOTTO long.lua --x$" 'Ctrl-C'
err_lacks 'traceback' 'Ctrl-C'

# ---- the REPL ends on exit() and quit, as python and R users type ----
for word in 'exit()' quit; do
  printf '%s\nprint(12345)\n' "$word" | "$LOTTO" -i >"$TMP/out" 2>"$TMP/err"
  rc=$?
  rc_is 0 "REPL $word"
  grep -q 12345 "$TMP/out" && fail "REPL $word: the session went on"
done

# ---- REPL history: a statement typed over three lines comes back whole with the up arrow ----
if command -v python3 >/dev/null 2>&1; then
  cat >pty_hist.py <<'EOF'
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]])
def read_for(t):
    out, end = b'', time.time() + t
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try: out += os.read(fd, 4096)
            except OSError: break
    return out
def wait_for(s, t=20):
    out, end = b'', time.time() + t
    while s not in out and time.time() < end: out += read_for(0.1)
    return out
wait_for(b'lotto> ')
for line in (b'for i = 1, 2 do', b'  print(i * 111)', b'end'):
    os.write(fd, line + b'\r'); wait_for(b'> ')
wait_for(b'222')
wait_for(b'lotto> ', 2)
os.write(fd, b'\x1b[A\r')
out = wait_for(b'222')
os.write(fd, b'\x04'); read_for(0.5)
sys.exit(0 if b'222' in out and b'error' not in out else 1)
EOF
  python3 pty_hist.py "$LOTTO" || fail 'REPL history: the up arrow did not bring back the whole for loop'
else
  echo "test_surface.sh: python3 not found, REPL history check skipped"
fi

[ $fails -eq 0 ] && echo "test_surface.sh: all passed" && exit 0
echo "test_surface.sh: $fails failed"
exit 1
