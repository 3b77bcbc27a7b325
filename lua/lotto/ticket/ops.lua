-- lotto.ticket.ops: the ticket operations on a model — snapshot and rewind (θ0 or θk),
-- random reinitialisation, sign-preserving reinitialisation, permuted and random masks,
-- fresh draws for chosen layers. Each returns the model; lotto.ticket re-exports them.
local nn = require 'lotto.nn'
local prune = require 'lotto.prune'
local rng = require 'lotto.rng'
local U = require 'lotto.util'

local M = {}

-- θ at this moment (a flat clone of the values), for rewinding later.
function M.snapshot(model)
  U.check_model(model, 'snapshot', 1)
  return model:state()
end

-- Batchnorm running statistics back to their initial values (mean 0, var 1), so a
-- rewound network starts from the same state whether or not the run was resumed.
function M.reset_buffers(model) return nn.clear_bn_stats(model) end

-- Sets the masks from a flat mask (nil keeps them) and the surviving weights to
-- `state` (θ0 or θk, a flat tensor); pruned weights become exactly zero and batchnorm
-- statistics restart. Optimizer state is the caller's: lotto.ticket.train makes a fresh one.
function M.rewind(model, state, mask)
  U.check_model(model, 'rewind', 1)
  U.check_flat(model, state, 'rewind', 2, 'state')
  if mask ~= nil then
    U.check_flat(model, mask, 'rewind', 3, 'mask')
    model:masks():copy(mask)
  end
  model:load_state(state)
  model:apply_mask()
  M.reset_buffers(model)
  return model
end

-- Random reinitialisation: same mask, fresh draw from the initialiser.
function M.reinit(model, seed, init)
  U.check_model(model, 'reinit', 1)
  U.check_seed(seed, 'reinit', 2)
  model:init { seed = seed, weight = init or 'glorot_normal' }
  return model -- init applies the mask
end

-- Sign-preserving reinitialisation (Zhou et al. 2019): fresh magnitudes with the
-- signs of `state` (the original init) on every prunable weight.
function M.sign_preserving_reinit(model, state, seed, init)
  U.check_model(model, 'sign_preserving_reinit', 1)
  U.check_flat(model, state, 'sign_preserving_reinit', 2, 'state')
  M.reinit(model, seed, init)
  local v = model:values()
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local s = state:narrow(1, p.offset + 1, p.numel):sign()
      local dst = v:narrow(1, p.offset + 1, p.numel)
      dst:copy(dst:abs():mul(s))
    end
  end
  model:apply_mask()
  return model
end

-- Each prunable layer's mask shuffled within the layer (Morcos et al. 2019): same
-- per-layer density. Only the masks change: rewind the values afterwards
-- (M.rewind(model, state)), or the newly kept weights start where they were.
function M.permute(model, seed)
  U.check_model(model, 'permute', 1)
  U.check_seed(seed, 'permute', 2)
  local r = rng.new(seed, rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then prune.permute(p.mask, r) end
  end
  model:apply_mask()
  return model
end

-- A uniformly random mask with the current per-layer counts (the random-pruning
-- baseline at matched density). Only the masks change, as in M.permute.
function M.random_mask(model, seed)
  U.check_model(model, 'random_mask', 1)
  U.check_seed(seed, 'random_mask', 2)
  local r = rng.new(seed, rng.streams.prune)
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local keep = prune.count(p.mask)
      p.mask:fill(1)
      if keep < p.numel then prune.random(p.mask, 1 - keep / p.numel, r) end
    end
  end
  model:apply_mask()
  return model
end

-- The layer a parameter belongs to ("fc3" for "fc3.weight").
function M.layer_of(p) return p.layer or p.name:match('^(.*)%.[^.]+$') end

-- Re-draws the parameters of the named layers (e.g. the output layer), keeping masks.
function M.reinit_layers(model, names, seed, init)
  U.check_model(model, 'reinit_layers', 1)
  if type(names) ~= 'table' then U.raise("bad argument #2 to 'reinit_layers' (list of layer names expected)") end
  U.check_seed(seed, 'reinit_layers', 3)
  local keep = model:state()
  model:init { seed = seed, weight = init or 'glorot_normal' }
  local fresh = model:state()
  local want = {}
  for _, n in ipairs(names) do want[n] = true end
  for _, p in ipairs(model:parameters()) do
    if want[p.name] or want[M.layer_of(p)] then
      keep:narrow(1, p.offset + 1, p.numel):copy(fresh:narrow(1, p.offset + 1, p.numel))
    end
  end
  model:load_state(keep)
  model:apply_mask()
  return model
end

return M
