//! The scheduling framework: one small trait per extension point, plugins registered by name,
//! profiles of enabled plugins with score weights, and the scheduling cycle that runs them
//! (upstream's `schedulePod`: PreFilter, Filter over a sample of the nodes, PostFilter,
//! PreScore, Score with normalization, weighted sum, best node).
//!
//! Everything here is pure: a cycle reads a [`Cluster`] and a [`PodInfo`] and returns an
//! [`Outcome`]; assuming the pod and binding it are the caller's business.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::podinfo::PodInfo;
use crate::snapshot::{Cluster, NodeInfo};

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// What a plugin says about a pod (and a node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Success,
    /// Does not fit now; may fit later (preemption could help upstream).
    Unschedulable,
    /// Does not fit, and no preemption would change that.
    UnschedulableAndUnresolvable,
    /// An internal error.
    Error,
    /// The plugin has nothing to do for this pod (PreFilter/PreScore): skip its later points.
    Skip,
}

/// A plugin's verdict with its reasons (the texts users see in `kubectl describe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Cow<'static, str>>,
}

impl Status {
    pub const SUCCESS: Status = Status {
        code: Code::Success,
        reasons: Vec::new(),
    };

    pub fn success() -> Self {
        Self::SUCCESS
    }

    pub fn skip() -> Self {
        Self {
            code: Code::Skip,
            reasons: Vec::new(),
        }
    }

    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            reasons: vec![reason.into()],
        }
    }

    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// What one cycle is about: the pod and the cluster as it stands.
#[derive(Clone, Copy, Debug)]
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    pub cluster: &'a Cluster,
}

/// Data plugins keep from one extension point to the next within a cycle, by plugin name.
#[derive(Default)]
pub struct CycleState {
    /// Few entries (one per stateful plugin): a list beats hashing the name per node.
    data: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
    /// Bit i: the i-th plugin of the profile said Skip (PreFilter / PreScore).
    skip_filter: u64,
    skip_score: u64,
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CycleState {
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.retain(|(k, _)| *k != key);
        self.data.push((key, Box::new(value)));
    }

    pub fn read<T: Any>(&self, key: &'static str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, key) || *k == key)
            .and_then(|(_, b)| b.downcast_ref())
    }
}

/// Every plugin has a name and says which extension points it implements.
pub trait Plugin: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn pre_filter(&self) -> Option<&dyn PreFilter> {
        None
    }
    fn filter(&self) -> Option<&dyn Filter> {
        None
    }
    fn post_filter(&self) -> Option<&dyn PostFilter> {
        None
    }
    fn pre_score(&self) -> Option<&dyn PreScore> {
        None
    }
    fn score(&self) -> Option<&dyn Score> {
        None
    }
    fn reserve(&self) -> Option<&dyn Reserve> {
        None
    }
}

