" Dockerfiles under the names slipway knows (some are missing from older runtimes).
autocmd BufNewFile,BufRead Dockerfile,Dockerfile.*,*.Dockerfile,*.dockerfile setfiletype dockerfile
autocmd BufNewFile,BufRead Containerfile,Containerfile.*,*.Containerfile,*.containerfile setfiletype dockerfile
