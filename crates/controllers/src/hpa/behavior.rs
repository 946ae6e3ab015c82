//! From the metrics' proposal to the count the target gets (upstream's
//! `normalizeDesiredReplicas` and `normalizeDesiredReplicasWithBehaviors`).
//!
//! Without `spec.behavior`: the highest recommendation of the downscale stabilization window
//! (so a scale-down waits until every recent recommendation agrees), then min/max replicas and
//! a scale-up of at most max(2 × current, 4).
//!
//! With `spec.behavior` (its v2 defaults filled in by [`defaulted`]): the recommendation is
//! held between the lowest of the scale-up window and the highest of the scale-down window,
//! then limited by the policies (Pods or Percent per period, counted from the scale events of
//! that period; `selectPolicy` Max takes the policy allowing the largest change, Min the
//! smallest, Disabled none) and min/max replicas.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// One recommendation (a proposal before stabilization) and when it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Recommendation {
    replicas: i32,
    at: Timestamp,
}

/// One rescale: how many replicas it added or removed, when; `outdated` once older than the
/// longest policy period, to be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScaleEvent {
    change: i32,
    at: Timestamp,
    outdated: bool,
}

/// What the controller remembers of one HPA between reconciles.
#[derive(Clone, Debug, Default)]
pub struct History {
    recommendations: Vec<Recommendation>,
    scale_up: Vec<ScaleEvent>,
    scale_down: Vec<ScaleEvent>,
}

/// The count a proposal is normalized to, and the conditions that explain it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub replicas: i32,
    /// The reason and message of `AbleToScale` True.
    pub able: (&'static str, &'static str),
    /// Whether `ScalingLimited` is True, and its reason and message.
    pub limited: bool,
    pub limit: (&'static str, &'static str),
}

/// The current count and the HPA's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub current: i32,
    pub min: i32,
    pub max: i32,
}

const WITHIN_RANGE: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);
const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);

fn policy(type_: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds: period,
    }
}

/// `behavior` with the API's v2 defaults where it says nothing: scale up without a window, by
/// the larger of 4 pods or 100% per 15 s; scale down after `down_window_seconds` (the
/// controller's setting), by up to 100% per 15 s; `selectPolicy` Max.
pub fn defaulted(
    behavior: &HorizontalPodAutoscalerBehavior,
    down_window_seconds: i32,
) -> HorizontalPodAutoscalerBehavior {
    let fill = |rules: Option<&HPAScalingRules>, window: i32, policies: Vec<HPAScalingPolicy>| {
        let rules = rules.cloned().unwrap_or_default();
        HPAScalingRules {
            stabilization_window_seconds: Some(
                rules.stabilization_window_seconds.unwrap_or(window),
            ),
            select_policy: Some(rules.select_policy.unwrap_or_else(|| "Max".into())),
            policies: Some(rules.policies.unwrap_or(policies)),
        }
    };
    HorizontalPodAutoscalerBehavior {
        scale_up: Some(fill(
            behavior.scale_up.as_ref(),
            0,
            vec![policy("Pods", 4, 15), policy("Percent", 100, 15)],
        )),
        scale_down: Some(fill(
            behavior.scale_down.as_ref(),
            down_window_seconds,
            vec![policy("Percent", 100, 15)],
        )),
    }
}

fn rules(rules: &Option<HPAScalingRules>) -> (i32, &str, &[HPAScalingPolicy]) {
    let r = rules.as_ref();
    (
        r.and_then(|r| r.stabilization_window_seconds).unwrap_or(0),
        r.and_then(|r| r.select_policy.as_deref()).unwrap_or("Max"),
        r.and_then(|r| r.policies.as_deref()).unwrap_or_default(),
    )
}

fn secs(seconds: i32) -> SignedDuration {
    SignedDuration::from_secs(i64::from(seconds))
}

