//! The `pods/eviction` subresource, as upstream's: an eviction is a delete that a
//! PodDisruptionBudget may refuse. A pod covered by a budget that allows no disruption now gets
//! 429 (kubectl drain waits and retries); otherwise the budget's `disruptionsAllowed` is taken
//! down by one and the pod recorded in `disruptedPods` (both with a compare-and-swap, so two
//! evictions can never spend one allowance) before the pod is deleted. The disruption
//! controller recomputes the budget from the pods afterwards.

use std::time::SystemTime;

use barge_api::selector::LabelSelector;
use barge_api::time::format_rfc3339;
use barge_api::{ApiError, GroupResource};
use barge_store::{RangeRequest, Revision};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::ApiServer;
use crate::handlers::{from_kv, store_error};

const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Attempts at updating a budget that others update at the same time.
const ATTEMPTS: usize = 5;

/// Checks and spends the disruption budget covering `pod`, if any; `Ok` means the pod may be
/// deleted now.
pub async fn admit(state: &ApiServer, pod: &Value) -> Result<(), ApiError> {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") || !pod["metadata"]["deletionTimestamp"].is_null() {
        return Ok(()); // nothing left to disrupt
    }
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    for _ in 0..ATTEMPTS {
        let budgets = budgets_for(state, namespace, pod).await?;
        let (budget, revision, key) = match budgets.len() {
            0 => return Ok(()),
            1 => budgets.into_iter().next().expect("one"),
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                ));
            }
        };
        let Some(spent) = spend(&budget, name)? else {
            return Ok(());
        };
        let value = Bytes::from(serde_json::to_vec(&spent).map_err(ApiError::internal)?);
        match state.store.update(&key, value, revision, None).await {
            Ok(_) => return Ok(()),
            Err(barge_store::Error::Conflict { .. }) => continue,
            Err(e) => {
                let gr = GroupResource::new("policy", "poddisruptionbudgets");
                return Err(store_error(e, &gr, budget_name(&budget)));
            }
        }
    }
    Err(ApiError::too_many_requests(
        REFUSED,
        "DisruptionBudget",
        "the disruption budget changed too often; try again",
    ))
}

fn budget_name(budget: &Value) -> &str {
    budget["metadata"]["name"].as_str().unwrap_or_default()
}

/// The budgets of the namespace whose selector matches the pod, with their revisions and keys.
async fn budgets_for(
    state: &ApiServer,
    namespace: &str,
    pod: &Value,
) -> Result<Vec<(Value, Revision, String)>, ApiError> {
    let prefix = {
        let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
        let Some(resource) = registry.by_kind("policy", "v1", "PodDisruptionBudget") else {
            return Ok(Vec::new());
        };
        resource.list_prefix(Some(namespace))
    };
    let page = state
        .store
        .range(RangeRequest::prefix(prefix))
        .await
        .map_err(ApiError::internal)?;
    let labels = pod["metadata"]["labels"].as_object();
    let mut matching = Vec::new();
    for kv in &page.kvs {
        let budget = from_kv(kv)?;
        // In policy/v1 an empty selector selects every pod; a missing one selects none.
        let selector = &budget["spec"]["selector"];
        if selector.is_null() {
            continue;
        }
        let Ok(selector) = LabelSelector::from_json(selector) else {
            continue;
        };
        if selector.matches(labels) {
            matching.push((budget, kv.mod_revision, kv.key.clone()));
        }
    }
    Ok(matching)
}

/// The budget with one disruption spent on `pod`, or the refusal; `None` when the pod is
/// already counted as disrupted.
fn spend(budget: &Value, pod: &str) -> Result<Option<Value>, ApiError> {
    let name = budget_name(budget);
    let status = &budget["status"];
    if !status["disruptedPods"][pod].is_null() {
        return Ok(None);
    }
    let generation = budget["metadata"]["generation"].as_i64().unwrap_or(0);
    if status["observedGeneration"].as_i64().unwrap_or(0) < generation {
        return Err(ApiError::too_many_requests(
            REFUSED,
            "DisruptionBudget",
            &format!("The disruption budget {name} is still being processed by the server."),
        ));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed <= 0 {
        let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
        let current = status["currentHealthy"].as_i64().unwrap_or(0);
        return Err(ApiError::too_many_requests(
            REFUSED,
            "DisruptionBudget",
            &format!(
                "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
            ),
        ));
    }
    let mut spent = budget.clone();
    spent["status"]["disruptionsAllowed"] = json!(allowed - 1);
    spent["status"]["disruptedPods"][pod] = json!(format_rfc3339(SystemTime::now()));
    if let Some(meta) = spent["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    Ok(Some(spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(allowed: i64, observed: i64) -> Value {
        json!({
            "metadata": {"name": "web", "generation": 1, "resourceVersion": "7"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": allowed, "observedGeneration": observed,
                       "desiredHealthy": 3, "currentHealthy": 3}
        })
    }

    #[test]
    fn spending_takes_one_allowance_and_records_the_pod() {
        let spent = spend(&budget(1, 1), "web-1").unwrap().unwrap();
        assert_eq!(spent["status"]["disruptionsAllowed"], 0);
        assert!(spent["status"]["disruptedPods"]["web-1"].is_string());
        assert!(spent["metadata"].get("resourceVersion").is_none());
        assert_eq!(spend(&spent, "web-1").unwrap(), None, "already counted");
    }

    #[test]
    fn no_allowance_or_an_unprocessed_budget_refuses_with_429() {
        let e = spend(&budget(0, 1), "web-1").unwrap_err();
        assert_eq!(e.code, 429);
        assert_eq!(e.message, REFUSED);
        assert_eq!(
            e.details.unwrap()["causes"][0]["message"],
            "The disruption budget web needs 3 healthy pods and has 3 currently"
        );
        let e = spend(&budget(1, 0), "web-1").unwrap_err();
        assert!(
            e.details.unwrap()["causes"][0]["message"]
                .as_str()
                .unwrap()
                .contains("still being processed")
        );
    }
}
