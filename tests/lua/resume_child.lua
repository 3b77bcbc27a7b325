-- resume_child.lua: shared by the kill-and-resume tests of train.fit checkpoints
-- (test_dst_resume.lua, test_resume_dropout.lua).
local M = {}

-- Runs this test script again as a child with env[1] = case and env[2] = ckpt set, which
-- trains until it exits with code 9 at its crash point. Returns os.execute's three values.
function M.crash(env, case, ckpt)
  local cmd = ("%s=%s %s='%s' '%s' '%s' >/dev/null 2>&1"):format(env[1], case, env[2], ckpt, arg[-1] or 'lotto', arg[0])
  return os.execute(cmd)
end

-- A history's records without their wall-clock time.
function M.untimed(records)
  local out = {}
  for i, r in ipairs(records) do
    out[i] = {}
    for k, v in pairs(r) do if k ~= 'time' then out[i][k] = v end end
  end
  return out
end

return M