impl History {
    /// Records the current count as the first recommendation, on the first reconcile.
    pub fn record_initial(&mut self, current: i32, now: Timestamp) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation {
                replicas: current,
                at: now,
            });
        }
    }

    /// Records `replicas`, reusing the slot of a recommendation older than both windows.
    fn record(&mut self, old: Option<usize>, replicas: i32, now: Timestamp) {
        let r = Recommendation { replicas, at: now };
        match old {
            Some(i) => self.recommendations[i] = r,
            None => self.recommendations.push(r),
        }
    }

    /// Normalization without `spec.behavior`.
    pub fn normalize(
        &mut self,
        bounds: Bounds,
        desired: i32,
        down_window: SignedDuration,
        now: Timestamp,
    ) -> Normalized {
        // The highest recommendation of the window. (Upstream takes the cutoff a moment after
        // the recommendations it compares; this reconcile's share its `now`, hence `<=`.)
        let cutoff = now - down_window;
        let mut stabilized = desired;
        let mut old = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.at <= cutoff {
                old = Some(i);
            } else if r.replicas > stabilized {
                stabilized = r.replicas;
            }
        }
        self.record(old, desired, now);
        let able = if stabilized != desired {
            DOWN_STABILIZED
        } else {
            READY
        };

        let scale_up_limit = (2 * bounds.current).max(4);
        let (max, max_reason) = if bounds.max > scale_up_limit {
            (scale_up_limit, UP_LIMIT)
        } else {
            (bounds.max, TOO_MANY)
        };
        let (replicas, limit) = if stabilized < bounds.min {
            (bounds.min, TOO_FEW)
        } else if stabilized > max {
            (max, max_reason)
        } else {
            (stabilized, WITHIN_RANGE)
        };
        Normalized {
            replicas,
            able,
            limited: replicas != stabilized,
            limit,
        }
    }

    /// Normalization with `spec.behavior`, which must have been [`defaulted`].
    pub fn normalize_with_behavior(
        &mut self,
        behavior: &HorizontalPodAutoscalerBehavior,
        bounds: Bounds,
        desired: i32,
        now: Timestamp,
    ) -> Normalized {
        let (up_window, _, _) = rules(&behavior.scale_up);
        let (down_window, _, _) = rules(&behavior.scale_down);
        let up_cutoff = now - secs(up_window);
        let down_cutoff = now - secs(down_window);
        // The lowest recommendation of the scale-up window and the highest of the scale-down
        // one bound the recommendation.
        let (mut up, mut down) = (desired, desired);
        let mut old = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.at > up_cutoff {
                up = up.min(r.replicas);
            }
            if r.at > down_cutoff {
                down = down.max(r.replicas);
            }
            if r.at <= up_cutoff && r.at <= down_cutoff {
                old = Some(i);
            }
        }
        let stabilized = bounds.current.max(up).min(down);
        self.record(old, desired, now);
        let able = if stabilized == desired {
            READY
        } else if desired >= bounds.current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };

        let (replicas, limit) = self.limit_by_rate(behavior, bounds, stabilized, now);
        Normalized {
            replicas,
            able,
            limited: replicas != stabilized,
            limit,
        }
    }

    /// Upstream's `convertDesiredReplicasWithBehaviorRate`.
    fn limit_by_rate(
        &self,
        behavior: &HorizontalPodAutoscalerBehavior,
        bounds: Bounds,
        desired: i32,
        now: Timestamp,
    ) -> (i32, (&'static str, &'static str)) {
        if desired > bounds.current {
            let limit = scale_up_limit(
                bounds.current,
                &self.scale_up,
                &self.scale_down,
                &behavior.scale_up,
                now,
            )
            // No further scale-up until the events of the period expire.
            .max(bounds.current);
            let (allowed, reason) = if bounds.max > limit {
                (limit, UP_LIMIT)
            } else {
                (bounds.max, TOO_MANY)
            };
            if desired > allowed {
                return (allowed, reason);
            }
        } else if desired < bounds.current {
            let limit = scale_down_limit(
                bounds.current,
                &self.scale_up,
                &self.scale_down,
                &behavior.scale_down,
                now,
            )
            .min(bounds.current);
            let (allowed, reason) = if bounds.min < limit {
                (limit, DOWN_LIMIT)
            } else {
                (bounds.min, TOO_FEW)
            };
            if desired < allowed {
                return (allowed, reason);
            }
        }
        (desired, WITHIN_RANGE)
    }

    /// Remembers a rescale for the policies' periods (only with `spec.behavior`, which must have
    /// been [`defaulted`]).
    pub fn record_scale(
        &mut self,
        behavior: Option<&HorizontalPodAutoscalerBehavior>,
        previous: i32,
        new: i32,
        now: Timestamp,
    ) {
        let Some(behavior) = behavior else {
            return;
        };
        let (events, scaling, change) = if new > previous {
            (&mut self.scale_up, &behavior.scale_up, new - previous)
        } else {
            (&mut self.scale_down, &behavior.scale_down, previous - new)
        };
        let (_, _, policies) = rules(scaling);
        let longest = policies.iter().map(|p| p.period_seconds).max().unwrap_or(0);
        let cutoff = now - secs(longest);
        let mut old = None;
        for (i, e) in events.iter_mut().enumerate() {
            if e.at < cutoff {
                e.outdated = true;
            }
            if e.outdated {
                old = Some(i);
            }
        }
        let event = ScaleEvent {
            change,
            at: now,
            outdated: false,
        };
        match old {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

/// The replicas added (or removed) by the events of the last `period_seconds`.
fn change_in_period(period_seconds: i32, events: &[ScaleEvent], now: Timestamp) -> i32 {
    let cutoff = now - secs(period_seconds);
    events
        .iter()
        .filter(|e| e.at > cutoff)
        .map(|e| e.change)
        .sum()
}

/// The most replicas the scale-up policies allow now.
fn scale_up_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules_: &Option<HPAScalingRules>,
    now: Timestamp,
) -> i32 {
    let (_, select, policies) = rules(rules_);
    let min_change = match select {
        "Disabled" => return current,
        "Min" => true,
        _ => false,
    };
    let mut result = if min_change { i32::MAX } else { i32::MIN };
    for p in policies {
        let added = change_in_period(p.period_seconds, up_events, now);
        let removed = change_in_period(p.period_seconds, down_events, now);
        let start = current - added + removed;
        let proposed = match p.type_.as_str() {
            "Pods" => start + p.value,
            "Percent" => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32,
            _ => continue,
        };
        result = if min_change {
            result.min(proposed)
        } else {
            result.max(proposed)
        };
    }
    result
}

/// The fewest replicas the scale-down policies allow now.
fn scale_down_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules_: &Option<HPAScalingRules>,
    now: Timestamp,
) -> i32 {
    let (_, select, policies) = rules(rules_);
    let min_change = match select {
        "Disabled" => return current,
        "Min" => true,
        _ => false,
    };
    let mut result = if min_change { i32::MIN } else { i32::MAX };
    for p in policies {
        let added = change_in_period(p.period_seconds, up_events, now);
        let removed = change_in_period(p.period_seconds, down_events, now);
        let start = current - added + removed;
        let proposed = match p.type_.as_str() {
            "Pods" => start - p.value,
            "Percent" => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
            _ => continue,
        };
        result = if min_change {
            result.max(proposed)
        } else {
            result.min(proposed)
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        "2026-12-07T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
    }

    fn bounds(current: i32, min: i32, max: i32) -> Bounds {
        Bounds { current, min, max }
    }

    const FIVE_MIN: SignedDuration = SignedDuration::from_secs(300);

    #[test]
    fn the_downscale_window_keeps_the_highest_recommendation() {
        let mut h = History::default();
        h.record_initial(3, t(0));
        // Up to 5: allowed.
        let n = h.normalize(bounds(3, 1, 10), 5, FIVE_MIN, t(15));
        assert_eq!(
            (n.replicas, n.able.0, n.limited),
            (5, "ReadyForNewScale", false)
        );
        assert_eq!(n.limit.0, "DesiredWithinRange");
        // Down to 2 a minute later: the window still holds 5.
        let n = h.normalize(bounds(5, 1, 10), 2, FIVE_MIN, t(60));
        assert_eq!((n.replicas, n.able.0), (5, "ScaleDownStabilized"));
        // Five minutes after the 5 only the 2 of t=60 is left, lower than the new 3.
        let n = h.normalize(bounds(5, 1, 10), 3, FIVE_MIN, t(316));
        assert_eq!(n.replicas, 3);
        // With no window the proposal goes through at once.
        let mut h = History::default();
        h.record_initial(5, t(0));
        let n = h.normalize(bounds(5, 1, 10), 2, SignedDuration::ZERO, t(15));
        assert_eq!((n.replicas, n.able.0), (2, "ReadyForNewScale"));
    }

    #[test]
    fn without_behavior_bounds_and_the_scale_up_limit() {
        let mut h = History::default();
        // max(2×1, 4) = 4 of the 10 allowed.
        let n = h.normalize(bounds(1, 1, 10), 9, SignedDuration::ZERO, t(0));
        assert_eq!(
            (n.replicas, n.limited, n.limit.0),
            (4, true, "ScaleUpLimit")
        );
        let n = h.normalize(bounds(4, 1, 10), 9, SignedDuration::ZERO, t(1));
        assert_eq!(
            (n.replicas, n.limited, n.limit.0),
            (8, true, "ScaleUpLimit")
        );
        let n = h.normalize(bounds(8, 1, 10), 30, SignedDuration::ZERO, t(2));
        assert_eq!((n.replicas, n.limit.0), (10, "TooManyReplicas"));
        let n = h.normalize(bounds(8, 2, 10), 1, SignedDuration::ZERO, t(3));
        assert_eq!(
            (n.replicas, n.limited, n.limit.0),
            (2, true, "TooFewReplicas")
        );
        assert_eq!(
            n.limit.1,
            "the desired replica count is less than the minimum replica count"
        );
    }

    fn behavior(
        down_policies: Option<Vec<HPAScalingPolicy>>,
        select: Option<&str>,
    ) -> HorizontalPodAutoscalerBehavior {
        defaulted(
            &HorizontalPodAutoscalerBehavior {
                scale_up: None,
                scale_down: Some(HPAScalingRules {
                    policies: down_policies,
                    select_policy: select.map(str::to_owned),
                    stabilization_window_seconds: Some(0),
                }),
            },
            300,
        )
    }

    #[test]
    fn defaults_fill_what_the_behavior_leaves_out() {
        let b = defaulted(&HorizontalPodAutoscalerBehavior::default(), 120);
        let up = b.scale_up.unwrap();
        assert_eq!(up.stabilization_window_seconds, Some(0));
        assert_eq!(up.select_policy.as_deref(), Some("Max"));
        assert_eq!(
            up.policies.unwrap(),
            [policy("Pods", 4, 15), policy("Percent", 100, 15)]
        );
        let down = b.scale_down.unwrap();
        assert_eq!(down.stabilization_window_seconds, Some(120));
        assert_eq!(down.policies.unwrap(), [policy("Percent", 100, 15)]);
    }

    #[test]
    fn default_scale_up_policies_take_the_larger_change_per_period() {
        let b = defaulted(&HorizontalPodAutoscalerBehavior::default(), 300);
        let mut h = History::default();
        h.record_initial(1, t(0));
        // From 1: max(1 + 4, 2 × 1) = 5.
        let n = h.normalize_with_behavior(&b, bounds(1, 1, 100), 50, t(1));
        assert_eq!((n.replicas, n.limit.0), (5, "ScaleUpLimit"));
        h.record_scale(Some(&b), 1, 5, t(1));
        // Within the same 15 s period nothing more: the period started at 1.
        let n = h.normalize_with_behavior(&b, bounds(5, 1, 100), 50, t(10));
        assert_eq!((n.replicas, n.limited), (5, true));
        // The next period starts at 5: max(5 + 4, 10) = 10.
        let n = h.normalize_with_behavior(&b, bounds(5, 1, 100), 50, t(17));
        assert_eq!(n.replicas, 10);
    }

    #[test]
    fn scale_down_policies_limit_and_select_policy() {
        let pods_and_percent = Some(vec![policy("Pods", 2, 60), policy("Percent", 50, 60)]);
        // Max: the larger change, 50% of 10 = 5 rather than 2 pods.
        let b = behavior(pods_and_percent.clone(), None);
        let mut h = History::default();
        h.record_initial(10, t(0));
        let n = h.normalize_with_behavior(&b, bounds(10, 1, 20), 1, t(1));
        assert_eq!(
            (n.replicas, n.limited, n.limit.0),
            (5, true, "ScaleDownLimit")
        );
        h.record_scale(Some(&b), 10, 5, t(1));
        // The period's budget is spent.
        let n = h.normalize_with_behavior(&b, bounds(5, 1, 20), 1, t(30));
        assert_eq!(n.replicas, 5);
        // After the period: half of 5 → 2 (truncated).
        let n = h.normalize_with_behavior(&b, bounds(5, 1, 20), 1, t(62));
        assert_eq!(n.replicas, 2);

        // Min: the smaller change, 2 pods.
        let b = behavior(pods_and_percent, Some("Min"));
        let mut h = History::default();
        let n = h.normalize_with_behavior(&b, bounds(10, 1, 20), 1, t(1));
        assert_eq!(n.replicas, 8);

        // Disabled: no scale-down at all.
        let b = behavior(None, Some("Disabled"));
        let mut h = History::default();
        let n = h.normalize_with_behavior(&b, bounds(10, 1, 20), 1, t(1));
        assert_eq!(
            (n.replicas, n.limited, n.limit.0),
            (10, true, "ScaleDownLimit")
        );
        // ... but scale-up still works.
        let n = h.normalize_with_behavior(&b, bounds(10, 1, 20), 12, t(2));
        assert_eq!(n.replicas, 12);
    }

    #[test]
    fn behavior_windows_stabilize_both_ways() {
        let b = defaulted(
            &HorizontalPodAutoscalerBehavior {
                scale_up: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(60),
                    ..Default::default()
                }),
                scale_down: None,
            },
            300,
        );
        let mut h = History::default();
        h.record_initial(4, t(0));
        // A scale-up waits for the lowest recommendation of the last minute (4).
        let n = h.normalize_with_behavior(&b, bounds(4, 1, 20), 8, t(10));
        assert_eq!((n.replicas, n.able.0), (4, "ScaleUpStabilized"));
        // A minute after the 4 only the 8 is left in the up window.
        let n = h.normalize_with_behavior(&b, bounds(4, 1, 20), 9, t(65));
        assert_eq!((n.replicas, n.able.0), (8, "ScaleUpStabilized"));
        // A scale-down waits for the highest of the last 5 minutes (9).
        let n = h.normalize_with_behavior(&b, bounds(8, 1, 20), 2, t(100));
        assert_eq!((n.replicas, n.able.0), (8, "ScaleDownStabilized"));
    }

    #[test]
    fn scale_events_are_recorded_only_with_a_behavior_and_slots_reused() {
        let b = defaulted(&HorizontalPodAutoscalerBehavior::default(), 300);
        let mut h = History::default();
        h.record_scale(None, 1, 5, t(0));
        assert!(h.scale_up.is_empty());
        h.record_scale(Some(&b), 1, 5, t(0));
        h.record_scale(Some(&b), 5, 9, t(5));
        assert_eq!(h.scale_up.len(), 2);
        // Both older than the 15 s period: the last outdated slot is reused.
        h.record_scale(Some(&b), 9, 12, t(60));
        assert_eq!(h.scale_up.len(), 2);
        assert_eq!(change_in_period(15, &h.scale_up, t(61)), 3);
        h.record_scale(Some(&b), 12, 6, t(61));
        assert_eq!(h.scale_down.len(), 1);
        assert_eq!(change_in_period(15, &h.scale_down, t(62)), 6);
    }
}
