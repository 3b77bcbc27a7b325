-- test_util.lua: lotto.util, the checks every Lua module shares — unknown keys named with
-- a close match, errors raised at the caller's line outside the library, integer and
-- choice options — and the nil, message convention of the file functions built on it.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local U = require 'lotto.util'
local fs = require 'lotto.fs'

local THIS = debug.getinfo(1, 'S').short_src
local tmp = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_util'
assert(fs.remove_tree(tmp))
assert(fs.mkdir_p(tmp))

-- ---- suggestions ----
T.check_eq(U.closest('rat', { 'rate', 'rates', 'scope' }), 'rate', "'rat' is one edit from 'rate'")
T.check_eq(U.closest('epochz', { epochs = true, iterations = true }), 'epochs', 'sets work too')
T.check_eq(U.closest('kind_rate', { 'rate', 'kind_rates', 'output_rate' }), 'kind_rates', 'the closest wins')
T.check_eq(U.closest('zzz', { 'rate', 'seed' }), nil, 'nothing close: no suggestion')
T.check_eq(U.closest('itr', { 'iterations' }), nil, 'a long way off: no suggestion')
T.check_eq(U.closest('bais', { 'bias', 'name' }), 'bias', 'a transposition is one edit')
T.check_eq(U.closest('rat', { 'data', 'prune' }), nil, "three letters: only one edit ('data' is two)")
T.check_eq(U.closest('c', { 'a' }), nil, 'no suggestion for one or two letters')
T.check_eq(U.closest('iter', { 'iterations' }), 'iterations', 'a prefix')
T.check_eq(U.did_you_mean('sed', { 'seed' }), " (did you mean 'seed'?)")
T.check_eq(U.did_you_mean(42, { 'seed' }), '', 'non-string keys get no suggestion')

-- ---- check_options: the message names the bad key, the place and a close match ----
local msg = T.checkerror(function() U.check_options({ rate = 0.2, rat = 1 }, { 'rate', 'scope' }, 'lotto.x') end,
  "lotto.x: unknown option 'rat' (did you mean 'rate'?)")
T.check(msg and msg:find(THIS, 1, true) == 1, 'raised at this line: ' .. tostring(msg))
T.checkerror(function() U.check_options(3, { 'rate' }, 'lotto.x') end, 'lotto.x: options must be a table (got number)')
T.check_eq(U.check_options(nil, { 'rate' }, 'lotto.x'), {}, 'nil options are an empty table')

-- through a library function, the position is still the caller's (not lua/lotto/*.lua)
msg = T.checkerror(function() lotto.prune.magnitude(lotto.models.lenet300(), { rate = 0.1, rat = 1 }) end,
  "lotto.prune.magnitude: unknown option 'rat' (did you mean 'rate'?)")
T.check(msg and msg:find(THIS, 1, true) == 1, 'library errors point at the user line: ' .. tostring(msg))
msg = T.checkerror(function() lotto.nn.linear(3, 3, { bais = true }) end, "(did you mean 'bias'?)")
T.check(msg and msg:find(THIS, 1, true) == 1, 'nn errors too: ' .. tostring(msg))
msg = T.checkerror(function() lotto.ticket.imp { rat = 1 } end, "lotto.ticket: unknown option 'rat' (see lotto.ticket.defaults)")
T.checkerror(function() lotto.ticket.imp { epochz = 1 } end, "unknown option 'epochz' (did you mean 'epochs'?)")
T.checkerror(function() lotto.optim.make(nil, { kind = 'adma' }) end, "unknown optimizer kind 'adma'")

