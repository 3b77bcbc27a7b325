-- test_resume_dropout.lua: runs whose steps draw random numbers resume bit-identically
-- from a train.fit checkpoint after a kill (a child `lotto` process that exits without
-- cleanup): a model with dropout layers (their generators travel in the checkpoint) and
-- a run with the targeted_dropout option (its generator's state is in the loop state).
-- Also the state accessors themselves: r:state()/r:set_state(), m:rng_states() and
-- m:set_rng_states(), and what a checkpoint without the generators gets.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, train, fs, json, rng = lotto.tensor, lotto.nn, lotto.data, lotto.train, lotto.fs, lotto.json,
  lotto.rng

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_resume_dropout'
local CRASH = 37

local function blobs(n, seed)
  local x = tensor.randn({ n, 10 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) - x:get(i, 4) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end

local function net(p)
  return nn.model(nn.sequential { nn.linear(10, 48), nn.relu(), nn.dropout(p, { seed = 11 }), nn.linear(48, 24), nn.relu(),
    nn.dropout(p, { seed = 12 }), nn.linear(24, 3) }, { input = { 10 } })
end

local CASES = {
  dropout = { p = 0.3, optimizer = { kind = 'adam', lr = 5e-3 } },
  targeted = { p = 0, optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 },
               targeted_dropout = { alpha = 0.5, gamma = 0.5 } },
  units = { p = 0.2, optimizer = { kind = 'adam', lr = 5e-3 }, targeted_dropout = { alpha = 0.6, gamma = 0.4, kind = 'unit' } },
}

local function run(case, ckpt, on_step)
  local c = CASES[case]
  local m = net(c.p)
  m:init { seed = 5 }
  local h = train.fit(m, { train = blobs(240, 1), test = blobs(80, 2) }, {
    optimizer = c.optimizer, targeted_dropout = c.targeted_dropout, iterations = 72, batch = 16, eval_every = 10,
    progress = false, checkpoint = ckpt, on_step = on_step, seed = 3 })
  return m, h
end

if os.getenv('LOTTO_TD_CHILD') then -- the child: train until the crash
  run(os.getenv('LOTTO_TD_CHILD'), os.getenv('LOTTO_TD_CKPT'), function(it)
    if it == CRASH then os.exit(9) end
  end)
  os.exit(0)
end

local untimed = require('resume_child').untimed

assert(fs.remove_tree(ROOT))
assert(fs.mkdir_p(ROOT))

do -- the generator's state round-trips, and a bad state is refused naming the argument
  local r = rng.new(7, rng.streams.dropout)
  r:normal() -- leaves a spare normal in the state
  local s = r:state()
  T.check_eq(#s, 81, 'a state is 81 hex digits')
  local a = { r:uniform(), r:normal(), r:int(1000) }
  local q = rng.new(1):set_state(s)
  T.check_eq({ q:uniform(), q:normal(), q:int(1000) }, a, 'set_state continues where state() was taken (spare included)')
  T.checkerror(function() q:set_state('xyz') end, 'not a generator state')
  T.checkerror(function() q:set_state(('0'):rep(81)) end, 'not a generator state') -- all-zero xoshiro is stuck
  T.checkerror(function() q:set_state(s:sub(1, 64) .. '2' .. s:sub(66)) end, 'not a generator state')
end

do -- a model's generators by layer name; set_rng_states is all or nothing
  local m = net(0.5)
  m:init { seed = 1 }
  local st = m:rng_states()
  local names = {}
  for k in pairs(st) do names[#names + 1] = k end
  table.sort(names)
  T.check_eq(names, { 'dropout1', 'dropout2' }, 'one state per dropout layer, by name')
  local x = tensor.randn({ 4, 10 }, 3)
  local y1 = m:forward(x, true)
  local y2 = m:forward(x, true)
  T.check(y1:sub(y2):abs():max() > 0, 'dropout draws new masks each forward')
  m:set_rng_states(st)
  T.check_eq(m:forward(x, true):sub(y1):abs():max(), 0, 'restored generators draw the same masks again')
  T.checkerror(function() m:set_rng_states({ dropout1 = st.dropout1 }) end, "layer 'dropout2'")
  local extra = { dropout1 = st.dropout1, dropout2 = st.dropout2, fc9 = st.dropout1 }
  T.checkerror(function() m:set_rng_states(extra) end, '3 entries')
  T.checkerror(function() m:set_rng_states({ dropout1 = 'x', dropout2 = st.dropout2 }) end, "layer 'dropout1'")
  T.check_eq(nn.model(nn.sequential { nn.linear(2, 2) }, { input = { 2 } }):rng_states(), {}, 'no dropout, no states')
end

for _, case in ipairs { 'dropout', 'targeted', 'units' } do
  local want, hw = run(case)
  local ckpt = ROOT .. '/' .. case .. '.ckpt'
  local ok, how, code = require('resume_child').crash({ 'LOTTO_TD_CHILD', 'LOTTO_TD_CKPT' }, case, ckpt)
  T.check(not ok and how == 'exit' and code == 9, case .. ': the child died at iteration ' .. CRASH)
  T.check(fs.exists(ckpt), case .. ': it left a checkpoint')
  local got, hg = run(case, ckpt)
  T.check_eq(hg.resumed_at, 30, case .. ': resumed at the last checkpoint (iteration 30)')
  T.check_eq(got:values():sub(want:values()):abs():max(), 0, case .. ': weights bit-identical to the uninterrupted run')
  T.check_eq(json.encode(untimed(hg.records)), json.encode(untimed(hw.records)), case .. ': history identical (but its clock)')
  T.check_eq(json.encode(got:rng_states()), json.encode(want:rng_states()), case .. ': generators end in the same state')
  T.check_eq(hg.targeted_dropout, hw.targeted_dropout, case .. ': the same targeted-dropout summary')
end

do -- the randomness matters: without it (p = 0, no targeted dropout) the run ends elsewhere
  local plain = net(0)
  plain:init { seed = 5 }
  train.fit(plain, { train = blobs(240, 1) }, { optimizer = { kind = 'adam', lr = 5e-3 }, iterations = 72, batch = 16,
    progress = false, seed = 3 })
  T.check(plain:values():sub((run('dropout')):values()):abs():max() > 1e-3, 'dropout changes the trained weights')
end

do -- a checkpoint without a generator the run needs is an error, never a silent restart
  local c = ROOT .. '/dropout.ckpt' -- written with p = 0.3, no targeted dropout
  T.checkerror(function() run('units', c) end, 'no targeted-dropout generator')
  local m = net(0.3)
  m:init { seed = 1 }
  local opt = lotto.optim.adam(m, { lr = 0.1 })
  local t, meta = lotto.io.load(c)
  meta.rngs = json.encode({ dropout1 = m:rng_states().dropout1 }) -- one generator missing
  assert(lotto.io.save(ROOT .. '/partial.ckpt', t, { metadata = meta }))
  local st, err = lotto.checkpoint.load(ROOT .. '/partial.ckpt', m, opt)
  T.check(st == nil and tostring(err):find("layer 'dropout2'", 1, true), 'a missing generator is named: ' .. tostring(err))
end

T.report()
