//! Fake but unique addresses: one InternalIP per hollow node, and a pool of pod IPs per node
//! (the node's `spec.podCIDR` when the controller manager has set one, a fake /24 otherwise).

use std::net::Ipv4Addr;

/// The range node InternalIPs come from: 10.200.0.0/16.
const NODE_BASE: u32 = u32::from_be_bytes([10, 200, 0, 0]);
/// The fake pod ranges, a /24 per node: 10.128.0.0/9.
const POD_BASE: u32 = u32::from_be_bytes([10, 128, 0, 0]);

/// The most nodes one process can address: the node range is a /16 without network and
/// broadcast, the fake pod ranges are 32,768 /24s.
pub const MAX_NODES: usize = 32_768;

/// The most addresses a pool tracks, so a wide podCIDR (a /16) costs no more than 512 bytes.
const MAX_POOL: u32 = 4_096;

/// The InternalIP of the node with this index (0 is 10.200.0.1).
pub fn node_ip(index: usize) -> Ipv4Addr {
    debug_assert!(index < MAX_NODES);
    Ipv4Addr::from(NODE_BASE + 1 + index as u32)
}

/// The fake pod range of the node with this index, used while it has no `spec.podCIDR`.
pub fn fake_pod_cidr(index: usize) -> String {
    debug_assert!(index < MAX_NODES);
    format!("{}/24", Ipv4Addr::from(POD_BASE + ((index as u32) << 8)))
}

/// IPv4 addresses of one CIDR handed out one at a time, round robin from the last one given
/// (as host-local IPAM does, so a freed address is not reused at once).
#[derive(Debug, Clone)]
pub struct Ipv4Pool {
    /// The first usable address (the network address + 1).
    first: u32,
    /// How many usable addresses, at most `MAX_POOL`.
    size: u32,
    used: Vec<u64>,
    next: u32,
}

impl Ipv4Pool {
    /// A pool over the usable addresses of an IPv4 CIDR (`10.42.3.0/24`); `None` for anything
    /// else (IPv6, a malformed value, a prefix longer than /30).
    pub fn new(cidr: &str) -> Option<Self> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        if !(1..=30).contains(&prefix) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix);
        let network = u32::from(addr) & mask;
        let size = ((1u64 << (32 - prefix)) - 2).min(u64::from(MAX_POOL)) as u32;
        Some(Self {
            first: network + 1,
            size,
            used: vec![0; size.div_ceil(64) as usize],
            next: 0,
        })
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).checked_sub(self.first)?;
        (off < self.size).then_some(off)
    }

    fn is_used(&self, off: u32) -> bool {
        self.used[(off / 64) as usize] & (1 << (off % 64)) != 0
    }

    fn set(&mut self, off: u32, used: bool) {
        let word = &mut self.used[(off / 64) as usize];
        if used {
            *word |= 1 << (off % 64);
        } else {
            *word &= !(1 << (off % 64));
        }
    }

    /// A free address, now marked used; `None` when the pool is exhausted.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        for i in 0..self.size {
            let off = (self.next + i) % self.size;
            if !self.is_used(off) {
                self.set(off, true);
                self.next = (off + 1) % self.size;
                return Some(Ipv4Addr::from(self.first + off));
            }
        }
        None
    }

    /// Marks an address handed out earlier (by a previous process) as used; false if it is
    /// not in the pool or already used.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(off) if !self.is_used(off) => {
                self.set(off, true);
                true
            }
            _ => false,
        }
    }

    /// Frees an address; addresses outside the pool (from a podCIDR the node had before) are
    /// ignored.
    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset(ip) {
            self.set(off, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_are_unique_and_in_range() {
        assert_eq!(node_ip(0), Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(node_ip(255), Ipv4Addr::new(10, 200, 1, 0));
        assert_eq!(node_ip(MAX_NODES - 1), Ipv4Addr::new(10, 200, 128, 0));
        let all: std::collections::HashSet<_> = (0..MAX_NODES).map(node_ip).collect();
        assert_eq!(all.len(), MAX_NODES);
    }

    #[test]
    fn fake_pod_ranges_do_not_overlap() {
        assert_eq!(fake_pod_cidr(0), "10.128.0.0/24");
        assert_eq!(fake_pod_cidr(1), "10.128.1.0/24");
        assert_eq!(fake_pod_cidr(300), "10.129.44.0/24");
        assert_eq!(fake_pod_cidr(MAX_NODES - 1), "10.255.255.0/24");
    }

    #[test]
    fn pool_hands_out_usable_addresses_round_robin() {
        let mut pool = Ipv4Pool::new("10.42.3.0/30").unwrap();
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 42, 3, 1), Ipv4Addr::new(10, 42, 3, 2))
        );
        assert_eq!(pool.allocate(), None, "a /30 has two usable addresses");
        pool.release(a);
        assert_eq!(pool.allocate(), Some(a));
        pool.release(b);
        pool.release(a);
        // Round robin: after handing out .1 last, .2 comes next.
        assert_eq!(pool.allocate(), Some(b));
    }

    #[test]
    fn pool_from_unaligned_cidr_and_wide_ranges() {
        let mut pool = Ipv4Pool::new("10.42.3.77/24").unwrap();
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 42, 3, 1)));
        let mut wide = Ipv4Pool::new("10.0.0.0/8").unwrap();
        let n = std::iter::from_fn(|| wide.allocate()).count();
        assert_eq!(n, MAX_POOL as usize);
        let mut full = Ipv4Pool::new("10.1.0.0/24").unwrap();
        assert_eq!(std::iter::from_fn(|| full.allocate()).count(), 254);
    }

    #[test]
    fn pool_rejects_what_it_cannot_use() {
        for bad in [
            "fd00::/64",
            "10.0.0.0",
            "10.0.0.0/31",
            "10.0.0.0/0",
            "x/24",
            "10.0.0.0/33",
        ] {
            assert!(Ipv4Pool::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn reserve_and_release_outside_the_pool() {
        let mut pool = Ipv4Pool::new("10.1.0.0/24").unwrap();
        assert!(pool.reserve(Ipv4Addr::new(10, 1, 0, 1)));
        assert!(!pool.reserve(Ipv4Addr::new(10, 1, 0, 1)), "already used");
        assert!(!pool.reserve(Ipv4Addr::new(10, 1, 0, 255)), "broadcast");
        assert!(!pool.reserve(Ipv4Addr::new(10, 2, 0, 1)), "elsewhere");
        pool.release(Ipv4Addr::new(10, 9, 9, 9));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 1, 0, 2)));
    }
}
