-- test_dst_resume.lua: a dynamic-sparse-training run (RigL, Adam) and a gradual-pruning
-- run (SGD with momentum) killed mid-run (a child `lotto` process that exits without
-- cleanup) and run again with the same checkpoint resume where the last checkpoint
-- left them and end bit-identical to uninterrupted runs: weights, masks, history.
-- Checkpoints (every evaluation, 10 iterations) fall between mask updates (every 12).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, train, fs, json = lotto.tensor, lotto.nn, lotto.data, lotto.train, lotto.fs, lotto.json

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_dst_resume'
local CRASH = 37

local function blobs(n, seed)
  local x = tensor.randn({ n, 10 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) - x:get(i, 4) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end

local CASES = {
  rigl = { optimizer = { kind = 'adam', lr = 5e-3 }, dst = { kind = 'rigl', density = 0.2, every = 12, drop = 0.4 } },
  gradual = { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 },
              dst = { kind = 'gradual', density = 0.05, t0 = 6, t1 = 54, every = 12 } },
  set = { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, dst = { kind = 'set', density = 0.1, every = 12 } },
}

local function run(case, ckpt, on_step)
  local m = nn.model(nn.sequential { nn.linear(10, 48), nn.relu(), nn.linear(48, 24), nn.relu(), nn.linear(24, 3) },
    { input = { 10 } })
  m:init { seed = 5 }
  local c = CASES[case]
  local h = train.fit(m, { train = blobs(240, 1), test = blobs(80, 2) }, {
    optimizer = c.optimizer, dst = c.dst, iterations = 72, batch = 16, eval_every = 10, progress = false,
    checkpoint = ckpt, on_step = on_step, seed = 3 })
  return m, h
end

if os.getenv('LOTTO_DST_CHILD') then -- the child: train until the crash
  run(os.getenv('LOTTO_DST_CHILD'), os.getenv('LOTTO_DST_CKPT'), function(it)
    if it == CRASH then os.exit(9) end
  end)
  os.exit(0)
end

local untimed = require('resume_child').untimed

assert(fs.remove_tree(ROOT))
assert(fs.mkdir_p(ROOT))
for _, case in ipairs { 'rigl', 'gradual', 'set' } do
  local want, hw = run(case)
  local ckpt = ROOT .. '/' .. case .. '.ckpt'
  local ok, how, code = require('resume_child').crash({ 'LOTTO_DST_CHILD', 'LOTTO_DST_CKPT' }, case, ckpt)
  T.check(not ok and how == 'exit' and code == 9, case .. ': the child died at iteration ' .. CRASH)
  T.check(fs.exists(ckpt), case .. ': it left a checkpoint')
  local got, hg = run(case, ckpt)
  T.check_eq(hg.resumed_at, 30, case .. ': resumed at the last checkpoint (iteration 30)')
  T.check_eq(got:values():sub(want:values()):abs():max(), 0, case .. ': weights bit-identical to the uninterrupted run')
  T.check_eq(got:masks():sub(want:masks()):abs():max(), 0, case .. ': masks identical')
  T.check_eq(json.encode(untimed(hg.records)), json.encode(untimed(hw.records)), case .. ': history identical (but its clock)')
  T.check_eq(#hg.dst, #hw.dst, case .. ': mask updates recorded across the kill')
end

-- Batchnorm statistics travel with the checkpoint (they are buffers, not values).
do
  local function bn() return nn.model(nn.sequential { nn.linear(4, 6), nn.batchnorm(6), nn.relu(), nn.linear(6, 2) }, { input = { 4 } }) end
  local a, b = bn(), bn()
  a:init { seed = 1 }
  a:forward(tensor.randn({ 8, 4 }, 2), true)
  local path = ROOT .. '/bn.ckpt'
  assert(lotto.checkpoint.save(path, a, lotto.optim.adam(a, { lr = 0.1 }), { iter = 3 }))
  T.check_eq(lotto.checkpoint.load(path, b, lotto.optim.adam(b, { lr = 0.1 })).iter, 3)
  local worst, moved = 0, 0
  for i, x in ipairs(a:buffers()) do
    worst = math.max(worst, x.value:sub(b:buffers()[i].value):abs():max())
    moved = moved + x.value:sub(b:buffers()[i].value:mul(0)):abs():sum()
  end
  T.check(moved > 0, 'the running statistics moved')
  T.check_eq(worst, 0, 'running statistics restored exactly')
end

-- A checkpoint that cannot be read is an error naming it, never a silent fresh start.
do
  local bad = ROOT .. '/garbage.ckpt'
  assert(lotto.io.write_atomic(bad, 'not a checkpoint'))
  T.checkerror(function() run('set', bad) end, "option 'checkpoint'")
  T.checkerror(function() run('set', bad) end, 'garbage.ckpt')
  local other = ROOT .. '/other.ckpt' -- written by a smaller model
  local m = nn.model(nn.sequential { nn.linear(10, 3) }, { input = { 10 } })
  assert(lotto.checkpoint.save(other, m, lotto.optim.sgd(m, { lr = 0.1, momentum = 0.9 }), { iter = 10 }))
  T.checkerror(function() run('set', other) end, 'the model has')
end

T.report()
