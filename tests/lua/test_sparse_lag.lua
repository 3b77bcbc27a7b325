-- test_sparse_lag.lua: in train.fit the dense weights and gradients of sparse layers lag
-- behind their compact copies (the optimizer steps the copies; the dense buffers are
-- written back only when something can read them). Whatever reads them -- a callback
-- mid-fit, a write to the weights from a callback, the model after fit, the optimizer's
-- moments -- gets the bits of the indexed step, whose buffers never lag.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, optim, sparse, data, train = lotto.tensor, lotto.optim, lotto.sparse, lotto.data, lotto.train

local model = require 'sparse_lenet'

local N, B, STEPS = 120, 20, 31
local X = tensor.randn({ N, 40 }, 7)
local Y = tensor.zeros { N }
for i = 1, N do Y:set(i, (i * 7) % 5) end
local ds = data.from_tensors(X, Y, { classes = 5 })

local function same(a, b) return a:numel() == b:numel() and a:sub(b):abs():max() == 0 end
local watch = { [1] = true, [9] = true, [10] = true, [17] = true, [STEPS] = true }

-- What a callback does at step `it`: look at the weights and gradients, and once scale
-- the weights in place (a write that the next step must see).
local function look(seen, it, m)
  if not watch[it] then return end
  seen[it] = { w = m:values():clone(), g = m:grads():clone(), w1 = m:parameters()[1].value:get(3, 7) }
  if it == 10 then m:values():mul_(0.5) end
end

sparse.with_mode('sparse', function()
  for _, spec in ipairs({ { kind = 'adam', lr = 1e-2 }, { kind = 'sgd', lr = 0.05, momentum = 0.9 } }) do
    -- the reference: the indexed step, the same batches as fit's loader
    local a = model()
    local oa = optim.make(a, spec)
    local loader = data.loader(ds, { batch = B, seed = 1, shuffle = true })
    local ref = {}
    for it = 1, STEPS do
      local x, y = loader:next()
      if not x then x, y = loader:next() end
      a:step_loss(x, y)
      oa:step()
      look(ref, it, a)
    end

    local b = model()
    local ob = optim.make(b, spec)
    local seen = {}
    train.fit(b, { train = ds }, { optimizer = ob, batch = B, iterations = STEPS, progress = false,
      on_step = function(it, m) look(seen, it, m) end })
    for it in pairs(watch) do
      T.check(seen[it] and same(seen[it].w, ref[it].w), ('%s: the weights a callback reads at step %d'):format(spec.kind, it))
      T.check(seen[it] and same(seen[it].g, ref[it].g), ('%s: the gradients at step %d'):format(spec.kind, it))
      T.check_eq(seen[it] and seen[it].w1, ref[it].w1, ('%s: one weight read through its layer at step %d'):format(spec.kind, it))
    end
    T.check(same(b:values(), a:values()), spec.kind .. ': the weights after fit')
    T.check(same(b:grads(), a:grads()), spec.kind .. ': the gradients after fit')
    T.check(same(ob:moment(1), oa:moment(1)), spec.kind .. ': the first moments')
    if spec.kind == 'adam' then T.check(same(ob:moment(2), oa:moment(2)), spec.kind .. ': the second moments') end
    local paths = sparse.layers(b)
    T.check(paths[1].path == 'sparse' and paths[2].path == 'sparse', spec.kind .. ': the hidden layers ran sparse')

    -- the lagging step loop by hand, read between steps by other entry points: a
    -- state copy, the output of a forward
    local function steps(lagging) -- STEPS steps by hand: the compact step after the loss, or the indexed one
      local m = model()
      local o = optim.make(m, spec)
      loader = data.loader(ds, { batch = B, seed = 1, shuffle = true })
      for _ = 1, STEPS do
        local x, y = loader:next()
        if not x then x, y = loader:next() end
        m:step_loss(x, y)
        if lagging then o:step_after_loss() else o:step() end
      end
      return m
    end
    local c = steps(true)
    local d = model()
    d:load_state(c:state())
    local c2 = steps(false)
    T.check(same(d:values(), c2:values()), spec.kind .. ': a state copy after lagging steps has the indexed steps\' weights')
    T.check(same(c:forward(X), c2:forward(X)), spec.kind .. ': and so has a forward')

    -- the previous path (dense buffers written every step) gives the same bits
    T.check_eq(sparse.lazy(false), true, 'lagging buffers are on by default')
    local e = model()
    local oe = optim.make(e, spec)
    train.fit(e, { train = ds }, { optimizer = oe, batch = B, iterations = STEPS, progress = false,
      on_step = function(it, m) look({}, it, m) end })
    T.check_eq(sparse.lazy(true), false, 'lazy(false) turned them off')
    T.check(same(e:values(), a:values()) and same(oe:moment(1), oa:moment(1)), spec.kind .. ': without lagging buffers, the same bits')
  end
end)
T.checkerror(function() sparse.lazy('yes') end, 'boolean')
T.report()
