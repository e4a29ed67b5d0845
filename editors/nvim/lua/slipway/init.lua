-- slipway for Neovim: registers `slipway lsp` for the `dockerfile` filetype with the
-- built-in client (no plugin manager, no nvim-lspconfig). Works on Neovim 0.7 (where
-- `vim.lsp.start` does not exist yet: one client per root is kept by hand) and later.
local M = {}

local defaults = {
  -- The server command; the first element is looked up on $PATH.
  cmd = { "slipway", "lsp", "--stdio" },
  -- Filetypes to attach to.
  filetypes = { "dockerfile" },
  -- Files that mark a project root (searched upward from the Dockerfile).
  root_markers = { ".slipway.toml", ".git" },
  -- Server settings, as `.slipway.toml` plus editor-only keys: ignore, severity,
  -- experimental, shellcheck, shellcheckDelayMs, diagnosticsDelayMs, buildArgs, target,
  -- codeLens (see the README).
  settings = {},
  -- Passed through to the client.
  on_attach = nil,
  capabilities = nil,
}

M.config = vim.deepcopy(defaults)
local clients = {} -- root dir -> client id (Neovim 0.7 only)
local warned = false

local function notify(msg, level)
  vim.schedule(function()
    vim.notify("slipway: " .. msg, level or vim.log.levels.INFO)
  end)
end

--- The message shown when the server binary cannot be started.
function M.missing_message(cmd)
  return ("`%s` was not found (not executable or not on $PATH).\n"
    .. "Install it from a slipway checkout with `cargo install --locked --path .` "
    .. "(it lands in ~/.cargo/bin), or point the plugin at it: "
    .. "require('slipway').setup{ cmd = { '/path/to/slipway', 'lsp', '--stdio' } }"):format(cmd)
end

local function dirname(path)
  return vim.fn.fnamemodify(path, ":h")
end

--- The project root of `path`: the nearest directory upward holding one of the markers,
--- else the file's own directory.
function M.root_dir(path, markers)
  local dir = dirname(path)
  local cur = dir
  for _ = 1, 256 do
    for _, m in ipairs(markers) do
      if vim.loop.fs_stat(cur .. "/" .. m) then
        return cur
      end
    end
    local parent = dirname(cur)
    if parent == cur then
      break
    end
    cur = parent
  end
  return dir
end

local function settings_table()
  local s = M.config.settings or {}
  if next(s) == nil then
    return vim.empty_dict()
  end
  return s
end

local function client_config(root)
  local settings = settings_table()
  return {
    name = "slipway",
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = settings,
    settings = { slipway = settings },
    capabilities = M.config.capabilities,
    on_attach = M.config.on_attach,
  }
end

--- Starts (or reuses) the server for buffer `bufnr`; returns the client id or nil.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local cmd = M.config.cmd[1]
  if vim.fn.executable(cmd) ~= 1 then
    if not warned then
      warned = true
      notify(M.missing_message(cmd), vim.log.levels.ERROR)
    end
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = M.root_dir(name ~= "" and name or (vim.loop.cwd() .. "/Dockerfile"), M.config.root_markers)
  local config = client_config(root)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config)
    if not id then
      notify("could not start " .. table.concat(M.config.cmd, " "), vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- Asks the server for a dry-run plan of the current buffer (cache hits and misses).
function M.plan(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local params = { command = "slipway.plan", arguments = { vim.uri_from_bufnr(bufnr) } }
  vim.lsp.buf_request(bufnr, "workspace/executeCommand", params, function(err, result)
    if err then
      notify(err.message or tostring(err), vim.log.levels.ERROR)
      return
    end
    local lines = {}
    for _, step in ipairs(result or {}) do
      local why = step.reasons and #step.reasons > 0 and (": " .. table.concat(step.reasons, "; ")) or ""
      table.insert(lines, ("line %d: %s%s"):format(step.line, step.cached and "cached" or "rebuild", why))
    end
    notify(table.concat(lines, "\n"))
  end)
end

--- Runs `slipway build` on the current buffer's file in a terminal split.
function M.build(args)
  local file = vim.api.nvim_buf_get_name(0)
  if file == "" then
    notify("save the Dockerfile first", vim.log.levels.WARN)
    return
  end
  local cmd = { M.config.cmd[1], "build", "-f", file }
  for _, a in ipairs(args or {}) do
    table.insert(cmd, a)
  end
  table.insert(cmd, dirname(file))
  vim.cmd("botright split")
  vim.fn.termopen(cmd)
end

--- Configures the plugin and registers the server for the configured filetypes.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  if type(M.config.cmd) == "string" then
    M.config.cmd = { M.config.cmd, "lsp", "--stdio" }
  end
  if type(M.config.cmd) ~= "table" or type(M.config.cmd[1]) ~= "string" then
    notify(
      "setup{cmd=...} must be the server's command line, e.g. { '/usr/local/bin/slipway', 'lsp', '--stdio' }",
      vim.log.levels.ERROR
    )
    M.config.cmd = vim.deepcopy(defaults.cmd)
  end
  if type(M.config.settings) ~= "table" then
    notify("setup{settings=...} must be a table of the server's settings; using none", vim.log.levels.ERROR)
    M.config.settings = {}
  end
  warned = false
  local group = vim.api.nvim_create_augroup("slipway", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  -- Buffers opened before setup.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(M.config.filetypes, vim.bo[buf].filetype) then
      M.attach(buf)
    end
  end
  vim.api.nvim_create_user_command("SlipwayPlan", function()
    M.plan()
  end, { desc = "slipway: plan this Dockerfile" })
  vim.api.nvim_create_user_command("SlipwayBuild", function(c)
    M.build(c.fargs)
  end, { nargs = "*", desc = "slipway: build this Dockerfile" })
end

return M
