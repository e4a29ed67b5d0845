-- The README's screenshot (see shoot.sh): the plugin as a user loads it, a dark float for the
-- hover, and a hover on `$HOME` once slipway's diagnostics are in.
vim.opt.runtimepath:prepend(os.getenv("SLIPWAY_PLUGIN"))
vim.opt.termguicolors = true
vim.opt.number = true
vim.opt.signcolumn = "yes"
vim.cmd("highlight NormalFloat guibg=#2b2f36 guifg=#e0e0e0")
vim.cmd("highlight FloatBorder guibg=#2b2f36 guifg=#7aa6da")
vim.lsp.handlers["textDocument/hover"] = vim.lsp.with(vim.lsp.handlers.hover, { border = "rounded" })
require("slipway").setup({ cmd = { os.getenv("SLIPWAY_BIN"), "lsp", "--stdio" }, settings = { shellcheck = false } })
local done = false
vim.api.nvim_create_autocmd("DiagnosticChanged", {
  callback = function()
    if done or #vim.diagnostic.get(0) < 3 then
      return
    end
    done = true
    vim.defer_fn(function()
      vim.api.nvim_win_set_cursor(0, { 8, 22 })
      vim.lsp.buf.hover()
    end, 300)
  end,
})