/// Runs once per cycle before filtering; may reject the pod outright (for every node) or say
/// `Skip` (its Filter is then not run).
pub trait PreFilter: Send + Sync {
    fn pre_filter(&self, cx: Cycle<'_>, state: &mut CycleState) -> Status;
}

/// Whether the pod may run on a node.
pub trait Filter: Send + Sync {
    fn filter(&self, cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> Status;
}

/// Runs when no node passed the filters (upstream's preemption lives here). Returns a node to
/// nominate, if it made room somewhere, and a message for the failure report.
pub trait PostFilter: Send + Sync {
    fn post_filter(
        &self,
        cx: Cycle<'_>,
        state: &CycleState,
        diagnosis: &Diagnosis,
    ) -> (Option<String>, Status);
}

/// Runs once before scoring with the feasible nodes; may say `Skip`.
pub trait PreScore: Send + Sync {
    fn pre_score(&self, cx: Cycle<'_>, state: &mut CycleState, nodes: &[&NodeInfo]) -> Status;
}

/// Ranks feasible nodes: a raw score per node, then `normalize` over all of them to
/// 0..=[`MAX_NODE_SCORE`].
pub trait Score: Send + Sync {
    fn score(&self, cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> i64;
    fn normalize(&self, _cx: Cycle<'_>, _state: &CycleState, _scores: &mut [i64]) {}
}

/// Told when a pod is assumed on a node, and when that is undone.
pub trait Reserve: Send + Sync {
    fn reserve(&self, cx: Cycle<'_>, state: &mut CycleState, node: &str) -> Status;
    fn unreserve(&self, cx: Cycle<'_>, state: &mut CycleState, node: &str);
}

/// Builds a plugin.
pub type Factory = fn() -> Arc<dyn Plugin>;

/// Plugins by name.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, Factory>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    pub fn register(&mut self, name: &'static str, factory: Factory) {
        self.factories.insert(name, factory);
    }

    pub fn build(&self, name: &str) -> Option<Arc<dyn Plugin>> {
        self.factories.get(name).map(|f| f())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.factories.keys().copied()
    }
}

/// One enabled plugin and its score weight (0 for plugins that do not score).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enabled {
    pub name: String,
    pub weight: i64,
}

/// A profile: the ordered plugins a scheduler runs, and how large a sample of nodes it scores.
#[derive(Clone, Debug)]
pub struct ProfileConfig {
    pub scheduler_name: String,
    pub plugins: Vec<Enabled>,
    /// 0: adaptive (50% − nodes/125, at least 5%).
    pub percentage_of_nodes_to_score: u32,
}

/// The plugins of a profile, built, grouped by extension point.
pub struct Profile {
    pub scheduler_name: String,
    pub percentage_of_nodes_to_score: u32,
    /// Each plugin with its index in the profile (its bit in the skip masks).
    pre_filters: Vec<(u32, Arc<dyn Plugin>)>,
    filters: Vec<(u32, Arc<dyn Plugin>)>,
    post_filters: Vec<Arc<dyn Plugin>>,
    pre_scores: Vec<(u32, Arc<dyn Plugin>)>,
    scores: Vec<(u32, Arc<dyn Plugin>, i64)>,
    reserves: Vec<Arc<dyn Plugin>>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &[(u32, Arc<dyn Plugin>)]| v.iter().map(|p| p.1.name()).collect::<Vec<_>>();
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field("filters", &names(&self.filters))
            .field(
                "scores",
                &self
                    .scores
                    .iter()
                    .map(|(_, p, w)| (p.name(), *w))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why each examined node was rejected, and by whom.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    /// Reason → how many nodes gave it.
    pub reasons: BTreeMap<String, usize>,
    /// A PreFilter's rejection (then no node was filtered).
    pub pre_filter_message: Option<String>,
    /// What a PostFilter said.
    pub post_filter_message: Option<String>,
    /// Plugins that rejected the pod somewhere.
    pub unschedulable_plugins: Vec<&'static str>,
}

/// No node fits the pod: upstream's `FitError`.
#[derive(Clone, Debug)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
}

impl fmt::Display for FitError {
    /// `0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 Insufficient cpu.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(m) = self
            .diagnosis
            .pre_filter_message
            .as_deref()
            .filter(|m| !m.is_empty())
        {
            write!(f, " {m}.")?;
        } else {
            let mut parts: Vec<String> = self
                .diagnosis
                .reasons
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            parts.sort();
            if !parts.is_empty() {
                write!(f, " {}.", parts.join(", "))?;
            }
        }
        if let Some(m) = self
            .diagnosis
            .post_filter_message
            .as_deref()
            .filter(|m| !m.is_empty())
        {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

/// The message upstream gives when the cluster has no node at all.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// How a scheduling cycle ended.
#[derive(Debug)]
pub enum Outcome {
    Scheduled {
        /// The chosen node's slot and name.
        slot: usize,
        node: String,
        evaluated: usize,
        feasible: usize,
    },
    /// No node fits (a result, not an error).
    Unschedulable(FitError),
    /// The cluster has no nodes.
    NoNodes,
    Error(String),
}

/// Upstream's `numFeasibleNodesToFind`: all nodes below 100; else a percentage (adaptive when
/// 0: 50% − nodes/125, at least 5%) but never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: u32, all: usize) -> usize {
    const MIN_NODES: usize = 100;
    const MIN_PERCENTAGE: usize = 5;
    if all < MIN_NODES {
        return all;
    }
    let mut pct = percentage as usize;
    if pct == 0 {
        pct = 50usize.saturating_sub(all / 125).max(MIN_PERCENTAGE);
    }
    if pct >= 100 {
        return all;
    }
    (all * pct / 100).max(MIN_NODES)
}

/// A cheap pseudo-random source for breaking ties between equally scored nodes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Profile {
    /// Builds the plugins of `config` from `registry`.
    pub fn new(config: &ProfileConfig, registry: &Registry) -> Result<Self, String> {
        let mut p = Profile {
            scheduler_name: config.scheduler_name.clone(),
            percentage_of_nodes_to_score: config.percentage_of_nodes_to_score,
            pre_filters: Vec::new(),
            filters: Vec::new(),
            post_filters: Vec::new(),
            pre_scores: Vec::new(),
            scores: Vec::new(),
            reserves: Vec::new(),
        };
        if config.plugins.len() > 64 {
            return Err("a profile has at most 64 plugins".into());
        }
        for (i, e) in config.plugins.iter().enumerate() {
            let i = i as u32;
            let plugin = registry
                .build(&e.name)
                .ok_or_else(|| format!("plugin {:?} is not registered", e.name))?;
            if plugin.pre_filter().is_some() {
                p.pre_filters.push((i, plugin.clone()));
            }
            if plugin.filter().is_some() {
                p.filters.push((i, plugin.clone()));
            }
            if plugin.post_filter().is_some() {
                p.post_filters.push(plugin.clone());
            }
            if plugin.pre_score().is_some() {
                p.pre_scores.push((i, plugin.clone()));
            }
            if plugin.score().is_some() && e.weight > 0 {
                p.scores.push((i, plugin.clone(), e.weight));
            }
            if plugin.reserve().is_some() {
                p.reserves.push(plugin.clone());
            }
        }
        Ok(p)
    }

