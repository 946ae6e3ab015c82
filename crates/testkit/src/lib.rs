//! Test harness shared by Barge's tests and benchmarks: real helper processes (etcd today;
//! containerd, agents and network namespaces as later parts need them), each owning a
//! temporary directory and killed and removed on drop, also when a test fails.

mod etcd;

pub use etcd::{Etcd, EtcdError};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
