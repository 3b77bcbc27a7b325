-- sparse_lenet.lua: the small model test_sparse_step.lua and test_sparse_lag.lua train: an
-- MLP 40-64-32-5 (seed 3) whose first two layers are pruned to 7% by magnitude, so that
-- they run on the sparse kernels, the last one kept dense.
return function()
  local nn, prune = lotto.nn, lotto.prune
  local m = nn.model(nn.sequential { nn.linear(40, 64), nn.relu(), nn.linear(64, 32), nn.relu(), nn.linear(32, 5) },
    { input = { 40 } })
  m:init { seed = 3 }
  for _, p in ipairs(m:parameters()) do
    if p.prunable and p.name ~= 'fc3.weight' then prune.magnitude_mask(p.mask, p.value, 0.93) end
  end
  m:apply_mask()
  return m
end
