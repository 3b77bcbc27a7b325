-- test_lenet_mnist.lua: end to end — LeNet-300-100 on MNIST with Adam 1.2e-3,
-- batch 60 reaches >= 97% test accuracy in 2 epochs. Under the sanitizers
-- (LOTTO_ASAN set) a 200-iteration run must reach >= 85%. Skipped (77) only
-- when the MNIST files are absent. Seeds 1-4 give 97.0-97.7% after 2 epochs
-- (seed 1 is the low one); the test uses seed 3 so rounding differences between
-- builds (AVX or portable) do not decide it.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'

if not lotto.data.available('mnist') then
  T.skip('MNIST not found (looked in $LOTTO_DATA, ./data, the source tree): run `make data` to fetch it')
end

local short = os.getenv('LOTTO_ASAN') ~= nil
local data = lotto.data.mnist{ val = 5000 }
T.check_eq({ data.train:size(), data.val:size(), data.test:size() }, { 55000, 5000, 10000 })

local model = lotto.models.lenet300()
model:init{ seed = 3 }
local evals = 0
local hist = lotto.train.fit(model, data, {
  optimizer = lotto.optim.adam(model, { lr = 1.2e-3 }),
  batch = 60, seed = 3, progress = false,
  epochs = not short and 2 or nil,
  iterations = short and 200 or nil,
  eval_every = short and 100 or 500,
  on_eval = function() evals = evals + 1 end,
})

local want = short and 0.85 or 0.97
local iters = short and 200 or 2 * 917
print(('LeNet-300-100: %d iterations in %.1f s, test accuracy %.2f%% (early stop at %d: %.2f%%)'):format(
  hist.iterations, hist.seconds, 100 * hist.final.test_acc, hist.early_stop.iter, 100 * hist.early_stop.test_acc))
T.check_eq(hist.iterations, iters)
T.check(hist.final.test_acc >= want, ('test accuracy %.4f >= %.2f'):format(hist.final.test_acc, want))
T.check(hist.final.val_acc >= want - 0.01, ('val accuracy %.4f'):format(hist.final.val_acc))
T.check(hist.final.train_loss < hist.records[1].train_loss, 'training loss falls between evaluations')
T.check_eq(evals, #hist.records)
T.check(model:density() == 1, 'dense model stays dense')
T.report()
