-- Drives a real headless Neovim through DiSE's better-version flow; run by
-- tests/test_neovim_phase2.py:
--
--   DISE_NVIM_PARAMS=params.json nvim --headless --clean -c "luafile drive_better.lua"
--
-- generate the stub → `dise.optimize` → wait (vim.wait) for the better-version diagnostic and
-- lens → the "Accept optimized version" quick fix, chosen through vim.lsp.buf.code_action
-- (Neovim resolves it and applies the server's edit itself) → both gone.
-- params.json and the result file: see driver.lua; this driver also reads
-- "optimize_wait_ms" (limit of the wait for the optimiser) and "expect" (optional text the
-- accepted version must contain; without it, any change of the function will do).

local d = dofile(vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h") .. "/driver.lua")
local params, result = d.params, d.result

local function better_diagnostics(buf)
  local found = {}
  for _, diag in ipairs(vim.diagnostic.get(buf)) do
    if diag.code == "better-version" then
      table.insert(found, diag)
    end
  end
  return found
end

d.run(function()
  local buf, client = d.open()
  local original = d.buffer_text(buf)
  local uri = vim.uri_from_bufnr(buf)

  d.step("generate")
  result.generate_result = d.choose_action(client, buf, d.def_line(buf, params.name),
                                           "DiSE: Generate").command
  if not vim.wait(params.wait_ms, function() return d.buffer_text(buf) ~= original end, 20) then
    d.fail("the generated function never reached the buffer")
  end
  result.generated = d.buffer_text(buf)
  vim.cmd("write")

  d.step("optimize")
  result.optimize_result = d.request_sync(client, "workspace/executeCommand", {
    command = "dise.optimize", arguments = { { uri = uri, line = d.def_line(buf, params.name) } },
  }, buf).result

  d.step("diagnostic")
  local diagnostics
  if not vim.wait(params.optimize_wait_ms, function()
    diagnostics = better_diagnostics(buf)
    return #diagnostics > 0
  end, 50) then
    d.fail("no better-version diagnostic within " .. params.optimize_wait_ms .. " ms")
  end
  result.diagnostic = { message = diagnostics[1].message, severity = diagnostics[1].severity,
                        source = diagnostics[1].source, lnum = diagnostics[1].lnum,
                        def_line = d.def_line(buf, params.name) }

  d.step("lens")
  vim.cmd("doautocmd InsertLeave")
  local found
  result.lenses_better, found = d.wait_for_lens(buf, "⚡ Better version available")
  if not found then
    pcall(vim.lsp.codelens.refresh)
    result.lenses_better = d.wait_for_lens(buf, "⚡ Better version available")
  end

  d.step("accept")
  local accept = d.pick(d.code_actions(buf, d.def_line(buf, params.name), diagnostics),
                        "DiSE: Accept optimized version")
  result.accept_kind = accept.kind
  result.accept_data = accept.data ~= nil
  -- Chosen through vim.lsp.buf.code_action, as a user does: Neovim resolves the action (the
  -- server gives it the edit), applies the edit itself and runs the recording command.
  result.server_edits_before_accept = result.server_edits
  local chosen = d.choose_action(client, buf, d.def_line(buf, params.name),
                                 "DiSE: Accept optimized version")
  result.accept_result = chosen.command
  result.accept_command = chosen.command_name
  result.accept_resolved = d.resolve_summary(chosen.resolve)
  if not vim.wait(params.wait_ms, function()
    local text = d.buffer_text(buf)
    if params.expect and params.expect ~= vim.NIL then
      return text:find(params.expect, 1, true) ~= nil
    end
    return text ~= result.generated
  end, 20) then
    d.fail("the optimised version never reached the buffer")
  end
  result.accepted = d.buffer_text(buf)

  d.step("gone")
  result.diagnostics_gone = vim.wait(params.wait_ms, function()
    return #better_diagnostics(buf) == 0
  end, 20)
  vim.cmd("doautocmd InsertLeave")
  result.lenses_gone = vim.wait(params.wait_ms, function()
    for _, title in ipairs(d.lens_titles(buf)) do
      if title:find("Better version", 1, true) then
        return false
      end
    end
    return #d.lens_titles(buf) > 0
  end, 20)
  result.lenses_after = d.lens_titles(buf)
  vim.cmd("write")
  d.step("done")
end)
