-- Drives a real headless Neovim through DiSE's generate action; run by tests/test_neovim.py:
--
--   DISE_NVIM_PARAMS=params.json nvim --headless --clean -c "luafile drive_generate.lua"
--
-- open the stub → its "DiSE: Generate" lens → the code action, chosen through
-- vim.lsp.buf.code_action (resolved first where the server offers it) and run → the
-- function in the buffer → write → the "DiSE: fitness" lens → hover. params.json and the
-- result file: see driver.lua.

local d = dofile(vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/driver.lua")
local params, result = d.params, d.result

d.run(function()
  local buf, client = d.open()
  local original = d.buffer_text(buf)

  d.step("codeLens")
  -- docs/neovim.lua refreshes lenses when the client attaches; only wait for them.
  result.lenses_before = d.wait_for_lens(buf, "DiSE: Generate")

  d.step("codeAction")
  local line = d.def_line(buf, params.name)
  local actions = d.code_actions(buf, line)
  result.actions = {}
  for _, action in ipairs(actions) do
    table.insert(result.actions, action.title)
  end
  d.pick(actions, "DiSE: Generate")

  d.step("executeCommand")
  -- Chosen through vim.lsp.buf.code_action, as a user does (Neovim resolves it first when
  -- the server offers codeAction/resolve; the generate action comes back as it was).
  local chosen = d.choose_action(client, buf, line, "DiSE: Generate")
  result.command_result = chosen.command
  result.command_name = chosen.command_name
  result.resolved = d.resolve_summary(chosen.resolve)

  d.step("applied")
  if type(result.command_result) ~= "table" or result.command_result.applied ~= true then
    d.fail("the server did not apply the function: " .. vim.inspect(result.command_result))
  end
  if not vim.wait(params.wait_ms, function()
    return d.buffer_text(buf) ~= original
  end, 20) then
    d.fail("the generated function never reached the buffer")
  end
  result.buffer = d.buffer_text(buf)

  d.step("write")
  vim.cmd("write")
  result.modified_after_write = vim.bo[buf].modified

  d.step("codeLens after")
  vim.cmd("doautocmd InsertLeave")   -- what leaving insert mode does: the setup refreshes
  result.lenses_after = d.wait_for_lens(buf, "DiSE: fitness")

  d.step("hover")
  line = d.def_line(buf, params.name)
  vim.api.nvim_win_set_cursor(0, { line + 1, 4 })
  local hover = d.only_answer(vim.lsp.buf_request_sync(buf, "textDocument/hover", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line, character = 4 },
  }, params.wait_ms), "textDocument/hover")
  result.hover = hover and hover.contents or vim.NIL

  d.step("done")
end)
