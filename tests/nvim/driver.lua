-- What the Neovim drivers (drive_generate.lua, drive_better.lua) share: reading params.json,
-- the result file, waiting on the dise client, and choosing code actions through
-- vim.lsp.buf.code_action with the requests it sends watched.
--
--   local d = dofile(vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/driver.lua")
--   d.run(function() ... end)
--
-- params.json ($DISE_NVIM_PARAMS): {"setup": docs/neovim.lua, "file": the Python file, "cmd":
-- server command, "name": stub name, "result": where to write the JSON result, "wait_ms":
-- limit of each wait, plus what a driver needs}. print() goes nowhere useful headless, so
-- everything observed goes into d.result, saved to the result file after every step; the run
-- ends with `qall!`, or `cquit 1` when a step failed.

local d = {}

d.params = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.DISE_NVIM_PARAMS), "\n"))
local params = d.params
local api_version = vim.fn.api_info().version
d.result = {
  stage = "start", messages = {}, progress = {}, lenses_before = {}, lenses_after = {},
  nvim = string.format("%d.%d.%d", api_version.major, api_version.minor, api_version.patch),
}
local result = d.result
local is_011 = vim.fn.has("nvim-0.11") == 1

function d.save()
  vim.fn.writefile({ vim.fn.json_encode(result) }, params.result)
end

function d.fail(why)
  error({ dise = why }, 0)
end

function d.step(name)
  result.stage = name
  d.save()
end

-- What the server tells the user, the edits it sends and the progress it reports, kept for
-- the test to read.
local show = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, msg, ctx, config)
  table.insert(result.messages, { type = msg and msg.type, message = msg and msg.message })
  return show and show(err, msg, ctx, config)
end
-- Edits the server sends (workspace/applyEdit), counted; the default handler applies them.
result.server_edits = 0
local apply_edit = vim.lsp.handlers["workspace/applyEdit"]
vim.lsp.handlers["workspace/applyEdit"] = function(err, params_, ctx, config)
  result.server_edits = result.server_edits + 1
  return apply_edit(err, params_, ctx, config)
end
local progress = vim.lsp.handlers["$/progress"]
vim.lsp.handlers["$/progress"] = function(err, msg, ctx, config)
  if msg and msg.value then
    table.insert(result.progress, { kind = msg.value.kind, message = msg.value.message or msg.value.title })
  end
  return progress and progress(err, msg, ctx, config)
end

function d.buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

function d.def_line(buf, name)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if line:find("def " .. name .. "(", 1, true) then
      return i - 1
    end
  end
  d.fail("no `def " .. name .. "(` in the buffer")
end

-- Titles of the code lenses Neovim shows (refreshed by docs/neovim.lua's autocmds).
function d.lens_titles(buf)
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(buf) or {}) do
    if lens.command and lens.command.title then
      table.insert(titles, lens.command.title)
    end
  end
  return titles
end

function d.wait_for_lens(buf, prefix)
  local found = vim.wait(params.wait_ms, function()
    for _, title in ipairs(d.lens_titles(buf)) do
      if vim.startswith(title, prefix) then
        return true
      end
    end
    return false
  end, 20)
  return d.lens_titles(buf), found
end

local function attached_client(buf)
  local all = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  for _, client in ipairs(all) do
    if client.name == "dise" and vim.lsp.buf_is_attached(buf, client.id) then
      return client
    end
  end
end

-- Start the client through the documented setup, exactly as a user's config would, open
-- params.file and wait for the client to attach; returns the buffer and the client.
function d.open()
  d.step("setup")
  local dise = dofile(params.setup)
  dise.setup({ cmd = params.cmd })

  d.step("open")
  vim.cmd("edit " .. vim.fn.fnameescape(params.file))
  local buf = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[buf].filetype
  local client
  if not vim.wait(params.wait_ms, function()
    client = attached_client(buf)
    return client ~= nil and client.initialized == true
  end, 20) then
    d.fail("the dise client did not attach and initialize (filetype " .. result.filetype .. ")")
  end
  return buf, client
end

function d.request_sync(client, method, req, buf)
  if is_011 then
    return client:request_sync(method, req, params.wait_ms, buf)
  end
  return client.request_sync(method, req, params.wait_ms, buf)
end

function d.only_answer(responses, what)
  for _, response in pairs(responses or {}) do
    if response.err then
      d.fail(what .. " failed: " .. vim.inspect(response.err))
    end
    return response.result
  end
  d.fail(what .. ": no answer within " .. params.wait_ms .. " ms")
end

