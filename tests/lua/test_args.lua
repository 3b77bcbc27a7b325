-- test_args.lua: lotto.args, the command-line parser of the examples and `lotto plot`:
-- `--x v` and `--x=v` alike, flags and --no-flags, numbers, choices, positional words,
-- usage errors that name the option with a suggestion (and are user errors: no
-- traceback), the help text with scales and defaults. --help itself exits the process;
-- tests/test_surface.sh runs it on every example.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local A = require 'lotto.args'
local U = require 'lotto.util'

function T.check_match(s, pat, msg)
  return T.check(tostring(s):find(pat) ~= nil, ('%s (got: %s)'):format(msg, tostring(s)))
end

local spec = {
  usage = 'lotto examples/x.lua [options]',
  about = 'What x does.',
  scales = { { '(default)', '2 seeds', 'about 1 min' }, { '--full', '5 seeds', 'about 1 h' } },
  options = {
    { 'full', false, 'paper scale' },
    { 'format', 'png', 'image format', choices = { 'png', 'svg', 'pdf' } },
    { 'seeds', 2, 'number of seeds', short = 's' },
    { 'lr', nil, 'learning rate', type = 'number' },
    { 'reps', 3, 'repetitions', integer = true, min = 1 },
  },
  positional = { { 'rundir', 'a run', optional = true } },
}

-- ---- values ----
local o = A.parse({}, spec)
T.check_eq({ o.full, o.format, o.seeds, o.lr, o.rundir }, { false, 'png', 2, nil, nil }, 'defaults')
T.check_eq(A.parse({ '--format', 'svg' }, spec).format, 'svg', '--format svg')
T.check_eq(A.parse({ '--format=svg' }, spec).format, 'svg', '--format=svg')
T.check_eq(A.parse({ '--format=pdf', '--full' }, spec).full, true, 'a flag')
T.check_eq(A.parse({ '--full', '--no-full' }, spec).full, false, '--no-flag')
T.check_eq(math.type(A.parse({ '--seeds', '5' }, spec).seeds), 'integer', 'integral numbers are integers')
T.check_eq(A.parse({ '-s', '3' }, spec).seeds, 3, 'a short option')
T.check_eq(A.parse({ '--lr=1e-3' }, spec).lr, 1e-3, 'a number without default')
T.check_eq(A.parse({ 'runs/x', '--full' }, spec).rundir, 'runs/x', 'a positional word')
T.check_eq(A.parse({ '--', '--full' }, spec).rundir, '--full', 'after --, words only')

-- ---- errors: one line, the option named, a suggestion, marked as user errors ----
local function err_of(argv, s)
  local ok, msg = pcall(A.parse, argv, s or spec)
  T.check(not ok, 'an error for ' .. table.concat(argv, ' '))
  return tostring(msg)
end
local m = err_of({ '--ful' })
T.check_match(m, "^examples/x%.lua: unknown option '%-%-ful' %(did you mean '%-%-full'%?%)", 'unknown option: ' .. m)
T.check(not m:find('\n'), 'one line')
T.check_eq(debug.getregistry()['lotto.user_error'], m, 'a user error (the host prints no traceback)')
T.check_match(err_of({ '--format', 'svgg' }), "must be one of png, svg, pdf %(got 'svgg'%) %(did you mean 'svg'%?%)", 'a choice')
T.check_match(err_of({ '--seeds', 'two' }), "option '%-%-seeds' needs a number %(got 'two'%)", 'a number')
T.check_eq(A.parse({ '--reps=1' }, spec).reps, 1, 'an integer at its minimum')
T.check_match(err_of({ '--reps', '2.5' }), "option '%-%-reps' needs a whole number %(got '2%.5'%)", 'integer = true')
T.check_match(err_of({ '--reps=0' }), "option '%-%-reps' must be at least 1 %(got '0'%)", 'min = 1')
T.check_eq(A.parse({ '--seeds', '2.5' }, spec).seeds, 2.5, 'a number without integer = true may be fractional')
T.check_match(err_of({ '--seeds' }), "option '%-%-seeds' needs a value", 'a missing value')
T.check_match(err_of({ '--full=yes' }), "option '%-%-full' takes no value", 'a flag with a value')
T.check_match(err_of({ 'a', 'b' }), "unexpected argument 'b'", 'too many words')
T.check_match(err_of({}, { usage = 'lotto plot <rundir>', positional = { { 'rundir', 'a run' } } }),
  "^plot: missing argument <rundir>", 'a required word, named after the command')

-- ---- help ----
local h = A.help(spec)
T.check_match(h, '^usage: lotto examples/x%.lua %[options%]\n', 'usage first')
T.check_match(h, 'What x does%.', 'what it does')
T.check_match(h, 'scales %(estimated time on a 2%-core machine%):\n  %(default%) +2 seeds  %[about 1 min%]', 'scales with times')
T.check_match(h, '%-%-format FORMAT +image format %(png, svg, pdf%) %[default: png%]', 'choices and default')
T.check_match(h, '%-s, %-%-seeds SEEDS +number of seeds %[default: 2%]', 'short option and default')
T.check_match(h, '%-h, %-%-help', '--help listed')
T.check_match(h, '%-v, %-%-verbose', '--verbose listed')

-- -v turns tracebacks on (registry flag read by the host)
local before = U.traceback()
A.parse({ '-v' }, spec)
T.check(U.traceback(), '-v: tracebacks on')
U.traceback(before)

T.report()
