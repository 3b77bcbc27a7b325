-- lotto.checkpoint: the whole state of a training run in one safetensors file —
-- the model's values, masks and buffers (batchnorm statistics), the generators of its
-- dropout layers, the optimizer's moments and step count, and a JSON table of the
-- loop's own state (iteration, history so far) — written
-- atomically, so a killed run (lotto.train.fit{checkpoint = path}) resumes at
-- the last checkpoint and ends bit-identical to an uninterrupted one.
local io_ = require 'lotto.io'
local json = require 'lotto.json'
local fs = require 'lotto.fs'

local M = {}

--- save(path, model, opt, state) -> true | nil, message. state: a JSON-able table.
function M.save(path, model, opt, state)
  local t = { values = model:values(), masks = model:masks() }
  for _, b in ipairs(model:buffers()) do t['buffer.' .. b.name] = b.value end -- batchnorm statistics
  if opt then
    for k = 1, 2 do
      local m = opt:moment(k)
      if m then t['moment' .. k] = m end
    end
  end
  local meta = { state = json.encode(state or {}), steps = tostring(opt and opt:steps() or 0), format = 'lotto.checkpoint/1',
    rngs = json.encode(model:rng_states()) }
  local ok, err = pcall(io_.save, path, t, { metadata = meta })
  if not ok then return nil, tostring(err) end
  return true
end

--- load(path, model, opt) -> state | nil, message. Restores values, masks (the model is
-- told they changed) and the optimizer's moments and step count in place.
function M.load(path, model, opt)
  if not fs.exists(path) then return nil, ("no checkpoint '%s'"):format(path) end
  local t, meta = io_.load(path)
  if not t then return nil, meta end
  if type(meta) ~= 'table' or meta.format ~= 'lotto.checkpoint/1' then
    return nil, ("'%s' is not a lotto checkpoint"):format(path)
  end
  local n = model:values():numel()
  for _, k in ipairs { 'values', 'masks' } do
    if not t[k] or t[k]:numel() ~= n then
      return nil, ("checkpoint '%s': %s has %s values, the model has %d"):format(path, k, t[k] and t[k]:numel() or 'no', n)
    end
  end
  local state, err = json.decode(meta.state or '')
  if type(state) ~= 'table' then return nil, ("checkpoint '%s': bad state (%s)"):format(path, tostring(err)) end
  for _, b in ipairs(model:buffers()) do
    local v = t['buffer.' .. b.name]
    if not v or v:numel() ~= b.numel then return nil, ("checkpoint '%s' has no buffer '%s' of this model"):format(path, b.name) end
  end
  -- dropout's generators: without them a resumed run would draw other masks than the
  -- uninterrupted one. set_rng_states checks every entry before it writes any.
  local rngs = json.decode(meta.rngs or '{}')
  if type(rngs) ~= 'table' then return nil, ("checkpoint '%s': bad generator states"):format(path) end
  local rok, rerr = pcall(model.set_rng_states, model, rngs)
  if not rok then return nil, ("checkpoint '%s': %s"):format(path, tostring(rerr):gsub('^set_rng_states: ', '')) end
  for _, b in ipairs(model:buffers()) do b.value:copy(t['buffer.' .. b.name]:reshape(b.value:shape())) end
  model:values():copy(t.values)
  model:masks():copy(t.masks)
  model:mask_changed()
  if opt then
    for k = 1, 2 do
      local has = opt:moment(k) ~= nil
      if has ~= (t['moment' .. k] ~= nil) then
        return nil, ("checkpoint '%s' was written by another optimizer (moment %d)"):format(path, k)
      end
      if has then opt:set_moment(k, t['moment' .. k]) end
    end
    opt:set_steps(math.tointeger(tonumber(meta.steps)) or 0)
  end
  return state
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    save = 'save(path, model, opt, state) -> true | nil, message: values, masks, dropout generators, moments, steps and '
      .. 'a JSON state, atomically',
    load = 'load(path, model, opt) -> state | nil, message: restores values, masks, dropout generators, moments and '
      .. 'steps in place',
  })
end

return M
