-- early_bird.lua: You et al. (ICLR 2020), early-bird tickets. While the dense network
-- trains, draw the mask pruning would give at each observation; once the last 5 masks
-- are within a normalised Hamming distance of 0.1 of each other the ticket has emerged
-- and the rest of the search training can be skipped. Both the early-bird ticket and
-- the ticket drawn after full training are then retrained from θ0 with the same budget.
--
--   lotto examples/early_bird.lua                    Conv-2 (width 1/4), Fashion-MNIST (15,000 images), 8 epochs
--   lotto examples/early_bird.lua --full             full width, all 55,000 images, 30 epochs
--   lotto examples/early_bird.lua --model resnet20 --width 4 --method channel   (pruning channels by bn scale)
--   lotto examples/early_bird.lua --data cifar10     when data/cifar-10-batches-bin is present
--   lotto examples/early_bird.lua --imp              IMP of LeNet-300-100 whose rounds stop at their early bird
local opt = lotto.args.parse(arg, {
  usage = 'lotto examples/early_bird.lua [options]',
  about = 'You et al. (ICLR 2020), early-bird tickets: while the dense network trains, draw the mask\n'
    .. 'pruning would give at each observation; once the last 5 masks are within a normalised\n'
    .. 'Hamming distance of 0.1 the ticket has emerged. The early-bird ticket and the ticket drawn\n'
    .. 'after full training are then retrained from θ0 with the same budget. Results in\n'
    .. 'runs/early_bird_<model>_<method>_<scale>/; a killed run resumes at the next stage when rerun.',
  scales = {
    { '(default)', 'Conv-2 (width 1/4), Fashion-MNIST (15,000 images), 8 epochs', 'about 10 min' },
    { '--full', 'full width, all 55,000 images, 30 epochs', 'about 2 days' },
    { '--imp', 'IMP of LeNet-300-100 whose rounds stop at their early bird', 'about 1 min' },
    { '--model vgg16', 'width 1/8, padded Fashion-MNIST (5,000 images, 2,000 test), 6 epochs', 'about 2 min (1 thread)' },
  },
  options = {
    { 'full', false, 'the paper scale' },
    { 'imp', false, 'the IMP variant (lotto.ticket.imp{earlybird = ...})' },
    { 'model', 'conv2', 'a lotto.models name (conv2, resnet20, vgg16 ...)' },
    { 'method', 'magnitude', 'how masks are drawn', choices = { 'magnitude', 'channel', 'neuron' } },
    { 'width', nil, 'width multiplier (default 0.25 for conv2 at the default scale)', type = 'number' },
    { 'data', 'fashion_mnist', 'data set (cifar10 when data/cifar-10-batches-bin is present)' },
    { 'restart', false, 'start over instead of resuming' },
  },
})
opt.scale = opt.full and 'full' or 'small'
if opt.imp then -- lotto.ticket.imp stops each pruned round once its masks settle
  local _, run = lotto.ticket.imp { name = 'early_bird_imp', model = 'lenet300', data = 'mnist', iterations = 2000,
    eval_every = 500, rounds = 3, controls = {}, restart = opt.restart, earlybird = { window = 5, threshold = 0.1, ratio = 0.2, every = 100 } }
  local rec = lotto.earlybird.savings(run.dir) -- also written to <run>/earlybird.json
  for _, r in ipairs(rec.rounds) do
    print(('round %d (%.1f%% weights): trained %d of %d iterations'):format(r.round, 100 * r.density, r.trained, r.configured))
  end
  print(('iterations saved: %d of %d (%.0f%%)'):format(rec.saved_total, rec.configured_total, 100 * rec.saved_fraction))
  return rec
end
-- the CIFAR models (VGG, ResNet-20, MobileNet, DenseNet) take MNIST-family images padded to 3x32x32
local cifar_model = opt.model:match('^vgg') or opt.model == 'resnet20' or opt.model == 'mobilenet' or opt.model == 'densenet40'
local S = ({ small = { n = 15000, epochs = 8, per_epoch_obs = 2, width = opt.model == 'conv2' and 0.25 or nil },
             full = { n = nil, epochs = 30, per_epoch_obs = 1 } })[opt.scale]
if opt.scale == 'small' and opt.model:match('^vgg') then -- a CPU-sized run: width 1/8, 5,000 images, 2,000 test images
  S = { n = 5000, epochs = 6, per_epoch_obs = 2, width = 0.125, test = 2000 }
end
local width = opt.width and (math.tointeger(tonumber(opt.width)) or tonumber(opt.width)) or S.width
local data = lotto.data.load(opt.data, (cifar_model and opt.data ~= 'cifar10') and { val = 5000, pad = 2, channels = 3 }
  or { val = 5000 })
local train = S.n and data.train:subset(math.min(S.n, data.train:size())) or data.train
if S.test then data.test = data.test:subset(math.min(S.test, data.test:size())) end
local input = data.train:x():shape(); table.remove(input, 1)
local model = lotto.models[opt.model]({ input = input, width = width })
local batch, lr = 60, 1e-3
local per_epoch = math.ceil(train:size() / batch)
local T = S.epochs * per_epoch
model:init { seed = 1 }

