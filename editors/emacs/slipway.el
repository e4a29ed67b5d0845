;;; slipway.el --- The slipway language server for Dockerfiles, with eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: languages, tools
;; SPDX-License-Identifier: Apache-2.0

;;; Commentary:

;; Registers `slipway lsp' with eglot for Dockerfile buffers and starts it when one opens.
;; Works with `dockerfile-ts-mode' (Emacs 29), `dockerfile-mode' (MELPA) and, when neither
;; is installed, the small `slipway-dockerfile-mode' defined here.
;;
;;   (add-to-list 'load-path "/path/to/slipway/editors/emacs")
;;   (require 'slipway)
;;
;; Settings: `slipway-program', `slipway-settings' (the server's settings as a plist, e.g.
;; '(:ignore ["DL3008"] :shellcheck t)), `slipway-auto-start'.  Commands: `slipway-plan',
;; `slipway-build'.

;;; Code:

(require 'eglot)

(defgroup slipway nil
  "The slipway Dockerfile language server."
  :group 'languages
  :prefix "slipway-")

(defcustom slipway-program "slipway"
  "The slipway binary: a name on `exec-path' or an absolute file name."
  :type 'string)

(defcustom slipway-settings nil
  "The server's settings, a plist (`.slipway.toml' keys and editor-only ones).
Keys: :ignore, :severity, :experimental, :shellcheck, :shellcheckDelayMs,
:diagnosticsDelayMs, :buildArgs, :target, :codeLens.  Vectors for lists, plists
for maps, :json-false for false."
  :type 'plist)

(defcustom slipway-auto-start t
  "Start eglot with slipway when a Dockerfile buffer opens."
  :type 'boolean)

(defconst slipway--instructions
  '("ADD" "ARG" "CMD" "COPY" "ENTRYPOINT" "ENV" "EXPOSE" "FROM" "HEALTHCHECK" "LABEL"
    "MAINTAINER" "ONBUILD" "RUN" "SHELL" "STOPSIGNAL" "USER" "VOLUME" "WORKDIR"))

(define-derived-mode slipway-dockerfile-mode prog-mode "Dockerfile"
  "A minimal Dockerfile mode, for when no other one is installed."
  (setq-local comment-start "# ")
  (setq-local comment-start-skip "#+\\s-*")
  (modify-syntax-entry ?# "<" slipway-dockerfile-mode-syntax-table)
  (modify-syntax-entry ?\n ">" slipway-dockerfile-mode-syntax-table)
  (setq-local font-lock-defaults
              `(((,(concat "^\\s-*\\(?:ONBUILD\\s-+\\)?" (regexp-opt slipway--instructions 'words))
                  . font-lock-keyword-face)
                 ("\\(?:^\\|\\s-\\)\\(--[a-z-]+\\)" 1 font-lock-builtin-face)
                 ("\\${?[A-Za-z_][A-Za-z0-9_]*}?" . font-lock-variable-name-face))
                nil t)))

(defun slipway--major-mode ()
  "The Dockerfile mode to use here."
  (cond ((and (fboundp 'dockerfile-ts-mode) (fboundp 'treesit-language-available-p)
              (treesit-language-available-p 'dockerfile))
         'dockerfile-ts-mode)
        ((fboundp 'dockerfile-mode) 'dockerfile-mode)
        (t 'slipway-dockerfile-mode)))

(defconst slipway-file-regexp
  "\\(?:\\`\\|/\\)\\(?:\\(?:Dockerfile\\|Containerfile\\)\\(?:\\.[^/]*\\)?\\|[^/]*\\.\\(?:[Dd]ockerfile\\|[Cc]ontainerfile\\)\\)\\'"
  "Dockerfile names: Dockerfile, Containerfile, Dockerfile.*, *.Dockerfile, ...")

(defun slipway--contact (&optional _interactive)
  "The eglot contact for slipway, or an error saying how to install it."
  (let ((program (executable-find slipway-program)))
    (unless program
      (user-error "slipway: `%s' was not found; install it from a slipway checkout with `cargo install --locked --path .', or set `slipway-program'"
                  slipway-program))
    `(,program "lsp" "--stdio" :initializationOptions ,(or slipway-settings '(:shellcheck t)))))

(defconst slipway-modes '(dockerfile-ts-mode dockerfile-mode slipway-dockerfile-mode)
  "Major modes slipway serves.")

(add-to-list 'eglot-server-programs (cons slipway-modes #'slipway--contact))
(add-to-list 'auto-mode-alist (cons slipway-file-regexp 'slipway--set-mode))

(defun slipway--set-mode ()
  "Enter the Dockerfile mode available here."
  (funcall (slipway--major-mode)))

(defun slipway--maybe-start ()
  "Start eglot in this buffer when `slipway-auto-start' says so."
  (when slipway-auto-start
    (setq-local eglot-workspace-configuration (list :slipway (or slipway-settings '(:shellcheck t))))
    (eglot-ensure)))

(dolist (mode slipway-modes)
  (add-hook (intern (format "%s-hook" mode)) #'slipway--maybe-start))

(defun slipway--uri (file)
  "FILE as a file:// URI, with the eglot of this Emacs."
  (if (fboundp 'eglot-path-to-uri)
      (funcall 'eglot-path-to-uri file)
    (funcall 'eglot--path-to-uri file)))

(defun slipway-plan ()
  "Show a dry-run plan of this Dockerfile: cached steps, why others rebuild."
  (interactive)
  (let* ((server (eglot--current-server-or-lose))
         (steps (jsonrpc-request server :workspace/executeCommand
                                 `(:command "slipway.plan" :arguments [,(slipway--uri (buffer-file-name))]))))
    (message "%s"
             (mapconcat (lambda (s)
                          (format "line %s: %s%s" (plist-get s :line)
                                  (if (eq (plist-get s :cached) t) "cached" "rebuild")
                                  (let ((r (plist-get s :reasons)))
                                    (if (> (length r) 0) (concat " (" (mapconcat #'identity r "; ") ")") ""))))
                        steps "\n"))))

(defun slipway-build (&optional args)
  "Run `slipway build' on this Dockerfile, with extra ARGS (a string)."
  (interactive "sslipway build extra arguments: ")
  (let ((file (or (buffer-file-name) (user-error "slipway: save the Dockerfile first"))))
    (compile (format "%s build -f %s %s %s" (shell-quote-argument slipway-program)
                     (shell-quote-argument file) (or args "")
                     (shell-quote-argument (file-name-directory file))))))

(provide 'slipway)
;;; slipway.el ends here
