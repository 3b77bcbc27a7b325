-- test_sparse_step.lua: the optimizer step after a sparse step_loss that reads the sparse
-- layers' compact copies (opt:step_after_loss, what lotto.train.fit calls) gives the same
-- bits as the indexed step (opt:step) over many steps, for Adam, AdamW and SGD with
-- momentum; masked weights stay 0 with no moments; and the copies are refused when they
-- are stale (a second backward added to the gradient).
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, optim, sparse = lotto.tensor, lotto.optim, lotto.sparse

local model = require 'sparse_lenet'

local x = tensor.randn({ 24, 40 }, 7)
local y = tensor.zeros { 24 }
for i = 1, 24 do y:set(i, (i * 7) % 5) end

local function same(a, b) return a:sub(b):abs():max() == 0 end

local specs = {
  { kind = 'adam', lr = 1e-2 },
  { kind = 'adamw', lr = 1e-2, weight_decay = 0.1 },
  { kind = 'sgd', lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-3 },
}
sparse.with_mode('sparse', function()
  for _, spec in ipairs(specs) do
    local a, b = model(), model()
    local oa, ob = optim.make(a, spec), optim.make(b, spec)
    for it = 1, 60 do
      local xb = x:narrow(1, 1 + (it % 3) * 8, 8)
      local yb = y:narrow(1, 1 + (it % 3) * 8, 8)
      a:step_loss(xb, yb)
      b:step_loss(xb, yb)
      oa:step()
      ob:step_after_loss()
    end
    T.check(same(a:values(), b:values()), spec.kind .. ': values after 60 steps are bit-identical')
    T.check(same(oa:moment(1), ob:moment(1)), spec.kind .. ': first moments are bit-identical')
    if spec.kind ~= 'sgd' then T.check(same(oa:moment(2), ob:moment(2)), spec.kind .. ': second moments too') end
    local off = b:values():mul(b:masks():neg():add(1)):abs():max()
    T.check_eq(off, 0, spec.kind .. ': pruned weights stay 0')
    T.check_eq(ob:moment(1):mul(b:masks():neg():add(1)):abs():max(), 0, spec.kind .. ': and carry no moment')
    local paths = sparse.layers(b)
    T.check(paths[1].path == 'sparse' and paths[2].path == 'sparse', spec.kind .. ': the hidden layers ran sparse')
  end

  -- Stale copies are not used: a gradient accumulated over two backwards is what the
  -- dense buffer says, not the compact copy of the last backward.
  local a, b = model(), model()
  local oa, ob = optim.adam(a, { lr = 1e-2 }), optim.adam(b, { lr = 1e-2 })
  for _ = 1, 3 do a:step_loss(x, y); oa:step(); b:step_loss(x, y); ob:step_after_loss() end
  local dy = tensor.randn({ 24, 5 }, 9)
  for _, m in ipairs({ a, b }) do
    m:zero_grad()
    m:forward(x, true); m:backward(dy)
    m:forward(x, true); m:backward(dy)
  end
  oa:step(); ob:step_after_loss()
  T.check(same(a:values(), b:values()), 'two accumulated backwards: the same step as the indexed one')
end)

T.checkerror(function() optim.adam(model(), {}):step_after_loss(1) end, 'no arguments')

-- A mask that changes (drop some kept weights, grow some pruned ones, as SET and RigL do)
-- is taken incrementally by the versioned step, with the same bits as a full masked step
-- at every step: the dropped weights 0 with zero moments, the grown ones starting at 0.
for _, spec in ipairs(specs) do
  local n, keep = 3000, 120
  local mask = tensor.zeros { n }
  for i = 1, keep do mask:set(1 + (i * 37) % n, 1) end
  local wa = tensor.randn({ n }, 5):mul_(mask)
  local wb = wa:clone()
  local version = 1
  local owner = { mask_version = function() return version end }
  local mk = spec.kind == 'sgd' and optim.sgd or optim.adam
  local o = {}
  for k, v in pairs(spec) do if k ~= 'kind' then o[k] = v end end
  if spec.kind == 'adamw' then o.adamw = true end
  local g = tensor.zeros { n }
  local function make(w)
    local t = { params = w, grads = g, mask = mask }
    for k, v in pairs(o) do t[k] = v end
    return mk(t)
  end
  local oa, ob = make(wa), make(wb)
  oa:bind(wa, g, mask, owner)
  local state = 11
  for it = 1, 40 do
    g:copy(tensor.randn({ n }, 100 + it))
    oa:step()                -- versioned: incremental on a new version
    ob:step(wb, g, mask)     -- the full masked step every time
    if it % 5 == 0 then      -- drop 10 kept, grow 10 pruned, as the DST updates do
      local dropped, grown = 0, 0
      while dropped < 10 or grown < 10 do
        state = (state * 1103515245 + 12345) % 2147483648
        local i = 1 + state % n
        if mask:get(i) == 1 and dropped < 10 then
          mask:set(i, 0); wa:set(i, 0); wb:set(i, 0); dropped = dropped + 1
        elseif mask:get(i) == 0 and grown < 10 then
          mask:set(i, 1); grown = grown + 1
        end
      end
      version = version + 1
    end
  end
  T.check(same(wa, wb), spec.kind .. ': incremental mask updates give the full masked step\'s values')
  T.check(same(oa:moment(1), ob:moment(1)), spec.kind .. ': and its first moments')
  if spec.kind ~= 'sgd' then T.check(same(oa:moment(2), ob:moment(2)), spec.kind .. ': and second moments') end
  local rebuilds, full = oa:mask_counts()
  T.check_eq({ rebuilds, full }, { 7, 1 }, spec.kind .. ': 7 mask changes taken incrementally after one full step')
end
T.report()
