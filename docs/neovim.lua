-- DiSE for Neovim (0.7 and later).
--
-- Copy this file to ~/.config/nvim/lua/dise.lua and add to your init.lua:
--
--   require("dise").setup({
--     -- everything below is optional
--     cmd = { "dise", "serve" },
--     settings = {                        -- sent as initializationOptions
--       backend = "auto",                 -- "auto" | "ollama" | "llamacpp"
--       ollama = { host = "http://127.0.0.1:11434" },
--       pipeline = { default_generator = "qwen-0.5b", interactive_budget_s = 30 },
--       storeScope = "user",              -- "workspace": keep the store in <root>/.dise
--     },
--     keymaps = { code_action = "<leader>da", hover = "K", codelens = "<leader>dl" },
--   })
--
-- Then, in a Python file: put the cursor on a stub (a `def` whose body is only a docstring,
-- `...` or `pass`) or on a `# dise: <what the function should do>` line, press <leader>da and
-- pick "DiSE: Generate …". Progress shows in `:lua print(vim.inspect(vim.lsp.status()))` on
-- 0.10+ (or your statusline plugin); the function is inserted when it is ready. Press K on a
-- generated function to see its fitness, tests and generator. Code lenses above stubs and
-- generated functions refresh on BufEnter and InsertLeave; <leader>dl runs the one on the
-- cursor line.
--
-- Neovim 0.8+ uses vim.lsp.start (one client per root, reused across buffers); 0.7 uses
-- vim.lsp.start_client + vim.lsp.buf_attach_client.

local M = {}

M.defaults = {
  cmd = { "dise", "serve" },
  settings = {},
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", "dise.toml", ".git" },
  keymaps = { code_action = "<leader>da", hover = "K", codelens = "<leader>dl" },
}

local clients_by_root = {} -- 0.7 only: vim.lsp.start does this itself on 0.8+

local function root_dir(buf, markers)
  local file = vim.api.nvim_buf_get_name(buf)
  local dir = file ~= "" and vim.fn.fnamemodify(file, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(markers) do
    local found_dir = vim.fn.finddir(marker, dir .. ";")
    if found_dir ~= "" then
      return vim.fn.fnamemodify(found_dir, ":p:h:h") -- "/root/.git/" -> "/root"
    end
    local found_file = vim.fn.findfile(marker, dir .. ";")
    if found_file ~= "" then
      return vim.fn.fnamemodify(found_file, ":p:h")
    end
  end
  return dir
end

local function on_attach(opts)
  return function(_, buf)
    local function map(lhs, fn, desc)
      if lhs then
        vim.keymap.set("n", lhs, fn, { buffer = buf, silent = true, desc = desc })
      end
    end
    map(opts.keymaps.code_action, vim.lsp.buf.code_action, "DiSE: code actions")
    map(opts.keymaps.hover, vim.lsp.buf.hover, "DiSE: hover")
    map(opts.keymaps.codelens, vim.lsp.codelens.run, "DiSE: run code lens")
    vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave" }, {
      buffer = buf,
      callback = function()
        pcall(vim.lsp.codelens.refresh)
      end,
    })
    pcall(vim.lsp.codelens.refresh)
  end
end

function M.start(buf, opts)
  opts = opts or M.defaults
  local root = root_dir(buf, opts.root_markers)
  -- Lua encodes an empty table as a JSON array: send settings only when there are some
  -- (0.8+ then also repeats them in workspace/didChangeConfiguration).
  local has_settings = next(opts.settings or {}) ~= nil
  local config = {
    name = "dise",
    cmd = opts.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = has_settings and opts.settings or nil,
    settings = has_settings and { dise = opts.settings } or nil,
    on_attach = on_attach(opts),
  }
  if vim.lsp.start then -- Neovim 0.8 and later
    return vim.lsp.start(config, { bufnr = buf })
  end
  local id = clients_by_root[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(config)
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(buf, id)
  end
  return id
end

function M.setup(user)
  local opts = vim.tbl_deep_extend("force", {}, M.defaults, user or {})
  local group = vim.api.nvim_create_augroup("dise", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "python",
    callback = function(args)
      M.start(args.buf, opts)
    end,
  })
end

return M
