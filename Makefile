# The task runner CI calls too: `make test` is exactly what .ci/run runs.
.PHONY: deps build run lint test bench clean

deps:
	./scripts/install-deps.sh

build: deps
	cargo build --release

# Builds Barge and starts what exists. The cluster (`barge server`) arrives with the API server;
# until then this prints the version of the binary that was built.
run: build
	./target/release/barge version

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo xtask deps

test: deps lint
	cargo nextest run --workspace --locked --no-fail-fast

bench: build
	./target/release/barge bench store

clean:
	cargo clean