    /// Runs the Filter plugins on one node, stopping at the first that rejects it.
    fn run_filters(
        &self,
        cx: Cycle<'_>,
        state: &CycleState,
        node: &NodeInfo,
    ) -> Result<(), (Status, &'static str)> {
        for (i, p) in &self.filters {
            if state.skip_filter & (1 << i) != 0 {
                continue;
            }
            if let Some(f) = p.filter() {
                let s = f.filter(cx, state, node);
                if !s.is_success() {
                    return Err((s, p.name()));
                }
            }
        }
        Ok(())
    }

    /// One scheduling cycle for `pod`. `next_start` rotates which nodes are examined first
    /// from one cycle to the next, as upstream's `nextStartNodeIndex`.
    pub fn schedule(
        &self,
        cluster: &Cluster,
        pod: &PodInfo,
        next_start: &mut usize,
        rng: &mut Rng,
    ) -> Outcome {
        let all = cluster.node_count();
        if all == 0 {
            return Outcome::NoNodes;
        }
        let cx = Cycle { pod, cluster };
        let mut state = CycleState::default();
        let mut diagnosis = Diagnosis::default();

        for (i, p) in &self.pre_filters {
            let Some(pf) = p.pre_filter() else { continue };
            let s = pf.pre_filter(cx, &mut state);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_filter |= 1 << i,
                Code::Error => {
                    return Outcome::Error(format!(
                        "running PreFilter plugin {:?}: {}",
                        p.name(),
                        s.message()
                    ));
                }
                Code::Unschedulable | Code::UnschedulableAndUnresolvable => {
                    diagnosis.pre_filter_message = Some(s.message());
                    diagnosis.unschedulable_plugins.push(p.name());
                    for r in &s.reasons {
                        *diagnosis.reasons.entry(r.to_string()).or_default() += all;
                    }
                    return self.fail(cx, &state, diagnosis, all);
                }
            }
        }

        // Filter, over a rotating sample of the nodes.
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, all);
        let start = *next_start % all;
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(all));
        let mut processed = 0;
        for i in 0..all {
            if feasible.len() >= want {
                break;
            }
            let Some(node) = cluster.nth_node((start + i) % all) else {
                continue;
            };
            processed += 1;
            match self.run_filters(cx, &state, node) {
                Ok(()) => feasible.push(node),
                Err((s, plugin)) => {
                    if s.code == Code::Error {
                        return Outcome::Error(format!(
                            "running Filter plugin {plugin:?} on node {:?}: {}",
                            node.name,
                            s.message()
                        ));
                    }
                    if !diagnosis.unschedulable_plugins.contains(&plugin) {
                        diagnosis.unschedulable_plugins.push(plugin);
                    }
                    for r in &s.reasons {
                        match diagnosis.reasons.get_mut(r.as_ref()) {
                            Some(n) => *n += 1,
                            None => {
                                diagnosis.reasons.insert(r.to_string(), 1);
                            }
                        }
                    }
                }
            }
        }
        *next_start = (start + processed) % all;
        if feasible.is_empty() {
            return self.fail(cx, &state, diagnosis, all);
        }
        if feasible.len() == 1 {
            let n = feasible[0];
            return Outcome::Scheduled {
                slot: n.slot,
                node: n.name.clone(),
                evaluated: processed,
                feasible: 1,
            };
        }

