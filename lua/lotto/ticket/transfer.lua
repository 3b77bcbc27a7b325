-- lotto.ticket.transfer: a ticket from lotto.ticket.load applied to a model, e.g. one
-- trained on another data set (Morcos et al. 2019): its masks and the chosen weights,
-- with fresh draws where the shapes differ (an output layer with another class count).
local prune = require 'lotto.prune'
local rng = require 'lotto.rng'
local ops = require 'lotto.ticket.ops'
local U = require 'lotto.util'

local M = {}

local WEIGHTS = { 'init', 'rewind', 'final', 'fresh' }

-- Applies a ticket (from lotto.ticket.load) to a model: opts.weights 'init' (θ0,
-- default) | 'rewind' (θk) | 'final' | 'fresh' (keep the model's own values);
-- opts.reinit = {'fc3', ...} layers (or parameter names) drawn fresh with opts.seed —
-- needed where shapes differ, such as an output layer with another class count; there
-- the mask becomes random at the ticket layer's density. opts.mask = false keeps the
-- model's masks; opts.values = false sets masks only.
function M.transfer(model, ticket, opts)
  U.check_model(model, 'transfer', 1)
  if type(ticket) ~= 'table' or type(ticket.named) ~= 'table' or type(ticket.named.mask) ~= 'table' then
    U.raise("bad argument #2 to 'transfer' (a ticket from lotto.ticket.load expected)")
  end
  opts = U.check_options(opts, { 'weights', 'reinit', 'seed', 'init', 'mask', 'values' }, 'lotto.ticket.transfer')
  local weights = U.one_of(opts.weights or 'init', WEIGHTS, 'weights', 'lotto.ticket.transfer')
  local nt = ticket.named
  local src = ({ init = nt.init, rewind = nt.rewind, final = nt.final, fresh = false })[weights]
  local fresh = {}
  for _, n in ipairs(opts.reinit or {}) do fresh[n] = true end
  local seed = opts.seed or 1
  if opts.mask ~= false then
    local r = rng.new(seed, rng.streams.prune)
    for _, p in ipairs(model:parameters()) do
      local m = nt.mask[p.name]
      if p.prunable then
        if m and m:numel() == p.numel then
          p.mask:copy(m:contiguous():reshape(p.shape))
        elseif m and (fresh[p.name] or fresh[ops.layer_of(p)]) then
          p.mask:fill(1)
          local d = prune.density(m)
          if d < 1 then prune.random(p.mask, 1 - d, r) end
        else
          U.fail('lotto.ticket.transfer', ("the ticket's mask for '%s' %s; list its layer in reinit"):format(p.name,
            m and ('has %d values, the model %d'):format(m:numel(), p.numel) or 'is missing'))
        end
      end
    end
    model:apply_mask()
  end
  if opts.values ~= false then
    local own
    if next(fresh) then -- fresh draws for the reinitialised layers (under the new masks)
      local keep = model:state()
      model:init { seed = seed, weight = opts.init or 'glorot_normal' }
      own = model:state()
      model:load_state(keep)
    end
    for _, p in ipairs(model:parameters()) do
      local dst = model:values():narrow(1, p.offset + 1, p.numel)
      if fresh[p.name] or fresh[ops.layer_of(p)] then
        dst:copy(own:narrow(1, p.offset + 1, p.numel))
      elseif src then
        local v = src[p.name]
        if not v or v:numel() ~= p.numel then
          U.fail('lotto.ticket.transfer', ("the ticket's %s weights for '%s' %s; list its layer in reinit"):format(
            weights, p.name, v and ('have %d values, the model %d'):format(v:numel(), p.numel) or 'are missing'))
        end
        dst:copy(v:contiguous():reshape { p.numel })
      end
    end
  end
  model:apply_mask()
  ops.reset_buffers(model)
  return model
end

return M
