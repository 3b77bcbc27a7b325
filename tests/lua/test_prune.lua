-- test_prune.lua: lotto.prune on hand-worked examples — tensor-level functions,
-- model-level rates (per layer, per kind, output layer at half rate, rounds),
-- global scope with the guard warning, scores from a flat snapshot, random,
-- structured and n:m at model level, stats/masks/distance, and misuse errors.
-- Model-level tests use a small fake model with the lotto.nn parameters() shape,
-- and a real lotto.nn model when lotto.nn.model exists.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local prune = require 'lotto.prune'
local check, checkerror = C.check, C.checkerror

local function same(t, want, msg)
  local got = t:totable()
  local flat = {}
  local function walk(x) if type(x) == 'table' then for _, v in ipairs(x) do walk(v) end else flat[#flat + 1] = x end end
  walk(got)
  local ok = #flat == #want
  for i = 1, #want do ok = ok and flat[i] == want[i] end
  check(ok, (msg or 'values') .. ': got {' .. table.concat(flat, ', ') .. '}, want {' .. table.concat(want, ', ') .. '}')
end
local function close(a, b) return type(a) == 'number' and math.abs(a - b) < 1e-9 end

-- ---- tensor level ----
do -- [10, -8, 0.1] with p = 1/3 keeps 10 and -8
  local m, w = T.ones { 3 }, T.new { 10, -8, 0.1 }
  check(prune.magnitude_mask(m, w, 1 / 3) == 1, 'one pruned')
  same(m, { 1, 1, 0 }, 'magnitude_mask')
  check(prune.count(m) == 2 and close(prune.density(m), 2 / 3), 'count and density')
end

do -- score_mask reads the score as given; ties lower index first; NaN first
  local m = T.ones { 3 }
  prune.score_mask(m, T.new { -5, 1, 2 }, 1 / 3)
  same(m, { 0, 1, 1 }, 'raw score prunes the most negative')
  m = T.ones { 5 }
  prune.magnitude_mask(m, T.new { 5, 5, 5, 5, 1 }, 0.4)
  same(m, { 0, 1, 1, 1, 0 }, 'ties: lower index pruned first')
  m = T.ones { 4 }
  prune.magnitude_mask(m, T.new { 1, 0 / 0, 3, 2 }, 0.25)
  same(m, { 1, 0, 1, 1 }, 'NaN pruned first')
end

do -- global: one threshold; the guard keeps one weight and reports the layer
  local ma, mb = T.ones { 4 }, T.ones { 6 }
  local n, guarded = prune.global { masks = { ma, mb }, scores = { T.new { 0.1, 0.9, 0.5, 0.3 }, T.new { 0.2, 0.05, 0.8, 0.4, 0.6, 0.7 } }, p = 0.5 }
  check(n == 5 and #guarded == 0, 'global pruned 5, no guard')
  same(ma, { 0, 1, 1, 0 }, 'global layer a')
  same(mb, { 0, 0, 1, 0, 1, 1 }, 'global layer b')
  ma, mb = T.ones { 3 }, T.ones { 5 }
  n, guarded = prune.global { masks = { ma, mb }, scores = { T.new { 0.01, -0.03, 0.02 }, T.new { 1, 2, 3, 4, 5 } }, p = 0.5 }
  check(n == 4 and #guarded == 1 and guarded[1] == 1, 'guard reported for layer 1')
  same(ma, { 0, 1, 0 }, 'guard keeps the largest |w|')
  same(mb, { 0, 0, 1, 1, 1 }, 'the other layer pays instead')
end

do -- random: exact count of survivors; seeded
  local a, b = T.ones { 50 }, T.ones { 50 }
  check(prune.random(a, 0.3, 9) == 15 and prune.count(a) == 35, 'random prunes 15 of 50')
  prune.random(b, 0.3, 9)
  check(prune.hamming(a, b) == 0, 'same seed, same mask')
  check(prune.random(a, 0.5, 10) == 18 and prune.count(a) == 17, 'second round: 17.5 -> 18 of 35')
end

do -- structured: rows with L1 4, 3, 2 and L2 2, 3, 1
  local w = T.new { { 1, -1, 1, -1 }, { 3, 0, 0, 0 }, { 0.5, -0.5, 0.5, 0.5 } }
  local m = T.ones { 3, 4 }
  check(prune.structured(m, w, 2 / 3, { norm = 'l1' }) == 2, 'two rows by L1')
  same(m, { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, 'L1 keeps row 1')
  m = T.ones { 3, 4 }
  prune.structured(m, w, 2 / 3, { norm = 'l2', dim = 1 })
  same(m, { 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0 }, 'L2 keeps row 2')
  checkerror(function() prune.structured(m, w, 0.5, { norm = 'l3' }) end, "norm must be 'l1' or 'l2'")
  checkerror(function() prune.structured(m, w, 0.5, { dim = 3 }) end, 'dim 3 out of range')
end

do -- n:m 2:4 on a 2x8 matrix
  local s = T.new { { 1, 4, 2, 3, -5, 0.1, 0.2, 6 }, { 1, 1, 1, 1, 0, 9, 8, 7 } }
  local m = T.ones { 2, 8 }
  check(prune.nm(m, s, 2, 4) == 8, '2:4 prunes half')
  same(m, { 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0 }, '2:4 pattern')
  checkerror(function() prune.nm(m, s, 5, 4) end, 'must be in [0, m = 4]')
end

do -- permute keeps density exactly and changes the pattern; Hamming and overlap
  local m = T.zeros { 40 }
  for i = 1, 13 do m:set(i, 1) end
  local orig = m:clone()
  prune.permute(m, 5)
  check(prune.count(m) == 13, 'permute keeps the count')
  check(prune.hamming(m, orig) > 0, 'permute changes the pattern')
  local a, b, c = T.new { 1, 1, 0, 0 }, T.new { 1, 0, 1, 0 }, T.new { 0, 0, 1, 1 }
  local d, f = prune.hamming(a, a)
  check(d == 0 and f == 0, 'identical: Hamming 0')
  d, f = prune.hamming(a, c)
  check(d == 4 and f == 1, 'complementary: Hamming 1')
  local j, cov = prune.overlap(a, b)
  check(close(j, 1 / 3) and close(cov, 0.5), 'overlap: Jaccard 1/3, coverage 1/2')
  j, cov = prune.overlap(a, c)
  check(j == 0 and cov == 0, 'complementary: no overlap')
  check(close(prune.distance(a, b), 0.5), 'distance a, b')
end

-- ---- misuse ----
do
  local m = T.ones { 2, 3 }
  checkerror(function() prune.magnitude_mask(m, T.ones { 3, 2 }, 0.5) end, 'weight (3, 2) must have the mask\'s shape (2, 3)')
  checkerror(function() prune.magnitude_mask(m, T.ones { 2, 3 }, 1.5) end, 'must be in [0, 1]')
  checkerror(function() prune.magnitude_mask(m, T.ones { 2, 3 }, -0.1) end, 'must be in [0, 1]')
  checkerror(function() prune.magnitude_mask({}, T.ones { 2, 3 }, 0.5) end, 'lotto.tensor expected')
  checkerror(function() prune.magnitude_mask(m, 'x', 0.5) end, 'lotto.tensor expected')
  checkerror(function() prune.score_mask(m, T.ones { 2, 3 }) end, 'number expected')
  checkerror(function() prune.magnitude_mask(T.full({ 2, 3 }, 0.5), T.ones { 2, 3 }, 0.5) end, 'mask must hold only 0 and 1')
  checkerror(function() prune.random(m, 0.5, 'seed') end, 'rng or integer seed')
  checkerror(function() prune.global { masks = { m }, scores = { T.ones { 6 } }, p = 0.5 } end, 'scores[1] (6) must have the shape of masks[1] (2, 3)')
  checkerror(function() prune.global { masks = { m, 3 }, scores = { m, m }, p = 0.5 } end, 'masks[2] is a number')
  checkerror(function() prune.global { masks = { m }, scores = { m, m }, p = 0.5 } end, '2 scores for 1 masks')
  checkerror(function() prune.global { masks = { m }, scores = { m } } end, 'p (the fraction to prune)')
  checkerror(function() prune.global { masks = { m }, scores = { m }, p = 1.2 } end, 'in [0, 1], got 1.2')
  checkerror(function() prune.hamming(m, T.ones { 6 }) end, 'must have the mask\'s shape')
  checkerror(function() prune.magnitude_mask(T.ones { 3, 4 }:narrow(2, 1, 2), T.ones { 3, 2 }, 0.5) end, 'mask must be contiguous')
  check(prune.count(m) == 6, 'failed calls leave the mask alone')
end

-- ---- model level, on a fake model shaped like lotto.nn's ----
local function fake_model(spec)
  local model = { params = {} }
  for _, s in ipairs(spec) do
    local v = T.new(s.values)
    model.params[#model.params + 1] = {
      name = s.name, kind = s.kind, prunable = s.prunable ~= false, shape = v:shape(),
      value = v, grad = T.zeros(v:shape()), mask = T.ones(v:shape()),
    }
  end
  function model:parameters() return self.params end
  function model:apply_mask() for _, p in ipairs(self.params) do p.value:mul_(p.mask) end end
  return model
end
local function seq(n, scale) local t = {} for i = 1, n do t[i] = i * (scale or 1) end return t end

do -- per-layer rates over two rounds, the output layer at half rate, apply_mask
  local model = fake_model {
    { name = 'fc1.weight', kind = 'linear', values = { seq(5), seq(5, -1) } },  -- 10 weights
    { name = 'fc1.bias', kind = 'linear', prunable = false, values = { 0.5, 0.5 } },
    { name = 'fc2.weight', kind = 'linear', values = seq(20) },                 -- the output layer
  }
  local rep = prune.magnitude(model, { rate = 0.2, output_rate = 0.1 })
  local fc1, fc2 = model.params[1], model.params[3]
  check(rep.layers[1].pruned == 2 and rep.layers[2].pruned == 2, 'round 1: 20% of 10 = 2, 10% of 20 = 2')
  check(rep.pruned == 4 and rep.layers[2].rate == 0.1, 'report')
  same(fc1.mask, { 0, 1, 1, 1, 1, 0, 1, 1, 1, 1 }, 'fc1: |1| and |-1| pruned (lower index first)')
  same(fc1.value, { 0, 2, 3, 4, 5, 0, -2, -3, -4, -5 }, 'apply_mask zeroed the pruned weights')
  rep = prune.magnitude(model, { rate = 0.2, output_rate = 0.1 })
  check(rep.layers[1].pruned == 2 and prune.count(fc1.mask) == 6, 'round 2: 20% of 8 = 1.6 -> 2')
  check(rep.layers[2].pruned == 2 and prune.count(fc2.mask) == 16, 'output: 10% of 18 = 1.8 -> 2')
  local st = prune.stats(model)
  check(st.count == 22 and st.total == 30 and close(st.overall, 22 / 30), 'stats overall')
  check(#st.layers == 2 and st.layers[1].name == 'fc1.weight' and close(st.layers[1].density, 0.6), 'stats per layer')
end

do -- per-name and per-kind overrides; layers selects
  local model = fake_model {
    { name = 'conv1.weight', kind = 'conv2d', values = { { { seq(2), seq(2, 2) } } } }, -- (1,1,2,2)
    { name = 'fc1.weight', kind = 'linear', values = seq(10) },
    { name = 'fc2.weight', kind = 'linear', values = seq(10) },
  }
  local rep = prune.magnitude(model, { rate = 0.2, kind_rates = { conv2d = 0.5 }, rates = { ['fc2.weight'] = 0.3 } })
  check(rep.layers[1].pruned == 2 and rep.layers[2].pruned == 2 and rep.layers[3].pruned == 3, 'kind and name overrides')
  rep = prune.magnitude(model, { rate = 0.5, layers = { 'fc1.weight' } })
  check(#rep.layers == 1 and rep.layers[1].pruned == 4 and prune.count(model.params[3].mask) == 7, 'layers limits pruning')
  checkerror(function() prune.magnitude(model, { rate = 0.5, layers = { 'fc9.weight' } }) end, "'fc9.weight' is not a prunable parameter")
  checkerror(function() prune.magnitude(model, { rate = 2 }) end, 'rate must be a number in [0, 1]')
  checkerror(function() prune.magnitude(model, {}) end, 'no rate given')
  checkerror(function() prune.magnitude(model, { rate = 0.1, rat = 1 }) end, "unknown option 'rat'")
  checkerror(function() prune.magnitude(model, { rate = 0.1, scope = 'world' }) end, "scope must be 'local' or 'global'")
  checkerror(function() prune.magnitude(42, { rate = 0.1 }) end, 'expected a model')
end

do -- global scope: one threshold, the guard warning names the layer
  local model = fake_model {
    { name = 'a.weight', kind = 'linear', values = { 0.01, 0.03, 0.02 } },
    { name = 'b.weight', kind = 'linear', values = { 1, 2, 3, 4, 5 } },
  }
  local rep = prune.magnitude(model, { rate = 0.5, scope = 'global' })
  check(rep.pruned == 4, 'global prunes 4 of 8')
  same(model.params[1].mask, { 0, 1, 0 }, 'guard keeps a.weight alive')
  check(#rep.guarded == 1 and rep.guarded[1] == 'a.weight', 'guarded names a.weight')
  check(rep.warning and rep.warning:find('a.weight', 1, true), 'warning field')
end

do -- global scope pools the layers at `rate`; the output layer stays layer-wise at output_rate
  local model = fake_model {
    { name = 'a.weight', kind = 'linear', values = { 1, 2, 3, 4 } },
    { name = 'b.weight', kind = 'linear', values = { 5, 6, 7, 8 } },
    { name = 'out.weight', kind = 'linear', values = seq(10) },
  }
  local rep = prune.magnitude(model, { rate = 0.5, output_rate = 0.2, scope = 'global' })
  same(model.params[1].mask, { 0, 0, 0, 1 }, 'pool: a would be emptied, keeps its 4')
  same(model.params[2].mask, { 0, 1, 1, 1 }, 'pool: b pays one weight instead')
  same(model.params[3].mask, { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, 'output layer: 20% of its own 10')
  check(rep.pruned == 6 and #rep.guarded == 1 and rep.guarded[1] == 'a.weight', 'global report')
end

do -- scores: a flat snapshot in the values layout, a name table, or a function
  local model = fake_model {
    { name = 'w1', kind = 'linear', values = { 1, 2, 3, 4 } },
    { name = 'b1', kind = 'linear', prunable = false, values = { 9 } },
    { name = 'w2', kind = 'linear', values = { 1, 2 } },
  }
  -- snapshot: w1 scores 4 3 2 1, bias, w2 scores -9 1 -> prunes w1[4] and w2[2] (|1|)
  local snap = T.new { 4, 3, 2, 1, 0, -9, 1 }
  prune.magnitude(model, { rate = 0.25, rates = { w2 = 0.5 }, score = snap })
  same(model.params[1].mask, { 1, 1, 1, 0 }, 'snapshot scores for w1')
  same(model.params[3].mask, { 1, 0 }, 'snapshot scores for w2 (offset past the bias)')
  prune.magnitude(model, { rate = 1 / 3, layers = { 'w1' }, score = function(p) return T.new { 0, 5, -1, 0 } end })
  same(model.params[1].mask, { 1, 1, 0, 0 }, 'function scores are raw')
  checkerror(function() prune.magnitude(model, { rate = 0.5, score = T.ones { 3 } }) end, 'score has 3 elements')
  local flat = prune.masks(model)
  same(flat, { 1, 1, 0, 0, 1, 1, 0 }, 'flat mask buffer')
  check(close(prune.distance(flat, T.ones { 7 }), 3 / 7), 'distance to dense')
end

do -- random_model, structured_model, nm_model, permute_model
  local model = fake_model {
    { name = 'fc1.weight', kind = 'linear', values = { { 1, -1, 1, -1 }, { 3, 0, 0, 0 }, { 0.5, -0.5, 0.5, 0.5 } } },
    { name = 'fc2.weight', kind = 'linear', values = { seq(8), seq(8, -1) } },
  }
  local rep = prune.structured_model(model, { rate = 1 / 3, norm = 'l2' })
  check(#rep.layers == 1 and rep.layers[1].units == 1 and rep.layers[1].pruned == 4, 'structured skips the output layer')
  same(model.params[1].mask, { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0 }, 'structured L2 row 3')
  rep = prune.nm_model(model, 2, 4)
  check(rep.layers[2].pruned == 8, 'nm_model 2:4 on fc2')
  same(model.params[2].mask, { 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1 }, 'nm keeps the two largest |w|')
  local before = prune.masks(model)
  rep = prune.permute_model(model, { seed = 3 })
  check(prune.stats(model).count == 12 and prune.distance(before, prune.masks(model)) > 0, 'permute_model')
  rep = prune.random_model(model, { rate = 0.5, seed = 1 })
  check(rep.layers[1].pruned == 2 and rep.layers[2].pruned == 4, 'random_model: half of 4 and of 8')
  checkerror(function() prune.random_model(model, { rate = 0.5 }) end, 'give seed')
  checkerror(function() prune.nm_model(model, 2.5, 4) end, 'n and m must be integers')
end

-- ---- a real model, when lotto.nn is there ----
local ok_nn, nn = pcall(function() return lotto.nn end)
if ok_nn and nn and nn.model then
  do
    local model = nn.model(nn.sequential { nn.linear(6, 5), nn.relu(), nn.linear(5, 3) }, { input = { 6 } })
    model:init { seed = 1 }
    local snap = model:state()
    local rep = prune.magnitude(model, { rate = 0.2, output_rate = 0.1 })
    check(rep.layers[1].pruned == 6 and rep.layers[2].pruned == 2, 'real model: 20% of 30, 10% of 15')
    local st = prune.stats(model)
    check(st.count == 37 and st.total == 45, 'real model stats')
    for _, p in ipairs(model:parameters()) do
      if p.prunable then
        local v, m = p.value:totable(), p.mask:totable()
        for i = 1, #v do for j = 1, #v[i] do if m[i][j] == 0 then check(v[i][j] == 0, 'pruned weight is zero') end end end
      end
    end
    -- another init scored from the first model's snapshot gets the first model's masks
    local first = prune.masks(model)
    local model2 = nn.model(nn.sequential { nn.linear(6, 5), nn.relu(), nn.linear(5, 3) }, { input = { 6 } })
    model2:init { seed = 2 }
    prune.magnitude(model2, { rate = 0.2, output_rate = 0.1, score = snap })
    check(prune.distance(first, prune.masks(model2)) == 0, 'snapshot scores follow the flat layout')
    check(prune.magnitude(model2, { rate = 0.2 }).pruned == 8, 'round 2 on the real model: 5 of 24, 3 of 13')
  end
end

C.report()
