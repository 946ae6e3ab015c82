//! Keeps the [`Index`] in step with the informers.
//!
//! Level-triggered: a change only names the Service to look at again; its contribution is then
//! rebuilt from the caches (the Service and the slices currently labelled with its name) and
//! swapped in. Which slices belong to which Service is tracked here, so a change costs the
//! Service's own slices, not a scan of the namespace. A subscriber that fell behind
//! ([`Change::Resynced`]) rebuilds the whole index off to the side and swaps it in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use barge_client::informer::Subscription;
use barge_client::{Change, Informer, Key};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::index::{Index, SERVICE_NAME_LABEL, Zone, contribution};
use crate::server::Shared;

/// Which slices belong to which Service (by the `kubernetes.io/service-name` label).
#[derive(Debug, Default)]
struct Membership {
    owner: HashMap<Key, Key>,
    slices: HashMap<Key, BTreeSet<Key>>,
}

impl Membership {
    /// Files `slice` under `service` (or nothing); returns the Service it was filed under.
    fn file(&mut self, slice: Key, service: Option<Key>) -> Option<Key> {
        let old = self.owner.remove(&slice);
        if let Some(old) = &old
            && let Some(set) = self.slices.get_mut(old)
        {
            set.remove(&slice);
            if set.is_empty() {
                self.slices.remove(old);
            }
        }
        if let Some(service) = service {
            self.slices
                .entry(service.clone())
                .or_default()
                .insert(slice.clone());
            self.owner.insert(slice, service);
        }
        old
    }
}

/// The Service an EndpointSlice belongs to.
fn owner(slice: &EndpointSlice) -> Option<Key> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(Key::new(
        slice.metadata.namespace.clone().unwrap_or_default(),
        name.clone(),
    ))
}

/// Follows the informers into the index; see the module doc.
pub(crate) struct Watcher {
    shared: Arc<Shared>,
    zone: Zone,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    service_changes: Subscription<Service>,
    slice_changes: Subscription<EndpointSlice>,
    membership: Membership,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    /// The contribution of `service` as the caches have it now.
    fn build(&self, key: &Key) -> Option<crate::index::Contribution> {
        let service = self.services.cache().get_key(key)?;
        let slices: Vec<Arc<EndpointSlice>> = self
            .membership
            .slices
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.slices.cache().get_key(k))
            .collect();
        contribution(&self.zone, &service, &slices)
    }

    fn refresh(&self, key: &Key) {
        let contribution = self.build(key);
        let mut index = self.shared.index.write().unwrap_or_else(|e| e.into_inner());
        index.set(key, contribution);
    }

    /// Rebuilds everything from the caches and swaps it in.
    fn rebuild(&mut self) {
        self.membership = Membership::default();
        for slice in self.slices.cache().list() {
            self.membership.file(Key::of(slice.as_ref()), owner(&slice));
        }
        let mut index = Index::new(self.zone.clone());
        for service in self.services.cache().list() {
            let key = Key::of(service.as_ref());
            index.set(&key, self.build(&key));
        }
        *self.shared.index.write().unwrap_or_else(|e| e.into_inner()) = index;
    }

    fn slice_changed(&mut self, change: Change<EndpointSlice>) {
        let (key, service) = match &change {
            Change::Applied { new, .. } => (Key::of(new.as_ref()), owner(new)),
            Change::Deleted(old) => (Key::of(old.as_ref()), None),
            Change::Resynced => return self.rebuild(),
        };
        let old = self.membership.file(key, service.clone());
        if let Some(old) = old.as_ref().filter(|old| Some(*old) != service.as_ref()) {
            self.refresh(old);
        }
        if let Some(service) = &service {
            self.refresh(service);
        }
    }

    fn service_changed(&mut self, change: Change<Service>) {
        match change.object() {
            Some(service) => self.refresh(&Key::of(service.as_ref())),
            None => self.rebuild(),
        }
    }
}

impl Watcher {
    /// Subscribes to both informers (before anything is read from their caches, so no change
    /// in between is missed); if they have listed already, builds the index and marks the
    /// server ready at once.
    pub fn new(
        shared: Arc<Shared>,
        services: Informer<Service>,
        slices: Informer<EndpointSlice>,
    ) -> Self {
        let zone = shared
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .zone()
            .clone();
        let mut watcher = Self {
            service_changes: services.subscribe(),
            slice_changes: slices.subscribe(),
            shared,
            zone,
            services,
            slices,
            membership: Membership::default(),
        };
        if watcher.services.is_synced() && watcher.slices.is_synced() {
            watcher.first_build();
        }
        watcher
    }

    fn first_build(&mut self) {
        self.rebuild();
        self.shared.ready.store(true, Ordering::Release);
        tracing::debug!("cluster DNS index built");
    }

    /// Builds the index once both informers have listed (if [`Watcher::new`] could not), then
    /// follows their changes until the task is dropped or the informers are gone.
    pub async fn run(mut self) {
        if !self.shared.ready.load(Ordering::Acquire) {
            self.services.synced().await;
            self.slices.synced().await;
            self.first_build();
        }
        loop {
            tokio::select! {
                change = self.service_changes.next() => match change {
                    Some(change) => self.service_changed(change),
                    None => return,
                },
                change = self.slice_changes.next() => match change {
                    Some(change) => self.slice_changed(change),
                    None => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_follows_relabelling() {
        let mut m = Membership::default();
        let slice = Key::new("ns", "s1");
        assert_eq!(m.file(slice.clone(), Some(Key::new("ns", "a"))), None);
        assert_eq!(
            m.file(slice.clone(), Some(Key::new("ns", "b"))),
            Some(Key::new("ns", "a"))
        );
        assert!(!m.slices.contains_key(&Key::new("ns", "a")));
        assert_eq!(m.slices[&Key::new("ns", "b")].len(), 1);
        assert_eq!(m.file(slice, None), Some(Key::new("ns", "b")));
        assert!(m.slices.is_empty() && m.owner.is_empty());
    }
}