        // Score.
        for (i, p) in &self.pre_scores {
            let Some(ps) = p.pre_score() else { continue };
            let s = ps.pre_score(cx, &mut state, &feasible);
            match s.code {
                Code::Success => {}
                Code::Skip => state.skip_score |= 1 << i,
                _ => {
                    return Outcome::Error(format!(
                        "running PreScore plugin {:?}: {}",
                        p.name(),
                        s.message()
                    ));
                }
            }
        }
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = vec![0i64; feasible.len()];
        for (i, p, weight) in &self.scores {
            if state.skip_score & (1 << i) != 0 {
                continue;
            }
            let Some(sc) = p.score() else { continue };
            for (i, n) in feasible.iter().enumerate() {
                scores[i] = sc.score(cx, &state, n);
            }
            sc.normalize(cx, &state, &mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        // The best node; ties broken at random (reservoir sampling, as upstream).
        let mut best = 0;
        let mut ties = 1u64;
        for i in 1..totals.len() {
            if totals[i] > totals[best] {
                best = i;
                ties = 1;
            } else if totals[i] == totals[best] {
                ties += 1;
                if rng.next_u64().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        let n = feasible[best];
        Outcome::Scheduled {
            slot: n.slot,
            node: n.name.clone(),
            evaluated: processed,
            feasible: feasible.len(),
        }
    }

    fn fail(
        &self,
        cx: Cycle<'_>,
        state: &CycleState,
        mut diagnosis: Diagnosis,
        all: usize,
    ) -> Outcome {
        for p in &self.post_filters {
            if let Some(pf) = p.post_filter() {
                let (_nominated, s) = pf.post_filter(cx, state, &diagnosis);
                if !s.reasons.is_empty() {
                    diagnosis.post_filter_message = Some(s.message());
                }
                if s.is_success() {
                    break;
                }
            }
        }
        Outcome::Unschedulable(FitError {
            num_all_nodes: all,
            diagnosis,
        })
    }

    /// Runs the Reserve plugins for a pod being assumed on `node`; on a rejection, unreserves
    /// those that ran and returns the status.
    pub fn reserve(&self, cx: Cycle<'_>, state: &mut CycleState, node: &str) -> Status {
        for (i, p) in self.reserves.iter().enumerate() {
            let Some(r) = p.reserve() else { continue };
            let s = r.reserve(cx, state, node);
            if !s.is_success() {
                for q in self.reserves[..=i].iter().rev() {
                    if let Some(r) = q.reserve() {
                        r.unreserve(cx, state, node);
                    }
                }
                return s;
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_error_reads_as_upstream() {
        let mut d = Diagnosis::default();
        d.reasons.insert("Insufficient cpu".into(), 3);
        let e = FitError {
            num_all_nodes: 3,
            diagnosis: d,
        };
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 3 Insufficient cpu."
        );

        let mut d = Diagnosis::default();
        d.reasons.insert("Insufficient memory".into(), 2);
        d.reasons.insert("Insufficient cpu".into(), 3);
        d.reasons
            .insert("node(s) had untolerated taint {dedicated: gpu}".into(), 1);
        d.reasons.insert("node(s) were unschedulable".into(), 10);
        let e = FitError {
            num_all_nodes: 14,
            diagnosis: d.clone(),
        };
        // Sorted as strings, counts first: "10 ..." sorts before "2 ...".
        assert_eq!(
            e.to_string(),
            "0/14 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
             10 node(s) were unschedulable, 2 Insufficient memory, 3 Insufficient cpu."
        );
        d.pre_filter_message = Some("pod affinity terms conflict".into());
        d.post_filter_message = Some("preemption: not eligible.".into());
        let e = FitError {
            num_all_nodes: 4,
            diagnosis: d,
        };
        assert_eq!(
            e.to_string(),
            "0/4 nodes are available: pod affinity terms conflict. preemption: not eligible."
        );
    }

    #[test]
    fn the_sample_of_nodes_shrinks_with_the_cluster() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100); // 49% of 100 → at least 100
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420); // 50 − 8 = 42%
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500); // 50 − 40 = 10%
        assert_eq!(num_feasible_nodes_to_find(0, 10000), 500); // floor of 5%
        assert_eq!(num_feasible_nodes_to_find(0, 1500), 570); // 50 − 12 = 38%
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
        assert_eq!(num_feasible_nodes_to_find(1, 5000), 100);
    }
}

#[cfg(test)]
mod core_tests {
    //! A pod through the whole core: the default profile over a cluster view.
    use super::*;
    use crate::plugins::testing::{cluster, labeled, node, on, pod};
    use crate::plugins::{default_profile, registry};
    use std::sync::Arc;

