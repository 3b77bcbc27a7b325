-- lotto.progress: a one-line progress bar redrawn with \r on a terminal
-- (iterations/s, ETA, loss, last accuracy); silent when stdout is not a tty.
-- Used by lotto.train.fit; usable by any long loop.
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

--- M.new{total = n_or_nil, enabled = nil|true|false, label = 'train', out = io.stdout}
-- enabled nil means: only when stdout is a terminal.
function M.new(opts)
  opts = opts or {}
  local enabled = opts.enabled
  if enabled == nil then enabled = sys.isatty(1) end
  return setmetatable({
    enabled = enabled and true or false,
    total = opts.total,
    label = opts.label or '',
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

--- Redraws at most ten times a second (always when force is true).
function Bar:update(iter, loss, force)
  if not self.enabled then return end
  local now = sys.now()
  if not force and now - self.last_draw < 0.1 then return end
  self.last_draw = now
  local busy = math.max(now - self.start - self.paused, 1e-9)
  local rate = iter / busy
  local parts = { self.label ~= '' and self.label or nil }
  if self.total then
    parts[#parts + 1] = ('%d/%d %3d%%'):format(iter, self.total, math.floor(100 * iter / self.total))
    parts[#parts + 1] = ('ETA %s'):format(clock((self.total - iter) / rate))
  else
    parts[#parts + 1] = ('%d'):format(iter)
  end
  parts[#parts + 1] = ('%.1f it/s'):format(rate)
  if loss then parts[#parts + 1] = ('loss %.4f'):format(loss) end
  if self.acc then parts[#parts + 1] = ('%s %.2f%%'):format(self.acc_label or 'acc', 100 * self.acc) end
  self.out:write('\r', table.concat(parts, ' | '), '\27[K')
  self.out:flush()
  self.shown = true
end

--- Erases the line (before printing something else); the next update redraws it.
function Bar:clear()
  if self.enabled and self.shown then
    self.out:write('\r\27[K')
    self.out:flush()
    self.shown = false
    self.last_draw = -1
  end
end

--- Leaves the last state on its own line.
function Bar:finish(iter, loss)
  if not self.enabled then return end
  if iter then self:update(iter, loss, true) end
  if self.shown then self.out:write('\n') self.out:flush() end
  self.shown = false
end

return M
