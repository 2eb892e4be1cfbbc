-- Drives a real headless Neovim through DiSE's better-version flow; run by
-- tests/test_neovim_phase2.py (helpers copied from drive_generate.lua):
--
--   DISE_NVIM_PARAMS=params.json nvim --headless --clean -c "luafile drive_better.lua"
--
-- generate the stub → `dise.optimize` → wait (vim.wait) for the better-version diagnostic and
-- lens → the "Accept optimized version" quick fix, run through its command → both gone.
--
-- params.json: {"setup": docs/neovim.lua, "file": the Python file, "cmd": server command,
-- "name": stub name, "result": where to write the JSON result, "wait_ms": limit of each
-- wait, "optimize_wait_ms": limit of the wait for the optimiser, "expect": optional text the
-- accepted version must contain}. The client is started by the documented setup (docs/neovim.lua), exactly as a
-- user's config would. print() goes nowhere useful headless, so everything observed goes
-- into the result file; the script ends with `qall!`, or `cquit 1` when a step failed.

local params = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.DISE_NVIM_PARAMS), "\n"))
local api_version = vim.fn.api_info().version
local result = {
  stage = "start", messages = {}, progress = {}, lenses_before = {}, lenses_after = {},
  nvim = string.format("%d.%d.%d", api_version.major, api_version.minor, api_version.patch),
}
local is_011 = vim.fn.has("nvim-0.11") == 1

local function save()
  vim.fn.writefile({ vim.fn.json_encode(result) }, params.result)
end

local function fail(why)
  error({ dise = why }, 0)
end

local function step(name)
  result.stage = name
  save()
end

-- What the server tells the user and the progress it reports, kept for the test to read.
local show = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, msg, ctx, config)
  table.insert(result.messages, { type = msg and msg.type, message = msg and msg.message })
  return show and show(err, msg, ctx, config)
end
local progress = vim.lsp.handlers["$/progress"]
vim.lsp.handlers["$/progress"] = function(err, msg, ctx, config)
  if msg and msg.value then
    table.insert(result.progress, { kind = msg.value.kind, message = msg.value.message or msg.value.title })
  end
  return progress and progress(err, msg, ctx, config)
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local function def_line(buf, name)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if line:find("def " .. name .. "(", 1, true) then
      return i - 1
    end
  end
  fail("no `def " .. name .. "(` in the buffer")
end

-- Titles of the code lenses Neovim shows (refreshed by docs/neovim.lua's autocmds).
local function lens_titles(buf)
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(buf) or {}) do
    if lens.command and lens.command.title then
      table.insert(titles, lens.command.title)
    end
  end
  return titles
end

local function wait_for_lens(buf, prefix)
  local found = vim.wait(params.wait_ms, function()
    for _, title in ipairs(lens_titles(buf)) do
      if vim.startswith(title, prefix) then
        return true
      end
    end
    return false
  end, 20)
  return lens_titles(buf), found
end

local function attached_client(buf)
  local all = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  for _, client in ipairs(all) do
    if client.name == "dise" and vim.lsp.buf_is_attached(buf, client.id) then
      return client
    end
  end
end

local function request_sync(client, method, req, buf)
  if is_011 then
    return client:request_sync(method, req, params.wait_ms, buf)
  end
  return client.request_sync(method, req, params.wait_ms, buf)
end

local function only_answer(responses, what)
  for _, response in pairs(responses or {}) do
    if response.err then
      fail(what .. " failed: " .. vim.inspect(response.err))
    end
    return response.result
  end
  fail(what .. ": no answer within " .. params.wait_ms .. " ms")
end


local function better_diagnostics(buf)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.code == "better-version" then
      table.insert(found, d)
    end
  end
  return found
end

local function code_actions(buf, line, diagnostics)
  local pos = { line = line, character = 0 }
  local lsp_diagnostics = {}
  for _, d in ipairs(diagnostics or {}) do
    -- what vim.lsp.buf.code_action sends: the LSP shape rebuilt from vim.diagnostic's
    local raw = (d.user_data and d.user_data.lsp) or {}
    table.insert(lsp_diagnostics, {
      range = { start = { line = d.lnum, character = d.col },
                ["end"] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col } },
      message = d.message, severity = d.severity, source = d.source,
      code = raw.code or d.code, data = raw.data,
    })
  end
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = pos, ["end"] = pos },
    context = { diagnostics = lsp_diagnostics },
  }, params.wait_ms)
  return only_answer(answers, "textDocument/codeAction") or {}
