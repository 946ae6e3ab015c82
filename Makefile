# The task runner CI calls too: `make test` is exactly what .ci/run runs.
.PHONY: deps build run lint test bench clean

deps:
	./scripts/install-deps.sh

build: deps
	cargo build --release

# Builds Barge and starts a one-node cluster: the control plane and the node agent
# (containerd, kubelet). As root.
run: build
	./target/release/barge server

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo xtask deps

test: deps lint
	cargo nextest run --workspace --locked --no-fail-fast

bench: build
	./target/release/barge bench store
	./target/release/barge bench api
	./target/release/barge bench scheduler
	./target/release/barge bench pods
	./target/release/barge bench network

clean:
	cargo clean