-- The code actions at a line, sent with the diagnostics the way vim.lsp.buf.code_action
-- does: the LSP shape rebuilt from vim.diagnostic's.
function d.code_actions(buf, line, diagnostics)
  local pos = { line = line, character = 0 }
  local lsp_diagnostics = {}
  for _, diag in ipairs(diagnostics or {}) do
    local raw = (diag.user_data and diag.user_data.lsp) or {}
    table.insert(lsp_diagnostics, {
      range = { start = { line = diag.lnum, character = diag.col },
                ["end"] = { line = diag.end_lnum or diag.lnum, character = diag.end_col or diag.col } },
      message = diag.message, severity = diag.severity, source = diag.source,
      code = raw.code or diag.code, data = raw.data,
    })
  end
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = pos, ["end"] = pos },
    context = { diagnostics = lsp_diagnostics },
  }, params.wait_ms)
  return d.only_answer(answers, "textDocument/codeAction") or {}
end

function d.pick(actions, prefix)
  for _, action in ipairs(actions) do
    if vim.startswith(action.title, prefix) then
      return action
    end
  end
  local titles = {}
  for _, action in ipairs(actions) do
    table.insert(titles, action.title)
  end
  d.fail("no action starting with " .. prefix .. " among " .. vim.inspect(titles))
end

-- Watch the requests the client sends (as Neovim's own code sends them: `client.request` on
-- 0.7, `client:request` on 0.11) and their answers, without changing them. Returns the list
-- the entries {method, params, done, err, result} are appended to.
function d.watch_requests(client)
  if d.watched then
    return d.watched
  end
  d.watched = {}
  local original = client.request
  client.request = function(...)
    local args, n = { ... }, select("#", ...)
    local first = rawequal(args[1], client) and 2 or 1    -- 0.11: client:request(...)
    local method, handler = args[first], args[first + 2]
    local entry = { method = method, params = args[first + 1], done = false }
    table.insert(d.watched, entry)
    local answer = handler or (client.handlers and client.handlers[method]) or vim.lsp.handlers[method]
    args[first + 2] = function(err, res, ctx, config)
      entry.done, entry.err, entry.result = true, err, res
      if answer then
        return answer(err, res, ctx, config)
      end
    end
    return original(unpack(args, 1, math.max(n, first + 3)))
  end
  return d.watched
end

-- Choose the action titled `prefix…` at `line` the way a user does: `vim.lsp.buf.code_action()`
-- (Neovim's own code: it resolves the action when the server offers codeAction/resolve,
-- applies the edit and runs the command) with `vim.ui.select` answered by title. Waits for
-- the command's answer; returns {titles, resolve = the codeAction/resolve answer or nil,
-- command = the workspace/executeCommand answer, command_name}.
function d.choose_action(client, buf, line, prefix)
  local watched = d.watch_requests(client)
  local from = #watched
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
  local seen = { titles = {} }
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    vim.ui.select = select
    for index, item in ipairs(items) do
      local action = item.action or item[2]              -- 0.11: {action, ctx}; 0.7: {id, action}
      table.insert(seen.titles, action.title)
      if seen.chosen == nil and vim.startswith(action.title, prefix) then
        seen.chosen = index
      end
    end
    on_choice(seen.chosen and items[seen.chosen] or nil, seen.chosen)
  end
  vim.lsp.buf.code_action()
  local command
  local ok = vim.wait(params.wait_ms, function()
    if seen.titles[1] ~= nil and seen.chosen == nil then
      return true
    end
    for i = from + 1, #watched do
      if watched[i].method == "workspace/executeCommand" and watched[i].done then
        command = watched[i]
        return true
      end
    end
    return false
  end, 20)
  vim.ui.select = select
  if seen.chosen == nil then
    d.fail("no action starting with " .. prefix .. " among " .. vim.inspect(seen.titles))
  end
  if not ok then
    d.fail("vim.lsp.buf.code_action ran no command within " .. params.wait_ms .. " ms")
  end
  for i = from + 1, #watched do
    if watched[i].method == "codeAction/resolve" then
      if watched[i].err then
        d.fail("codeAction/resolve failed: " .. vim.inspect(watched[i].err))
      end
      seen.resolve = watched[i].result
    end
  end
  if command.err then
    d.fail("workspace/executeCommand failed: " .. vim.inspect(command.err))
  end
  seen.command, seen.command_name = command.result, command.params.command
  return seen
end

-- What a codeAction/resolve answer carried, for the result file: vim.NIL when there was none.
function d.resolve_summary(resolved)
  if type(resolved) ~= "table" then
    return vim.NIL
  end
  local command = type(resolved.command) == "table" and resolved.command or {}
  local args = type(command.arguments) == "table" and command.arguments[1] or nil
  return {
    edit = type(resolved.edit) == "table",
    command = command.command or vim.NIL,
    applied = type(args) == "table" and args.applied ~= nil,
  }
end

-- Run the driver's steps, save the result and quit (`cquit 1` when a step failed).
function d.run(main)
  local ok, err = xpcall(main, function(e)
    return type(e) == "table" and e.dise or (tostring(e) .. "\n" .. debug.traceback())
  end)
  result.ok = ok
  if not ok then
    result.error = err
  end
  d.save()
  if ok then
    vim.cmd("qall!")
  else
    vim.cmd("cquit 1")
  end
end

return d