    fn schedule(c: &Cluster, p: k8s_openapi::api::core::v1::Pod) -> Outcome {
        let profile = Profile::new(&default_profile(), &registry()).unwrap();
        let pi = PodInfo::new(Arc::new(p));
        profile.schedule(c, &pi, &mut 0, &mut Rng::new(1))
    }

    fn chosen(o: Outcome) -> String {
        match o {
            Outcome::Scheduled { node, .. } => node,
            other => panic!("not scheduled: {other:?}"),
        }
    }

    #[test]
    fn the_default_profile_picks_the_least_loaded_fitting_node() {
        let c = cluster(
            vec![
                node("tiny", "500m", "1Gi", &[]),
                node("busy", "4", "8Gi", &[]),
                node("idle", "4", "8Gi", &[]),
            ],
            vec![on(pod("a", "3", "6Gi"), "busy")],
        );
        assert_eq!(chosen(schedule(&c, pod("x", "1", "1Gi"))), "idle");
    }

    #[test]
    fn preferences_combine_with_their_weights() {
        use k8s_openapi::api::core::v1::{
            Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm,
            PreferredSchedulingTerm,
        };
        let c = cluster(
            vec![
                node("ssd", "4", "8Gi", &[("disk", "ssd")]),
                node("hdd", "4", "8Gi", &[("disk", "hdd")]),
            ],
            // The ssd node is busier: resource scores favour hdd, the preference favours ssd.
            vec![on(pod("a", "1", "2Gi"), "ssd")],
        );
        let mut p = pod("x", "100m", "128Mi");
        p.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 100,
                        preference: NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "disk".into(),
                                operator: "In".into(),
                                values: Some(vec!["ssd".into()]),
                            }]),
                            match_fields: None,
                        },
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(chosen(schedule(&c, p)), "ssd");
        assert_eq!(chosen(schedule(&c, pod("y", "100m", "128Mi"))), "hdd");
    }

    #[test]
    fn no_fit_reports_a_fit_error_and_no_nodes_is_its_own_outcome() {
        let c = cluster(
            vec![node("a", "1", "1Gi", &[]), node("b", "1", "1Gi", &[])],
            vec![],
        );
        match schedule(&c, pod("x", "2", "1Gi")) {
            Outcome::Unschedulable(e) => {
                assert_eq!(
                    e.to_string(),
                    "0/2 nodes are available: 2 Insufficient cpu."
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            schedule(&Cluster::new(), pod("x", "", "")),
            Outcome::NoNodes
        ));
    }

    #[test]
    fn spreading_places_replicas_apart() {
        let c = cluster(
            vec![node("a", "4", "8Gi", &[]), node("b", "4", "8Gi", &[])],
            vec![on(
                labeled(pod("w1", "100m", "128Mi"), &[("app", "w")]),
                "a",
            )],
        );
        let mut c = c;
        c.owners
            .services
            .entry("default".into())
            .or_default()
            .insert("w".into(), [("app".to_owned(), "w".to_owned())].into());
        assert_eq!(
            chosen(schedule(
                &c,
                labeled(pod("w2", "100m", "128Mi"), &[("app", "w")])
            )),
            "b"
        );
    }
}
