#!/bin/sh
# test_cli.sh: the lotto command line, as a user expects from lua: --version, --help,
# -e, scripts with arguments, stdin, errors with file:line, exit codes, module paths.
# usage: sh tests/test_cli.sh path/to/lotto
LOTTO=${1:?usage: test_cli.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/cli.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
HOME=$TMP
export HOME
unset LOTTO_LUA_PATH LUA_PATH LUA_PATH_5_4 LUA_INIT
fails=0

fail() {
  echo "FAIL: $*"
  for f in out err; do [ -s "$TMP/$f" ] && sed "s/^/    $f| /" "$TMP/$f"; done
  fails=$((fails + 1))
}

# run ARGS...: runs lotto (stdin from /dev/null unless redirected), sets $rc, $TMP/out, $TMP/err
run() {
  "$LOTTO" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
out_is() { [ "$(cat "$TMP/out")" = "$1" ] || fail "$2: stdout is not '$1'"; }
out_has() { grep -qE -- "$1" "$TMP/out" || fail "$2: stdout lacks /$1/"; }
err_has() { grep -qE -- "$1" "$TMP/err" || fail "$2: stderr lacks /$1/"; }
rc_is() { [ "$rc" = "$1" ] || fail "$2: exit status $rc, expected $1"; }

# ---- information ----
run --version </dev/null
rc_is 0 --version
out_has '^lotto [0-9]+\.[0-9]+\.[0-9]+ \(Lua 5\.4\.[0-9]+, OpenBLAS [0-9]' --version
run -v </dev/null
out_has '^lotto [0-9]' -v

run --help </dev/null
rc_is 0 --help
out_has '^usage: lotto' --help
for opt in ' -e ' ' -i ' ' -l ' ' -v' ' -h' 'plot <rundir>'; do
  grep -qF -- "$opt" "$TMP/out" || fail "--help does not mention '$opt'"
done

run --bogus </dev/null
[ "$rc" -ne 0 ] || fail "an unknown option should fail"
err_has "unrecognized option '--bogus'" --bogus
run -e </dev/null
[ "$rc" -ne 0 ] || fail "-e without a statement should fail"

# ---- -e ----
run -e 'print(1 + 2)' </dev/null
rc_is 0 -e
out_is 3 -e
run -e 'x = 20' -e 'print(x + 1)' </dev/null
out_is 21 "repeated -e"
run -e 'print(type(lotto), type(help), LOTTO_VERSION ~= nil)' </dev/null
out_is "$(printf 'table\tfunction\ttrue')" "globals"
run -e 'x = = 1' </dev/null
[ "$rc" -ne 0 ] || fail "-e with a syntax error should fail"
err_has '^lotto: .*unexpected symbol' "-e syntax error"
run -e 'os.exit(3)' </dev/null
rc_is 3 "os.exit(3)"

# ---- scripts ----
cat >"$TMP/args.lua" <<'EOF'
print(arg[0]:match('[^/]*$'), arg[1], arg[2], #arg, select('#', ...), ...)
print(arg[-1] and arg[-1]:match('lotto$') ~= nil)
EOF
run "$TMP/args.lua" one 'two words' </dev/null
rc_is 0 "script"
out_has "^args\.lua	one	two words	2	2	one	two words$" "script arguments"
out_has '^true$' "arg[-1] is the interpreter"

cat >"$TMP/err.lua" <<'EOF'
local function inner(x)
  return x.missing.field
end
inner({})
EOF
run "$TMP/err.lua" </dev/null
rc_is 1 "script error"
err_has '^lotto: .*err\.lua:2: attempt to index a nil value' "script error position"
err_has 'stack traceback:' "script error traceback"
err_has "err\.lua:4: in main chunk" "traceback names the caller line"

# errors raised from C carry the script's position (luaL_error adds it)
printf 'local x = 1\nlocal s = string.rep()\n' >"$TMP/cerr.lua"
run "$TMP/cerr.lua" </dev/null
rc_is 1 "C error"
err_has "cerr\.lua:2: bad argument #1 to 'rep'" "C error position"
if "$LOTTO" -e 'assert(lotto.tensor.zeros)' </dev/null >/dev/null 2>&1; then
  printf 'local a = lotto.tensor.zeros{2, 3}\nlocal b = a:matmul(lotto.tensor.zeros{2, 3})\n' >"$TMP/eng.lua"
  run "$TMP/eng.lua" </dev/null
  rc_is 1 "engine error"
  err_has "eng\.lua:2: .*matmul" "engine error position"
else
  echo "note: lotto.tensor not available, engine error position not checked"
fi

run "$TMP/no_such_script.lua" </dev/null
rc_is 1 "missing script"
err_has "^lotto: cannot open .*no_such_script\.lua" "missing script message"

# Ctrl-C (SIGINT) stops a running script with an error, not a silent death
printf 'local f = io.open(arg[1], "w") f:write("ready") f:close()\nwhile true do end\n' >"$TMP/spin.lua"
"$LOTTO" "$TMP/spin.lua" "$TMP/spin.ready" </dev/null >"$TMP/out" 2>"$TMP/err" &
pid=$!
i=0
while [ ! -s "$TMP/spin.ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
rc_is 1 "interrupted script"
err_has '^lotto: interrupted' "interrupted script message (one line, no traceback)"

# -i after a script: the REPL sees the script's globals
printf 'answer = 41\n' >"$TMP/setup.lua"
printf 'answer + 1\n' | "$LOTTO" -i "$TMP/setup.lua" >"$TMP/out" 2>"$TMP/err"
out_has 'lotto> 42' "-i after a script"

# ---- stdin ----
printf 'print("from stdin", ...)\n' | "$LOTTO" - a b >"$TMP/out" 2>"$TMP/err"
out_is "$(printf 'from stdin\ta\tb')" "lotto -"
printf 'print(6 * 7)\n' | "$LOTTO" >"$TMP/out" 2>"$TMP/err"
out_is 42 "no arguments, stdin not a terminal"
printf 'error("piped")\n' | "$LOTTO" >"$TMP/out" 2>"$TMP/err"
rc=$?
rc_is 1 "error in a piped script"
err_has 'stdin:1: piped' "piped error position"

# ---- module search ----
(cd / && "$LOTTO" -e 'print(require("lotto") == lotto, LOTTO_ROOT ~= nil)' </dev/null >"$TMP/out" 2>"$TMP/err")
out_is "$(printf 'true\ttrue')" "require 'lotto' from another directory"
run -e 'local f = io.open(LOTTO_ROOT .. "/lua/lotto/init.lua"); print(f ~= nil)' </dev/null
out_is true "LOTTO_ROOT holds lua/lotto"
mkdir -p "$TMP/alt/lua/lotto"
printf 'return {_fake = "alternative"}\n' >"$TMP/alt/lua/lotto/init.lua"
ALT=$(cd "$TMP/alt" && pwd -P) LOTTO_LUA_PATH=$TMP/alt/lua "$LOTTO" \
  -e 'print(lotto._fake, LOTTO_ROOT == os.getenv("ALT"))' </dev/null >"$TMP/out" 2>"$TMP/err"
out_is "$(printf 'alternative\ttrue')" "LOTTO_LUA_PATH comes first"
# an installed layout: prefix/bin/lotto finds prefix/share/lotto/lua first
SRC_LUA=$("$LOTTO" -e 'io.write(LOTTO_ROOT)' </dev/null)/lua
mkdir -p "$TMP/prefix/bin" "$TMP/prefix/share/lotto"
cp "$LOTTO" "$TMP/prefix/bin/lotto" && cp -R "$SRC_LUA" "$TMP/prefix/share/lotto/lua"
PREFIX=$(cd "$TMP/prefix" && pwd -P) "$TMP/prefix/bin/lotto" \
  -e 'print(LOTTO_ROOT == os.getenv("PREFIX") .. "/share/lotto", package.searchpath("lotto", package.path) == LOTTO_ROOT .. "/lua/lotto/init.lua")' \
  </dev/null >"$TMP/out" 2>"$TMP/err"
out_is "$(printf 'true\ttrue')" "installed prefix layout"
printf 'error("broken library")\n' >"$TMP/alt/lua/lotto/init.lua"
LOTTO_LUA_PATH=$TMP/alt/lua "$LOTTO" -e 'print("still runs", lotto)' </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
rc_is 0 "a broken lotto library only warns"
out_is "$(printf 'still runs\tnil')" "a broken lotto library only warns"
err_has 'warning: .*broken library' "the warning names the cause"

# ---- lotto plot ----
run plot </dev/null
[ "$rc" -ne 0 ] || fail "lotto plot without a run directory should fail"
err_has '^usage: lotto plot' "lotto plot usage"
run plot "$TMP/no_such_run" </dev/null
[ "$rc" -ne 0 ] || fail "lotto plot on a missing run directory should fail"
err_has '^lotto plot: ' "lotto plot error message"

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all CLI checks passed"
