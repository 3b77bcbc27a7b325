-- lotto: the Lua face of the engine. `require 'lotto'` returns this table;
-- its submodules (lotto.tensor, lotto.nn, lotto.ticket, ...) load on first use,
-- so `lotto.tensor.zeros{2,3}` works without a require of its own.
local lotto = { _VERSION = 'lotto ' .. (LOTTO_VERSION or '?') }

return setmetatable(lotto, {
  __index = function(t, k)
    if type(k) ~= 'string' or k:sub(1, 1) == '_' then return nil end
    local ok, mod = pcall(require, 'lotto.' .. k)
    if not ok then
      if tostring(mod):find("module 'lotto." .. k .. "' not found", 1, true) then return nil end
      error(mod, 2)
    end
    rawset(t, k, mod)
    return mod
  end,
})
