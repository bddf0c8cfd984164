# The two commands a newcomer needs. Everything else lives in scripts/.
.PHONY: dev test build unit bench

dev:   ## Run the stack locally: PostgreSQL + wrangler dev on http://127.0.0.1:8787
	@bash scripts/dev.sh

test:  ## Run every test: unit, end-to-end against a fresh stack, deploy dry-run
	@bash scripts/test.sh

build: ## Build the Worker only
	@bash scripts/toolchain.sh && bash scripts/build-worker.sh

unit:  ## Native unit tests only (fast, no services)
	@cargo test

bench: ## Fan-out figures: this endpoint against a bare JS room (prints, never fails on timing)
	@bash scripts/bench.sh
