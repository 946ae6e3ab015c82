//! Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does:
//! the holder renews `renewTime` every `retry` period; another candidate takes the Lease over
//! once `renewTime + leaseDurationSeconds` has passed. Writes carry the resourceVersion read,
//! so two candidates can never both win.

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::writer::{is_conflict, is_not_found};

/// The timings of an election (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Debug)]
pub struct Timing {
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership.
    pub renew_deadline: Duration,
    /// The pause between attempts (acquire and renew).
    pub retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// One candidate for the Lease `namespace/name`.
#[derive(Clone, Debug)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
}

impl Elector {
    /// A candidate for the Lease `kube-system/<name>` (e.g. `kube-scheduler`).
    pub fn new(client: Client, name: &str, identity: &str, timing: Timing) -> Self {
        Self {
            api: Api::namespaced(client, "kube-system"),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
        }
    }

    /// Waits to become the leader, then runs `work` while renewing the Lease. Returns what
    /// `work` returns, or an error once leadership is lost (the caller should stop its work
    /// and may stand again).
    pub async fn lead<F: Future>(&self, work: F) -> Result<F::Output> {
        let mut lease = loop {
            match self.try_acquire().await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, lease = %self.name, "acquire failed"),
            }
            tokio::time::sleep(self.timing.retry).await;
        };
        tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
        let renew = async {
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(self.timing.retry).await;
                match self.renew(&lease).await {
                    Ok(renewed) => {
                        lease = renewed;
                        last = tokio::time::Instant::now();
                    }
                    Err(e) if last.elapsed() >= self.timing.renew_deadline => {
                        return anyhow::anyhow!("lost the lease {}: {e}", self.name);
                    }
                    Err(e) => tracing::debug!(error = %e, lease = %self.name, "renew failed"),
                }
            }
        };
        tokio::select! {
            output = work => Ok(output),
            lost = renew => Err(lost),
        }
    }

    /// Takes the Lease if it is free, expired or already ours.
    async fn try_acquire(&self) -> Result<Option<Lease>> {
        let now = Timestamp::now();
        let existing = match self.api.get(&self.name).await {
            Ok(lease) => lease,
            Err(e) if is_not_found(&e) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(now, now, 0)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(lease) => Ok(Some(lease)),
                    Err(e) if is_conflict(&e) => Ok(None),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let spec = existing.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours && !expired(&spec, now) {
            return Ok(None);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours {
            spec.acquire_time.map_or(now, |t| t.0)
        } else {
            now
        };
        let mut lease = existing;
        lease.spec = Some(self.spec(acquired, now, transitions));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(lease) => Ok(Some(lease)),
            Err(e) if is_conflict(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        let mut lease = lease.clone();
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            bail!("the lease is held by someone else");
        }
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        Ok(self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?)
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_duration.as_secs().max(1) as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }
}

/// Whether a Lease's holder has stopped renewing it for longer than its duration.
fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref() else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    renewed.0 + duration < now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration_since_the_last_renewal() {
        let now = Timestamp::now();
        let spec = |ago: i64| LeaseSpec {
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(ago))),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(!expired(&spec(5), now));
        assert!(expired(&spec(16), now));
        assert!(expired(&LeaseSpec::default(), now));
    }
}
