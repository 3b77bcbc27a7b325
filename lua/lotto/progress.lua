-- lotto.progress: a one-line progress bar redrawn with \r on a terminal (label,
-- iterations/s, ETA of this run and of the whole experiment, loss, last accuracy). Off a
-- terminal (nohup, Slurm logs, CI) it prints a plain line every LOTTO_PROGRESS_SECONDS
-- (default 30) instead: no \r, no escape codes. Used by lotto.train.fit; usable by any
-- long loop.
local sys = require 'lotto.sys'

local M = {}
local Bar = {}
Bar.__index = Bar

local function clock(s)
  if s ~= s or s == math.huge or s < 0 then return '?' end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ('%d:%02d:%02d'):format(s // 3600, s % 3600 // 60, s % 60) end
  return ('%d:%02d'):format(s // 60, s % 60)
end

-- Seconds between two plain lines off a terminal.
local function log_every()
  local v = tonumber(os.getenv('LOTTO_PROGRESS_SECONDS') or '')
  return v and v >= 0 and v or 30
end

--- M.new{total = n_or_nil, enabled = nil|true|false, label = 'train', after = seconds,
-- out = io.stdout}. enabled nil: a bar on a terminal, plain lines every
-- LOTTO_PROGRESS_SECONDS off one; true: a bar; false: nothing. after: the estimated
-- seconds of the experiment left once this loop ends (shown as "all ETA").
function M.new(opts)
  opts = opts or {}
  local enabled, mode = opts.enabled, 'bar'
  if enabled == nil then
    enabled = true
    if not sys.isatty(1) then mode = 'log' end
  end
  return setmetatable({
    enabled = enabled and true or false,
    mode = mode,
    every = log_every(),
    total = opts.total,
    label = opts.label or '',
    after = opts.after,
    out = opts.out or io.stdout,
    start = sys.now(),
    paused = 0,        -- seconds spent outside the loop (evaluations), excluded from it/s
    last_draw = -1,
    shown = false,
    acc = nil,
  }, Bar)
end

--- Records the latest accuracy shown at the end of the line (a fraction), with
-- a label such as 'val' (default 'acc').
function Bar:set_acc(acc, label) self.acc, self.acc_label = acc, label end

--- Excludes `seconds` (e.g. an evaluation) from the iteration rate.
function Bar:pause(seconds) self.paused = self.paused + seconds end

--- Redraws at most ten times a second on a terminal, or prints a plain line every
-- `every` seconds off one (always when force is true).
function Bar:update(iter, loss, force)
  if not self.enabled then return end
  local now = sys.now()
  if self.mode == 'log' then
    if not force and now - math.max(self.last_draw, self.start) < self.every then return end
  elseif not force and now - self.last_draw < 0.1 then
    return
  end
  self.last_draw = now
  local busy = math.max(now - self.start - self.paused, 1e-9)
  local rate = iter / busy
  local parts = { self.label ~= '' and self.label or nil }
  if self.total then
    parts[#parts + 1] = ('%d/%d %3d%%'):format(iter, self.total, math.floor(100 * iter / math.max(self.total, 1)))
    local eta = (self.total - iter) / rate
    parts[#parts + 1] = ('ETA %s'):format(clock(eta))
    if self.after then parts[#parts + 1] = ('all ETA %s'):format(clock(eta + self.after)) end
  else
    parts[#parts + 1] = ('%d'):format(iter)
  end
  parts[#parts + 1] = ('%.1f it/s'):format(rate)
  if loss then parts[#parts + 1] = ('loss %.4f'):format(loss) end
  if self.acc then parts[#parts + 1] = ('%s %.2f%%'):format(self.acc_label or 'acc', 100 * self.acc) end
  if self.mode == 'log' then
    self.out:write('progress: ', table.concat(parts, ' | '), '\n')
  else
    self.out:write('\r', table.concat(parts, ' | '), '\27[K')
    self.shown = true
  end
  self.out:flush()
end

--- Erases the line (before printing something else); the next update redraws it.
function Bar:clear()
  if self.enabled and self.mode == 'bar' and self.shown then
    self.out:write('\r\27[K')
    self.out:flush()
    self.shown = false
    self.last_draw = -1
  end
end

--- Leaves the last state on its own line.
function Bar:finish(iter, loss)
  if not self.enabled or self.mode == 'log' then return end
  if iter then self:update(iter, loss, true) end
  if self.shown then self.out:write('\n') self.out:flush() end
  self.shown = false
end

return M
