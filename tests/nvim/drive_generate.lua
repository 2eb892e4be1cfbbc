-- Drives a real headless Neovim through DiSE's generate action; run by tests/test_neovim.py:
--
--   DISE_NVIM_PARAMS=params.json nvim --headless --clean -c "luafile drive_generate.lua"
--
-- params.json: {"setup": docs/neovim.lua, "file": the Python file, "cmd": server command,
-- "name": stub name, "result": where to write the JSON result, "wait_ms": limit of each
-- wait}. The client is started by the documented setup (docs/neovim.lua), exactly as a
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

local function main()
  step("setup")
  local dise = dofile(params.setup)
  dise.setup({ cmd = params.cmd })

  step("open")
  vim.cmd("edit " .. vim.fn.fnameescape(params.file))
  local buf = vim.api.nvim_get_current_buf()
  local original = buffer_text(buf)
  result.filetype = vim.bo[buf].filetype
  local client
  if not vim.wait(params.wait_ms, function()
    client = attached_client(buf)
    return client ~= nil and client.initialized == true
  end, 20) then
    fail("the dise client did not attach and initialize (filetype " .. result.filetype .. ")")
  end

  step("codeLens")
  -- docs/neovim.lua refreshes lenses when the client attaches; only wait for them.
  result.lenses_before = wait_for_lens(buf, "DiSE: Generate")

  step("codeAction")
  local line = def_line(buf, params.name)
  local pos = { line = line, character = 0 }
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = pos, ["end"] = pos },
    context = { diagnostics = {} },
  }, params.wait_ms)
  local actions = only_answer(answers, "textDocument/codeAction") or {}
  result.actions = {}
  local chosen
  for _, action in ipairs(actions) do
    table.insert(result.actions, action.title)
    if not chosen and vim.startswith(action.title, "DiSE: Generate") then
      chosen = action
    end
  end
  if not chosen then
    fail("no DiSE: Generate action on line " .. line)
  end

  -- What vim.lsp.buf.code_action does with a chosen action that carries a command. The
  -- default workspace/applyEdit handler inserts the function while request_sync waits.
  step("executeCommand")
  local command = type(chosen.command) == "table" and chosen.command or chosen
  local reply = request_sync(client, "workspace/executeCommand", {
    command = command.command,
    arguments = command.arguments,
  }, buf)
  if not reply then
    fail("workspace/executeCommand: no answer within " .. params.wait_ms .. " ms")
  end
  if reply.err then
    fail("workspace/executeCommand failed: " .. vim.inspect(reply.err))
  end
  result.command_result = reply.result

  step("applied")
  if type(result.command_result) ~= "table" or result.command_result.applied ~= true then
    fail("the server did not apply the function: " .. vim.inspect(result.command_result))
  end
  if not vim.wait(params.wait_ms, function()
    return buffer_text(buf) ~= original
  end, 20) then
    fail("the generated function never reached the buffer")
  end
  result.buffer = buffer_text(buf)

  step("write")
  vim.cmd("write")
  result.modified_after_write = vim.bo[buf].modified

  step("codeLens after")
  vim.cmd("doautocmd InsertLeave")   -- what leaving insert mode does: the setup refreshes
  result.lenses_after = wait_for_lens(buf, "DiSE: fitness")

  step("hover")
  line = def_line(buf, params.name)
  vim.api.nvim_win_set_cursor(0, { line + 1, 4 })
  local hover = only_answer(vim.lsp.buf_request_sync(buf, "textDocument/hover", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line, character = 4 },
  }, params.wait_ms), "textDocument/hover")
  result.hover = hover and hover.contents or vim.NIL

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