end

-- What vim.lsp.buf.code_action does with a chosen action: apply its edit, run its command.
local function run_action(client, buf, action)
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, "utf-16")
  end
  local command = type(action.command) == "table" and action.command or action
  local reply = request_sync(client, "workspace/executeCommand", {
    command = command.command, arguments = command.arguments,
  }, buf)
  if not reply then
    fail("workspace/executeCommand: no answer within " .. params.wait_ms .. " ms")
  end
  if reply.err then
    fail("workspace/executeCommand failed: " .. vim.inspect(reply.err))
  end
  return reply.result
end

local function pick(actions, prefix)
  for _, action in ipairs(actions) do
    if vim.startswith(action.title, prefix) then
      return action
    end
  end
  local titles = {}
  for _, action in ipairs(actions) do
    table.insert(titles, action.title)
  end
  fail("no action starting with " .. prefix .. " among " .. vim.inspect(titles))
end

local function main()
  step("setup")
  local dise = dofile(params.setup)
  dise.setup({ cmd = params.cmd })

  step("open")
  vim.cmd("edit " .. vim.fn.fnameescape(params.file))
  local buf = vim.api.nvim_get_current_buf()
  local original = buffer_text(buf)
  local client
  if not vim.wait(params.wait_ms, function()
    client = attached_client(buf)
    return client ~= nil and client.initialized == true
  end, 20) then
    fail("the dise client did not attach and initialize")
  end
  local uri = vim.uri_from_bufnr(buf)

  step("generate")
  local generate = pick(code_actions(buf, def_line(buf, params.name)), "DiSE: Generate")
  result.generate_result = run_action(client, buf, generate)
  if not vim.wait(params.wait_ms, function() return buffer_text(buf) ~= original end, 20) then
    fail("the generated function never reached the buffer")
  end
  result.generated = buffer_text(buf)
  vim.cmd("write")

  step("optimize")
  result.optimize_result = request_sync(client, "workspace/executeCommand", {
    command = "dise.optimize", arguments = { { uri = uri, line = def_line(buf, params.name) } },
  }, buf).result

  step("diagnostic")
  local diagnostics
  if not vim.wait(params.optimize_wait_ms, function()
    diagnostics = better_diagnostics(buf)
    return #diagnostics > 0
  end, 50) then
    fail("no better-version diagnostic within " .. params.optimize_wait_ms .. " ms")
  end
  result.diagnostic = { message = diagnostics[1].message, severity = diagnostics[1].severity,
                        source = diagnostics[1].source, lnum = diagnostics[1].lnum,
                        def_line = def_line(buf, params.name) }

  step("lens")
  vim.cmd("doautocmd InsertLeave")
  local found
  result.lenses_better, found = wait_for_lens(buf, "⚡ Better version available")
  if not found then
    pcall(vim.lsp.codelens.refresh)
    result.lenses_better = wait_for_lens(buf, "⚡ Better version available")
  end

  step("accept")
  local accept = pick(code_actions(buf, def_line(buf, params.name), diagnostics),
                      "DiSE: Accept optimized version")
  result.accept_kind = accept.kind
  result.accept_result = run_action(client, buf, accept)
  -- params.expect: a text the scripted model's version has; with a real model, any change
  if not vim.wait(params.wait_ms, function()
    local text = buffer_text(buf)
    if params.expect and params.expect ~= vim.NIL then
      return text:find(params.expect, 1, true) ~= nil
    end
    return text ~= result.generated
  end, 20) then
    fail("the optimised version never reached the buffer")
  end
  result.accepted = buffer_text(buf)

  step("gone")
  result.diagnostics_gone = vim.wait(params.wait_ms, function()
    return #better_diagnostics(buf) == 0
  end, 20)
  vim.cmd("doautocmd InsertLeave")
  result.lenses_gone = vim.wait(params.wait_ms, function()
    for _, title in ipairs(lens_titles(buf)) do
      if title:find("Better version", 1, true) then
        return false
      end
    end
    return #lens_titles(buf) > 0
  end, 20)
  result.lenses_after = lens_titles(buf)
  vim.cmd("write")
  step("done")
end

local ok, err = xpcall(main, function(e)
  return type(e) == "table" and e.dise or (tostring(e) .. "\n" .. debug.traceback())
end)
result.ok = ok
if not ok then
  result.error = err
end
save()
if ok then
  vim.cmd("qall!")
else
  vim.cmd("cquit 1")
end
