-- train_conv.lua: Conv-2 of Frankle & Carbin (2019) — two 3x3 convs of 64
-- channels, a 2x2 max pool, FC 256-256-10 — on Fashion-MNIST (28x28, 1 channel),
-- Adam 2e-4, batch 60. A short run by default (200 iterations, evaluated on 1,000
-- validation and 2,000 test images); --epochs n trains and evaluates on the full sets.
--
--   lotto examples/train_conv.lua                 -- 200 iterations (about a minute and a half)
--   lotto examples/train_conv.lua 2000            -- 2,000 iterations
--   lotto examples/train_conv.lua --epochs 20 --threads 2
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/train_conv.lua [iterations] [options]',
  about = 'Conv-2 of Frankle & Carbin (2019) on Fashion-MNIST (28x28), Adam 2e-4, batch 60, with a\n'
    .. 'progress bar. By default a short run evaluated on 1,000 validation and 2,000 test images;\n'
    .. '--epochs n trains and evaluates on the full sets.',
  positional = { { 'iterations', 'number of iterations (default 200)', optional = true } },
  scales = { { '(default)', '200 iterations', 'about 90 s' }, { '--epochs 20', '20 full epochs', 'about 10 h' } },
  options = {
    { 'epochs', nil, 'train for n full epochs instead of a number of iterations', type = 'number' },
    { 'threads', nil, 'OpenBLAS threads (default: as many as cores)', type = 'number' },
  },
})
local spec_fail = function(msg) lotto.args.fail({ prog = 'examples/train_conv.lua' }, msg) end
local iterations, epochs, threads = 200, o.epochs and math.tointeger(o.epochs), o.threads
if o.epochs and (not epochs or epochs < 1) then spec_fail('--epochs must be a positive integer') end
if epochs then iterations = nil end
if o.iterations then
  iterations = math.tointeger(tonumber(o.iterations))
  if not iterations or iterations < 1 then spec_fail('iterations must be a positive integer') end
end
if threads then lotto.tensor.set_threads(threads) end

local data = lotto.data.fashion_mnist{ val = 5000 }  -- a clear error naming `make data` if it is missing
local model = lotto.models.conv2{ input = { 1, 28, 28 } }
model:init{ seed = 1 }
print(model)
if not epochs then  -- a forward pass of Conv-2 costs ~65 MFLOP an image: evaluate on subsets
  data = { train = data.train, val = data.val:subset(1000), test = data.test:subset(2000) }
end
local per_epoch = math.ceil(data.train:size() / 60)
print(('Fashion-MNIST: %d train, %d val, %d test images; %s'):format(data.train:size(), data.val:size(),
  data.test:size(), epochs and (epochs .. ' epochs of ' .. per_epoch .. ' iterations') or (iterations .. ' iterations')))

local hist = lotto.train.fit(model, data, {
  optimizer = lotto.optim.adam(model, { lr = 2e-4 }),
  batch = 60, seed = 1, epochs = epochs, iterations = iterations,
  eval_every = iterations and math.max(1, iterations // 2) or nil,   -- per epoch when running epochs
  on_eval = function(r)
    print(('iter %6d (epoch %d)  train loss %.4f  val loss %.4f  val %.2f%%  test %.2f%%  (%.1f s)'):format(
      r.iter, r.epoch, r.train_loss, r.val_loss, 100 * r.val_acc, 100 * r.test_acc, r.time))
  end,
})
local es = hist.early_stop
print(('early stop (min val loss): iteration %d, test accuracy %.2f%%; %d iterations in %.1f s'):format(
  es.iter, 100 * es.test_acc, hist.iterations, hist.seconds))
