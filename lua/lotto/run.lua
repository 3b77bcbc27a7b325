-- lotto.run: `lotto run <config.lua | config.json>`, an experiment from a config file.
-- A .lua file returns the options table of lotto.ticket.imp (it may use the `lotto`
-- global, e.g. for a model function); a .json file holds the same options as data,
-- such as the config.json of an earlier run (rerunning it resumes that run). The key
-- `driver` picks the experiment: 'imp' (default), 'one_shot' or 'lmc' (lotto.lmc.analyze).
--
--   lotto run examples/configs/lenet.lua --restart
--   lotto run runs/lenet_imp/config.json --seeds 1,2,3      (add seeds to a finished run)
local args = require 'lotto.args'
local json = require 'lotto.json'
local U = require 'lotto.util'

local M = {}

M.cli = {
  usage = 'lotto run <config.lua | config.json> [options]',
  about = 'Runs an experiment from a config file: a Lua file returning the options table of\n'
    .. 'lotto.ticket.imp (help(lotto.ticket.imp), docs/reference.md), or a JSON file with the same\n'
    .. "options (the config.json of a run resumes it). driver = 'imp' (default), 'one_shot' or\n"
    .. "'lmc' picks the experiment. Prints the results table at the end.",
  positional = { { 'config', 'the config file (.lua or .json)' } },
  scales = { { '(any)', 'as the config says', 'see the example it came from' } },
  options = {
    { 'restart', false, 'start over instead of resuming' },
    { 'seeds', nil, 'override the seeds, e.g. 1,2,3', type = 'string' },
    { 'rounds', nil, 'override the number of rounds', type = 'number' },
    { 'name', nil, 'override the run name', type = 'string' },
  },
}

local function fail(msg) U.user_error('run: ' .. msg) end

--- load(path) -> the options table of a config file, or nil, message.
function M.load(path)
  if path:match('%.json$') then
    local t, err = json.read(path)
    if not t then return nil, err end
    for k, v in pairs(t) do
      if v == '<function>' then
        return nil, ("%s: option '%s' was a Lua function, which JSON cannot hold: write a .lua config"):format(path, k)
      end
    end
    return t
  end
  local chunk, err = loadfile(path, 't', setmetatable({}, { __index = _G }))
  if not chunk then return nil, err end
  local ok, t = pcall(chunk)
  if not ok then return nil, U.strip(t) end
  if type(t) ~= 'table' then return nil, ('%s must return the options table (got %s)'):format(path, type(t)) end
  return t
end

--- main(...) : the command line of `lotto run`.
function M.main(...)
  local o = args.parse({ ... }, M.cli)
  local cfg, err = M.load(o.config)
  if not cfg then fail(err) end
  local driver = cfg.driver or 'imp'
  cfg.driver = nil
  U.one_of(driver, { 'imp', 'one_shot', 'lmc' }, "option 'driver'", 'run')
  if o.restart then cfg.restart = true end
  if o.name then cfg.name = o.name end
  if o.rounds then cfg.rounds = math.tointeger(o.rounds) or fail('--rounds must be an integer') end
  if o.seeds then
    cfg.seeds = {}
    for s in o.seeds:gmatch('[^,%s]+') do cfg.seeds[#cfg.seeds + 1] = math.tointeger(tonumber(s)) or fail('--seeds: ' .. s) end
  end
  if driver == 'lmc' then return require('lotto.lmc').analyze(cfg) end
  local ticket = require 'lotto.ticket'
  local results, run = ticket[driver](cfg)
  local a0 = results.aggregate[1]
  local acc = a0 and a0.methods.ticket and a0.methods.ticket.early_stop_test_acc
  print()
  print(ticket.report(results, { metric = acc and 'early_stop_test_acc' or 'final_test_loss' }))
  return results, run
end

local hok, help = pcall(require, 'lotto.help')
if hok and type(help) == 'table' and help.register then
  help.register(M, {
    load = 'load(path) -> the options table of a .lua or .json config file | nil, msg',
    main = "main(config[, '--restart', '--seeds', '1,2', ...]): what `lotto run` does",
  })
  help.set(M, 'lotto.run: `lotto run <config.lua | config.json>`, an experiment from a config file')
end

return M