-- The run store: the search (round 0) and each retraining (rounds 1, 2) are saved as
-- they finish, so a killed run resumes at the next stage.
local name = ('early_bird_%s_%s_%s'):format(opt.model, opt.method, opt.scale)
local run = assert(lotto.experiment.open { root = 'runs', name = name, restart = opt.restart,
  config = { model = opt.model, method = opt.method, scale = opt.scale, width = width or false, data = opt.data,
             train_images = train:size(), epochs = S.epochs, batch = batch, lr = lr } })
if run.resumed then print('resuming ' .. run.dir) end
local saved = run:round_dir(1, 0) .. '/tickets.safetensors'
local t0 = os.time()

-- 1. Search: train the dense net in full, drawing a mask at every observation. An
-- early-bird run (lotto.earlybird.callback as on_eval) would stop at eb.found_at.
if not run:round_done(1, 0) then
  run:begin_round(1, 0)
  local theta0 = model:state()
  local eb = lotto.earlybird.new { ratio = opt.method == 'magnitude' and 0.7 or 0.5, window = 5, threshold = 0.1,
                                   method = opt.method, scope = 'global' }
  lotto.train.fit(model, { train = train }, { -- no val/test: observing costs one mask draw
    optimizer = { kind = 'adam', lr = lr }, batch = batch, iterations = T, seed = 1, progress_label = 'search (dense)',
    bn_l1 = opt.method == 'channel' and 1e-4 or nil, -- network slimming: sparse bn scales to rank channels by
    eval_every = per_epoch // S.per_epoch_obs, on_eval = function(rec, m) eb:observe(m, rec.iter, rec.epoch) end })
  local _, dense_acc = model:evaluate(data.test)
  local final_mask = eb:draw(model) -- the ticket drawn after full training
  if not eb.found then
    lotto.util.user_error('no early-bird ticket within the training budget: raise --epochs (--full) or the threshold')
  end
  local function model_masks(mask) -- the model's masks once the ticket is applied
    model:masks():fill(1)
    eb:apply(model, mask)
    return model:masks():clone()
  end
  assert(lotto.io.save(saved, { theta0 = theta0, earlybird = model_masks(eb.mask), full = model_masks(final_mask) }))
  local rec = eb:record()
  rec.mask_distance_eb_vs_full = lotto.earlybird.distance(eb.mask, final_mask)
  rec.test_acc = { dense = dense_acc }
  rec.density, rec.runs = 1, { dense = { test_acc = dense_acc } } -- what the run store asks of a summary
  assert(run:write_summary(1, 0, rec))
  eb:plot { out = run.dir .. '/plots/earlybird', title = ('%s on %s'):format(opt.model, opt.data), per_epoch = per_epoch }
end
local rec = assert(run:load_summary(1, 0))
local tickets = assert(lotto.io.load(saved))

-- 2. Retrain each ticket from θ0 (masks applied), same data order and budget.
local function retrain(k, which)
  if not run:round_done(1, k) then
    run:begin_round(1, k)
    model:masks():copy(tickets[which])
    model:load_state(tickets.theta0)
    model:apply_mask()
    local r = lotto.train.fit(model, { train = train, test = data.test }, {
      optimizer = { kind = 'adam', lr = lr }, batch = batch, iterations = T, seed = 1, eval_every = T,
      progress_label = 'retrain ' .. which .. ' ticket' })
    assert(run:write_summary(1, k, { ticket = which, test_acc = r.final.test_acc, density = model:density(),
                                     runs = { [which] = { test_acc = r.final.test_acc } } }))
  end
  local s = assert(run:load_summary(1, k))
  return s.test_acc, s.density
end
local eb_acc, eb_density = retrain(1, 'earlybird')
local full_acc, full_density = retrain(2, 'full')

local found = rec.found_at
local saved_iters = T - found.iter
rec.model, rec.data, rec.train_images, rec.iterations_configured, rec.iterations_to_draw = opt.model, opt.data, train:size(), T, found.iter
rec.iterations_saved, rec.saved_fraction = saved_iters, saved_iters / T
rec.found_epoch = found.iter / per_epoch
rec.test_acc = { dense = rec.test_acc.dense, earlybird_ticket = eb_acc, full_ticket = full_acc }
rec.density = { earlybird_ticket = eb_density, full_ticket = full_density }
assert(lotto.json.write(run.dir .. '/earlybird.json', rec, { indent = true }))

print(('\n%s (width %s) on %s (%d training images), %s pruning of %.0f%%, window %d, threshold %.2f, %d s')
  :format(opt.model, tostring(width or 1), opt.data, train:size(), opt.method, 100 * rec.ratio, rec.window, rec.threshold, os.time() - t0))
print(('early-bird ticket drawn at epoch %.1f (iteration %d of %d): %d search iterations saved (%.0f%%)')
  :format(rec.found_epoch, found.iter, T, saved_iters, 100 * saved_iters / T))
print(('mask distance between the early-bird ticket and the ticket after full training: %.3f')
  :format(rec.mask_distance_eb_vs_full))
print(('%-32s %10s %14s'):format('', 'weights', 'test accuracy'))
print(('%-32s %9.1f%% %13.2f%%'):format('dense, trained in full', 100, 100 * rec.test_acc.dense))
print(('%-32s %9.1f%% %13.2f%%'):format('early-bird ticket, retrained', 100 * eb_density, 100 * eb_acc))
print(('%-32s %9.1f%% %13.2f%%'):format('ticket after full training, retr.', 100 * full_density, 100 * full_acc))
print(('\nrecord: %s/earlybird.json\nplots:  %s/plots/earlybird_*'):format(run.dir, run.dir))
return rec