-- ---- merge, int_opt, number_opt, one_of ----
local d = { a = 1, b = { 2 } }
local m = U.merge(d, { a = 5 }, 'w')
T.check(m.a == 5 and m.b == d.b and d.a == 1, 'merge overrides a copy')
T.checkerror(function() U.merge(d, { c = 1 }, 'w', 'see w.defaults') end, "w: unknown option 'c' (see w.defaults)")
T.checkerror(function() U.merge(d, 7, 'w') end, 'expected an options table')
T.check_eq(U.int_opt({ n = 4.0 }, 'n', 1, 1, 'w'), 4, 'an integral float is an integer')
T.check(math.type(U.int_opt({ n = 4.0 }, 'n', 1, 1, 'w')) == 'integer', 'of integer subtype')
T.check_eq(U.int_opt({}, 'n', 7, 1, 'w'), 7, 'default')
T.checkerror(function() U.int_opt({ n = 2.5 }, 'n', 1, 1, 'w') end, "w: option 'n' must be an integer (got 2.5)")
T.checkerror(function() U.int_opt({ n = 0 }, 'n', 1, 1, 'w') end, "w: option 'n' must be >= 1 (got 0)")
T.checkerror(function() U.number_opt({ lr = 'x' }, 'lr', 1, 'w') end, "w: option 'lr' must be a number (got string)")
T.check_eq(U.one_of('b', { 'a', 'b' }, 'mode', 'w'), 'b')
T.checkerror(function() U.one_of('dens', { 'auto', 'dense', 'sparse' }, 'mode', 'w') end,
  "w: mode must be 'auto', 'dense' or 'sparse' (got dens) (did you mean 'dense'?)")
T.check(U.is_int(3) and U.is_int(3.0, 0) and not U.is_int(-1, 0) and not U.is_int('3') and not U.is_int(0.5), 'is_int')

-- ---- call: a C error raised again under a name, at the caller ----
T.checkerror(function() U.call('lotto.y', lotto.tensor.zeros, 'x') end, 'lotto.y: ')
T.check_eq(U.strip('a/b.lua:12: boom'), 'boom', 'strip removes the position')
T.check_eq(U.strip('lotto.ticket: boom'), 'lotto.ticket: boom', 'and nothing else')

-- ---- types ----
T.check(U.is_model(lotto.models.lenet300()) and not U.is_model({}), 'is_model')
T.check(U.is_tensor(lotto.tensor.zeros { 2 }) and not U.is_tensor({}), 'is_tensor')
T.check(U.is_dataset(lotto.data.sum_of_two { n = 4 }) and not U.is_dataset(lotto.tensor.zeros { 2 }), 'is_dataset')
T.checkerror(function() U.check_seed(1.5, 'f', 2) end, "bad argument #2 to 'f' (integer seed expected, got 1.5)")

-- ---- file functions: nil, message for what the file system refuses ----
local E = require 'lotto.experiment'
assert(fs.write_atomic(tmp .. '/file', 'x'))
local run, err = E.open { root = tmp .. '/file', name = 'r', config = {} }
T.check(run == nil and tostring(err):find('cannot create', 1, true), 'E.open under a file: nil, message: ' .. tostring(err))
run = assert(E.open { root = tmp, name = 'r', config = { a = 1 } })
assert(run:write_summary(1, 0, { round = 0, density = 1, runs = { ticket = { acc = 0.5 } } }))
assert(fs.write_atomic(run:round_dir(1, 1) .. '/summary.json', '{"round": 1, "dens'))
local res
res, err = run:aggregate()
T.check(res == nil and tostring(err):find('summary.json', 1, true), 'aggregate of a corrupt summary: nil, message')
res, err = E.load(run.dir)
T.check(res == nil and tostring(err):find('summary.json', 1, true), 'E.load of a corrupt run: nil, message')
assert(fs.remove(run:round_path(1, 1) .. '/summary.json'))
T.check(E.load(run.dir) ~= nil, 'and it loads once the corrupt summary is gone')
local ok, werr = lotto.models.lenet300():save(tmp .. '/none/x.safetensors')
T.check(ok == nil and tostring(werr):find('cannot create', 1, true), 'model:save into a missing directory: nil, message')
ok, werr = lotto.earlybird.savings(tmp .. '/none')
T.check(ok == nil and type(werr) == 'string', 'earlybird.savings of no run: nil, message')
ok, werr = lotto.plot.lines { out = tmp .. '/file/p', series = { { x = { 1 }, y = { 1 } } } }
T.check(ok == nil and tostring(werr):find('cannot create', 1, true), 'a plot under a file: nil, message: ' .. tostring(werr))

assert(fs.remove_tree(tmp))
T.report()
