#!/bin/sh
# test_repl.sh: the lotto REPL, driven through a pipe (`lotto -i` reading stdin) and,
# when python3 is present, through a real pseudo-terminal (readline, Ctrl-C, Tab).
# usage: sh tests/test_repl.sh path/to/lotto
LOTTO=${1:?usage: test_repl.sh path/to/lotto}
case $LOTTO in /*) ;; *) LOTTO=$(pwd)/$LOTTO ;; esac
TMP=$(mktemp -d "${LOTTO_TEST_TMP:-${TMPDIR:-/tmp}}/repl.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
HOME=$TMP
export HOME
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# session NAME INPUT: runs `lotto -i` on INPUT, output (stdout+stderr) in $TMP/NAME.out
session() {
  printf '%s\n' "$2" | "$LOTTO" -i >"$TMP/$1.out" 2>&1
  echo $? >"$TMP/$1.rc"
}

# after NAME A B: a line matching A is followed (later or same line) by one matching B
after() {
  awk -v a="$2" -v b="$3" 'seen && index($0, b) { ok = 1 } index($0, a) { seen = 1; if (index(substr($0, index($0, a)), b)) ok = 1 } END { exit !ok }' \
    "$TMP/$1.out" || { fail "$1: expected '$2' then '$3'"; sed 's/^/    | /' "$TMP/$1.out"; }
}

has() { grep -qF -- "$2" "$TMP/$1.out" || { fail "$1: missing '$2'"; sed 's/^/    | /' "$TMP/$1.out"; }; }
hasnot() { ! grep -qF -- "$2" "$TMP/$1.out" || { fail "$1: unexpected '$2'"; sed 's/^/    | /' "$TMP/$1.out"; }; }
exits0() { [ "$(cat "$TMP/$1.rc")" = 0 ] || fail "$1: exit status $(cat "$TMP/$1.rc")"; }

# ---- piped sessions ----
session errors 'error("boom")
1+1
undefined_function()
2+2
x = = 1
3+3
local t = nil; return t.field
4+4'
exits0 errors
after errors 'error: stdin:1: boom' 'lotto> 2'
after errors "attempt to call a nil value (global 'undefined_function')" 'lotto> 4'
after errors "error: stdin:1: unexpected symbol near '='" 'lotto> 6'
after errors "attempt to index a nil value (local 't')" 'lotto> 8'
has errors 'lotto> '

session multiline 'function f(x)
return x*2
end
f(21)
s = 0
for i = 1, 3 do
  s = s + i
end
s * 100'
exits0 multiline
has multiline '    >> '
after multiline '    >> ' 'lotto> 42'
has multiline 'lotto> 600'

session printing 't = {3, 2, 1, name = "x\ty", nested = {deep = {deeper = {deepest = 1}}}}
t
big = {} for i = 1, 50 do big[i] = i end
big
c = {}; c.me = c; return c
"quoted"
1, nil, true
setmetatable({}, {__tostring = function() return "<custom object>" end})'
exits0 printing
has printing '{3, 2, 1, name = "x\ty", nested = {deep = {deeper = {…}}}}'
has printing '(30 more)'
has printing '{me = <cycle>}'
has printing 'lotto> "quoted"'
has printing "$(printf '1\tnil\ttrue')"
has printing '<custom object>'
hasnot printing 'big[21]'

session helping 'help(print)
help()
help(lotto)
help(lotto.help.register)
mod = {double = function(x) return 2 * x end, other = function() end}
lotto.help.register(mod, {double = "double(x) -> 2x"})
help(mod)
help(mod.double)
help(nil)
7*6'
exits0 helping
has helping 'no help for this value (a function)'
has helping 'help(f)'
has helping 'modules: lotto.'
has helping 'register(tbl, {name = text, ...}'
has helping '  double(x) -> 2x'
has helping 'no help: other'
has helping 'no help for this value (a nil)'
after helping 'no help for this value (a nil)' 'lotto> 42'

session eof 'function unfinished(
'
has eof "error: stdin:"

# ---- a real terminal: readline, Ctrl-C, Tab completion, history ----
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 not found, pseudo-terminal part not run"
else
  python3 - "$LOTTO" "$TMP" <<'EOF' || fails=$((fails + 1))
import os, pty, select, sys, time, fcntl, termios, struct
lotto, home = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(HOME=home, TERM="xterm")
    os.execv(lotto, [lotto])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
out = b""
def pump(t):
    global out
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            out += os.read(fd, 65536)
        except OSError:
            return False
    return True
def expect(s, timeout=60):  # generous: CI and ASan runs share 2 loaded cores
    end = time.time() + timeout
    start = len(out)
    while time.time() < end:
        if s.encode() in out[expect.pos:]:
            expect.pos = out.index(s.encode(), expect.pos) + len(s)
            return True
        if not pump(0.05):
            break
    sys.stdout.write("FAIL: terminal: expected %r; output so far:\n%r\n" % (s, out[-600:]))
    finish(1)
expect.pos = 0
def send(s):
    os.write(fd, s.encode())
def finish(code):
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    sys.exit(code)

expect("lotto> ")
send("6*7\r"); expect("42"); expect("lotto> ")
# Ctrl-C at the prompt clears the half-typed line and keeps the session
send("x = 1 +"); time.sleep(0.2); send("\x03"); expect("lotto> ")
send("7*9\r"); expect("63"); expect("lotto> ")
# ... also in a continuation line
send("function g()\r"); expect("    >> "); send("\x03"); expect("lotto> ")
send("type(g)\r"); expect('"nil"'); expect("lotto> ")
# Ctrl-C stops a running computation and returns to the prompt
send("io.write('spin' .. 'ning\\n') io.flush() while true do end\r"); expect("spinning")
time.sleep(0.1); send("\x03"); expect("interrupted!"); expect("lotto> ")
send("8*9\r"); expect("72"); expect("lotto> ")
# Tab completion: fields, methods through __index, string methods, lazy submodules
send("xyz = {alpha = 5000 + 150}\r"); expect("lotto> ")
send("xyz.al\t\r"); expect("5150"); expect("lotto> ")
send("obj = setmetatable({}, {__index = {matmul = function() return 4000 + 242 end}})\r"); expect("lotto> ")
send("obj:mat\t()\r"); expect("4242"); expect("lotto> ")
send("s = 'abc'\r"); expect("lotto> ")
send("s:up\t()\r"); expect('"ABC"'); expect("lotto> ")
send("lotto.ten\t"); expect("lotto.tensor"); send("\x03"); expect("lotto> ")
# Ctrl-D ends the session cleanly
send("\x04")
deadline, wpid, status = time.time() + 60, 0, 0
while wpid == 0 and time.time() < deadline:
    pump(0.1)
    wpid, status = os.waitpid(pid, os.WNOHANG)
if wpid == 0:
    sys.stdout.write("FAIL: terminal: Ctrl-D did not end the session\n")
    finish(1)
while pump(0.1) and select.select([fd], [], [], 0)[0]:
    pass
if b"Sanitizer" in out:
    sys.stdout.write("FAIL: terminal: sanitizer report:\n%s\n" % out.decode(errors="replace"))
    sys.exit(1)
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    sys.stdout.write("FAIL: terminal: exit status %r\n%r\n" % (status, out[-500:]))
    sys.exit(1)
hist = open(os.path.join(home, ".lotto_history")).read()
if "6*7" not in hist or "xyz.alpha" not in hist:
    sys.stdout.write("FAIL: history file lacks the session's lines:\n%s\n" % hist)
    sys.exit(1)
print("terminal session ok")
EOF
fi

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all REPL checks passed"
