//! Server-side apply and `metadata.managedFields` bookkeeping, done the way the upstream API
//! server does them (structured-merge-diff v6 under apimachinery's `pkg/util/managedfields`),
//! without I/O.
//!
//! Every write records which manager set which fields. A manager's fields are a set of paths,
//! stored in `managedFields[].fieldsV1` in upstream's format: `f:<name>` for a field,
//! `k:{"name":"api"}` for an item of a list keyed by some of its fields, `v:<json>` for an item
//! of a set, and `".": {}` where a node is owned itself as well as some of its children.
//!
//! - [`apply`] merges a manager's full configuration into the live object. Fields it applied
//!   last time and no longer applies are removed, unless another manager also owns them. A field
//!   another manager owns whose value would change is a conflict (409), unless the apply is
//!   forced, in which case the applier takes the field over.
//! - [`record_update`] records a create, update or patch: the fields the write changed move to
//!   the writer's `Update` entry and leave every other manager's set.
//!
//! Upstream types every object through its OpenAPI schema; what matters here is which lists are
//! keyed (`x-kubernetes-list-type: map`), which are sets, and which maps and structs are atomic.
//! Built-in kinds take that from [`crate::merge::patch_meta`], corrected where upstream's schema
//! differs from its patch tags (keys of several fields, atomic structs such as `LabelSelector`).
//! Custom resources get granular maps and atomic lists, with `metadata` typed as `ObjectMeta`.
//!
//! Left to the caller, as upstream leaves them to the REST strategy around its field manager:
//! defaulting and validating the result, resetting `status` on main-resource writes (`apply`
//! merges it but never records it as owned), and restoring system metadata (`uid`,
//! `creationTimestamp`; a `resourceVersion` in an applied configuration is a precondition).

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

use crate::merge::{Strategy, patch_meta};

/// The annotation client-side `kubectl apply` keeps; server-side apply by `kubectl` keeps it in
/// step and honours it when taking fields over from client-side apply, as upstream does.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The manager upstream gives those two `kubectl` courtesies to.
const KUBECTL: &str = "kubectl";
/// Upstream merges the oldest `Update` entries beyond this many into `ancient-changes`.
const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT_CHANGES: &str = "ancient-changes";
/// Objects and field sets nested deeper than this are refused (or left unrecorded), so that the
/// recursive walks here cannot exhaust a thread's stack. serde_json stops parsing at 128 levels.
const MAX_DEPTH: usize = 200;

/// A `null` standing in for duplicated live list items, which upstream never merges.
static NULL: Value = Value::Null;

/// The outcome of a server-side apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyResult {
    /// The merged object with `metadata.managedFields` updated; not yet defaulted or validated.
    pub object: Value,
}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict: fields other managers own would change. Upstream's Status carries one cause
    /// per field, with reason `FieldManagerConflict`.
    #[error("{}", conflict_message(.causes))]
    Conflict {
        /// One per conflicting field, ordered by manager and then by path.
        causes: Vec<ConflictCause>,
    },
    /// 400 Bad Request: the applied configuration does not fit the object (another kind or
    /// version, `managedFields` set, duplicate list keys) or no field manager was given.
    #[error("{0}")]
    Invalid(String),
}

/// One conflicting field of an [`ApplyError::Conflict`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictCause {
    /// The field, as upstream prints paths: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="api"].image`.
    pub field: String,
    /// Who owns it: `conflict with "kubectl-client-side-apply" using apps/v1`.
    pub message: String,
}

impl ApplyError {
    /// The Status message upstream sends, such as
    /// `Apply failed with 1 conflict: conflict with "mgr" using apps/v1: .spec.replicas`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Upstream's `getConflictMessage`: the causes come sorted by manager, so each manager's fields
/// are together.
fn conflict_message(causes: &[ConflictCause]) -> String {
    if let [only] = causes {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.message, only.field
        );
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for cause in causes {
        match groups.iter_mut().find(|(who, _)| *who == cause.message) {
            Some((_, fields)) => fields.push(&cause.field),
            None => groups.push((&cause.message, vec![&cause.field])),
        }
    }
    let mut lines = Vec::new();
    for (message, fields) in groups {
        let who = message.strip_prefix("conflict with ").unwrap_or(message);
        lines.push(format!("conflicts with {who}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        causes.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `applied` (the full configuration a manager wants) onto `live` (None
/// when the object does not exist yet).
///
/// `api_version` is the object's group/version (`apps/v1`, `v1`), written in the managedFields
/// entries; `force` is `?force=true`; `now` is the RFC 3339 time for the applier's entry.
/// Upstream semantics: the applier's previous fields that it no longer applies are removed unless
/// another manager owns them; fields other managers own whose values change conflict unless
/// forced; the result has an `Apply` entry for the applier with the new field set and the other
/// managers' sets without the fields taken over.
#[allow(clippy::too_many_arguments)] // the API server's apply handler has each of these apart
pub fn apply(
    group: &str,
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<ApplyResult, ApplyError> {
    let schema = Schema::new(group, kind);
    check_applied(applied, kind, api_version, manager)?;
    let live_obj = match live {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => without_managed_fields(v),
        Some(_) => {
            return Err(ApplyError::Invalid(
                "the live object is not an object".into(),
            ));
        }
    };
    if let (Some(live_name), Some(name)) = (name_of(&live_obj), name_of(applied))
        && live_name != name
    {
        return Err(ApplyError::Invalid(format!(
            "the name of the object ({name}) does not match the name on the URL ({live_name})"
        )));
    }
    if too_deep(applied) || too_deep(&live_obj) {
        return Err(ApplyError::Invalid(format!(
            "the object is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut managed = decode_managed(live.and_then(managed_fields_of))
        .map_err(|e| ApplyError::Invalid(format!("failed to decode managed fields: {e}")))?;
    schema
        .validate(applied, &mut Vec::new(), &mut Vec::new(), false)
        .map_err(|e| {
            ApplyError::Invalid(format!(
                "failed to create typed patch object ({}): {e}",
                object_gvknn(applied)
            ))
        })?;
    let config = without_managed_fields(applied);

    let mut merged = schema
        .merge(Some(&live_obj), Some(&config), &mut Vec::new(), false)
        .map_err(|e| ApplyError::Invalid(format!("failed to merge config: {e}")))?
        .unwrap_or_else(|| Value::Object(Map::new()));
    if schema.builtin {
        // Upstream decodes the merge into the Go type, which has no nulls and omits empty
        // metadata maps and lists.
        strip_nulls(&mut merged);
        omit_empty_metadata(&mut merged);
    }

    // Status is reset by the strategy on main-resource writes, so upstream never records it.
    let ignored = Set::of(&[&["status"]]);
    let me = ManagerId::apply(manager);
    let last = managed.fields.get(&me).map(|v| v.set.clone());
    // The new set keeps `metadata.name` and the like until the end, as upstream strips them only
    // after pruning: they keep `metadata` itself owned while pruning.
    let new_set = schema.field_set(&config).recursive_difference(&ignored);
    managed.fields.insert(
        me.clone(),
        Versioned {
            set: new_set,
            api_version: api_version.to_owned(),
        },
    );
    if let Some(last) = last.filter(|l| !l.is_empty()) {
        merged = schema.prune(&merged, &managed, &last);
    }

    let cmp = schema.compare(&live_obj, &merged).excluding(&ignored);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts: Vec<(ManagerId, Set)> = managed
        .fields
        .iter()
        .filter(|(id, _)| **id != me)
        .filter_map(|(id, v)| {
            let taken = v.set.intersection(&changed);
            (!taken.is_empty()).then(|| (id.clone(), taken))
        })
        .collect();
    if !force && !conflicts.is_empty() {
        // Upgrading from client-side apply: fields the last-applied annotation shows kubectl set
        // are taken over without a conflict.
        let allowed = (manager == KUBECTL)
            .then(|| schema.allowed_by_last_applied(&live_obj, api_version))
            .flatten();
        let mut causes = Vec::new();
        conflicts.sort_by_cached_key(|(id, _)| id.identifier());
        for (id, set) in &conflicts {
            for path in set.paths() {
                if allowed.as_ref().is_some_and(|a| a.has(&path)) {
                    continue;
                }
                causes.push(ConflictCause {
                    field: path_string(&path),
                    message: format!("conflict with {}", id.describe()),
                });
            }
        }
        if !causes.is_empty() {
            return Err(ApplyError::Conflict { causes });
        }
    }
    for (id, taken) in &conflicts {
        if let Some(v) = managed.fields.get_mut(id) {
            v.set = v.set.difference(taken);
        }
    }
    for (id, v) in &mut managed.fields {
        if *id != me {
            v.set = v.set.difference(&cmp.removed);
        }
    }
    if let Some(v) = managed.fields.get_mut(&me) {
        v.set = v.set.difference(&strip_set());
    }
    managed.fields.retain(|_, v| !v.set.is_empty());
    // Upstream stamps the applier's entry only when the object changed; a new entry from a
    // no-op apply goes without a time.
    if !value_eq(&live_obj, &merged) {
        managed.times.insert(me, now.to_owned());
    }
    if manager == KUBECTL {
        sync_last_applied(&mut merged, &config);
    }
    set_managed_fields(&mut merged, encode_managed(&managed));
    Ok(ApplyResult { object: merged })
}

/// Bookkeeping for a non-apply write (create, update, patch) by `manager`: the fields that
/// differ between `old` and `new` are added to the manager's `Update` entry (one per manager,
/// version and subresource) and removed from every other manager's set.
///
/// `old` is None for a create. An empty `manager` is recorded as `unknown`. `subresource` is the
/// subresource written (`status`, `scale`); `status` is recorded only for `status` writes, and
/// `spec` never for them. As upstream, `managedFields` sent in `new` replace the live ones (`[]`
/// clears them), except on subresource writes; a write that changes nothing leaves them as they
/// were. Returns `new` with `managedFields` updated.
#[allow(clippy::too_many_arguments)] // the API server's write handlers have each of these apart
pub fn record_update(
    group: &str,
    kind: &str,
    api_version: &str,
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) -> Value {
    let schema = Schema::new(group, kind);
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    let subresource = subresource.unwrap_or("");
    let mut out = new;
    if !out.is_object() {
        return out;
    }
    let old_fields = old.and_then(managed_fields_of);
    // The entries come out of the object while its fields are compared; new ones go back.
    let new_fields = out
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
        .filter(|v| !v.is_null());
    let new_fields = new_fields.as_ref();
    let mut managed = if !subresource.is_empty() {
        decode_managed(old_fields).unwrap_or_default()
    } else if is_reset(new_fields) {
        Managed::default()
    } else {
        match decode_managed(new_fields) {
            Ok(m) if !m.fields.is_empty() => m,
            // Clients that know nothing of managedFields must not wipe them.
            _ => decode_managed(old_fields).unwrap_or_default(),
        }
    };
    let new_obj = &out;
    let empty;
    let old_obj = match old {
        Some(o @ Value::Object(_)) => o,
        _ => {
            empty = schema.empty_object(new_obj);
            &empty
        }
    };
    if too_deep(new_obj) || too_deep_but_managed_fields(old_obj) {
        // Upstream keeps the live entries when it cannot compute new ones.
        set_managed_fields(&mut out, old_fields.cloned());
        return out;
    }
    let ignored = if subresource == "status" {
        "spec"
    } else {
        "status"
    };
    let cmp = schema.compare_but(old_obj, new_obj, ignored);
    let changed = cmp.modified.union(&cmp.added);
    for v in managed.fields.values_mut() {
        v.set = v.set.difference(&changed).difference(&cmp.removed);
    }
    managed.fields.retain(|_, v| !v.set.is_empty());
    let mine = changed.difference(&strip_set());
    if !mine.is_empty() {
        let id = ManagerId::update(manager, api_version, subresource);
        let set = match managed.fields.get(&id) {
            Some(previous) => mine.union(&previous.set),
            None => mine,
        };
        managed.fields.insert(
            id.clone(),
            Versioned {
                set,
                api_version: api_version.to_owned(),
            },
        );
        managed.times.insert(id, now.to_owned());
    }
    cap_update_managers(&mut managed);
    set_managed_fields(&mut out, encode_managed(&managed));
    out
}

/// The checks upstream makes on an applied configuration before merging it.
fn check_applied(
    applied: &Value,
    kind: &str,
    api_version: &str,
    manager: &str,
) -> Result<(), ApplyError> {
    if manager.is_empty() {
        return Err(ApplyError::Invalid(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is \
             required for apply patch"
                .into(),
        ));
    }
    if !applied.is_object() {
        return Err(ApplyError::Invalid(format!(
            "invalid object type: {}",
            gvk_string("", "")
        )));
    }
    let applied_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let applied_kind = applied.get("kind").and_then(Value::as_str).unwrap_or("");
    if applied_version != api_version || applied_kind != kind {
        return Err(ApplyError::Invalid(format!(
            "invalid object type: {}",
            gvk_string(applied_version, applied_kind)
        )));
    }
    if managed_fields_of(applied).is_some() {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    Ok(())
}

/// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) if !v.contains('/') => (g, v),
        Some(_) => ("", ""),
        None => ("", api_version),
    };
    format!("{group}/{version}, Kind={kind}")
}

/// Upstream's `objectGVKNN`, naming the object in typing errors.
fn object_gvknn(obj: &Value) -> String {
    let meta = |key: &str| {
        obj.get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}; {}",
        meta("namespace"),
        meta("name"),
        gvk_string(api_version, kind)
    )
}

fn name_of(obj: &Value) -> Option<&str> {
    obj.get("metadata")?.get("name")?.as_str()
}

/// `metadata.managedFields` unless absent or null (which Go decodes as nil).
fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?
        .get("managedFields")
        .filter(|v| !v.is_null())
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
    obj
}

fn set_managed_fields(obj: &mut Value, fields: Option<Value>) {
    let Value::Object(root) = obj else { return };
    match fields {
        Some(fields) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.insert("managedFields".into(), fields);
            }
        }
        None => {
            if let Some(Value::Object(meta)) = root.get_mut("metadata") {
                meta.remove("managedFields");
            }
        }
    }
}

/// `[]` or `[{}]`: the client asks to clear managedFields.
fn is_reset(fields: Option<&Value>) -> bool {
    match fields {
        Some(Value::Array(entries)) => match entries.as_slice() {
            [] => true,
            [Value::Object(entry)] => entry.values().all(is_zero),
            _ => false,
        },
        _ => false,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Upstream's `lastAppliedUpdater`: after a server-side apply by kubectl, an existing
/// last-applied annotation is rewritten to the configuration just applied, so that a later
/// client-side apply computes its patch from it.
fn sync_last_applied(merged: &mut Value, config: &Value) {
    let has = merged
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has {
        return;
    }
    let mut config = config.clone();
    if let Some(Value::Object(annotations)) = config
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.remove(LAST_APPLIED);
    }
    // Upstream encodes with Go's json.Encoder: sorted keys, HTML escaped, a final newline.
    let mut text = String::new();
    go_json(&config, &mut text);
    text.push('\n');
    if let Some(Value::Object(annotations)) = merged
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn omit_empty_metadata(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = match meta.get(key) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if empty {
                meta.remove(key);
            }
        }
    }
}

/// The fields of two maps (either may be absent), each once with its value on either side:
/// the left map's in its order, then those only the right one has.
fn fields_of_both<'v>(
    lm: Option<&'v Map<String, Value>>,
    rm: Option<&'v Map<String, Value>>,
) -> impl Iterator<Item = (&'v String, Option<&'v Value>, Option<&'v Value>)> {
    let left = lm
        .into_iter()
        .flatten()
        .map(move |(k, lv)| (k, Some(lv), rm.and_then(|m| m.get(k))));
    let right = rm
        .into_iter()
        .flatten()
        .filter(move |(k, _)| !lm.is_some_and(|m| m.contains_key(*k)))
        .map(|(k, rv)| (k, None, Some(rv)));
    left.chain(right)
}

fn too_deep(v: &Value) -> bool {
    too_deep_from(v, 0)
}

/// [`too_deep`] of an object as if it had no `metadata.managedFields`.
fn too_deep_but_managed_fields(v: &Value) -> bool {
    let Some(root) = v.as_object() else {
        return too_deep(v);
    };
    root.iter().any(|(k, v)| match (k.as_str(), v.as_object()) {
        ("metadata", Some(meta)) => meta
            .iter()
            .any(|(k, v)| k != "managedFields" && too_deep_from(v, 2)),
        _ => too_deep_from(v, 1),
    })
}

/// Whether `v`, found at `depth`, goes deeper than [`MAX_DEPTH`].
fn too_deep_from(v: &Value, depth: usize) -> bool {
    let mut stack = vec![(v, depth)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Values: upstream's ordering and equality (`value.Compare`, `value.Equals`), in which numbers
// compare by value whether integer or float.

fn int_of(v: &Value) -> Option<i64> {
    v.as_number()?.as_i64()
}

fn float_of(v: &Value) -> Option<f64> {
    let n = v.as_number()?;
    if n.as_i64().is_some() {
        None
    } else {
        n.as_f64()
    }
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn value_cmp(l: &Value, r: &Value) -> Ordering {
    use Ordering::{Equal, Greater, Less};
    match (float_of(l), float_of(r)) {
        (Some(a), Some(b)) => return float_cmp(a, b),
        (Some(a), None) => return int_of(r).map_or(Less, |b| float_cmp(a, b as f64)),
        (None, Some(b)) => return int_of(l).map_or(Greater, |a| float_cmp(a as f64, b)),
        (None, None) => {}
    }
    match (int_of(l), int_of(r)) {
        (Some(a), Some(b)) => return a.cmp(&b),
        (Some(_), None) => return Less,
        (None, Some(_)) => return Greater,
        (None, None) => {}
    }
    match (l, r) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::String(_), _) => Less,
        (_, Value::String(_)) => Greater,
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Bool(_), _) => Less,
        (_, Value::Bool(_)) => Greater,
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                let c = value_cmp(x, y);
                if c != Equal {
                    return c;
                }
            }
            a.len().cmp(&b.len())
        }
        (Value::Array(_), _) => Less,
        (_, Value::Array(_)) => Greater,
        (Value::Object(a), Value::Object(b)) => map_cmp(a, b),
        (Value::Object(_), _) => Less,
        (_, Value::Object(_)) => Greater,
        _ => Equal,
    }
}

/// Upstream's `MapCompare`: a walk over the keys of both maps in lexical order.
fn map_cmp(l: &Map<String, Value>, r: &Map<String, Value>) -> Ordering {
    let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
    for (i, key) in keys.into_iter().enumerate() {
        let c = if i == l.len() {
            Ordering::Less
        } else if i == r.len() {
            Ordering::Greater
        } else {
            match (l.get(key), r.get(key)) {
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(a), Some(b)) => value_cmp(a, b),
            }
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

fn value_eq(l: &Value, r: &Value) -> bool {
    if float_of(l).is_some() || float_of(r).is_some() {
        let as_float = |v: &Value| float_of(v).or_else(|| int_of(v).map(|i| i as f64));
        return matches!((as_float(l), as_float(r)), (Some(a), Some(b)) if a == b);
    }
    match (l, r) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| value_eq(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| value_eq(x, y)))
        }
        _ => l == r,
    }
}

/// Go's `encoding/json` output for a value: keys sorted, `<`, `>` and `&` escaped. Field sets
/// and the last-applied annotation are written this way upstream, and keys must match byte for
/// byte for clients that compare them.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => crate::go::json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::go::json_string(k, out);
                out.push(':');
                go_json(item, out);
            }
            out.push('}');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and sets of paths (structured-merge-diff's `fieldpath`).

/// One step of a path: upstream's `PathElement`.
#[derive(Clone, Debug)]
enum Pe {
    /// A field of a map or struct.
    Field(String),
    /// An item of a keyed list, by its key fields, sorted by name.
    Key(Vec<(String, Value)>),
    /// An item of a set.
    Value(Value),
    /// An item of a list by position (upstream reads these; nothing here writes them).
    Index(i64),
}

impl Pe {
    fn rank(&self) -> u8 {
        match self {
            Pe::Field(_) => 0,
            Pe::Key(_) => 1,
            Pe::Value(_) => 2,
            Pe::Index(_) => 3,
        }
    }
}

impl Ord for Pe {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Pe::Field(a), Pe::Field(b)) => a.cmp(b),
            (Pe::Key(a), Pe::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an.cmp(bn).then_with(|| value_cmp(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Pe::Value(a), Pe::Value(b)) => value_cmp(a, b),
            (Pe::Index(a), Pe::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Pe {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pe {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pe {}

/// Upstream's `PathElement.String()`, used in conflict causes and typing errors.
impl fmt::Display for Pe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pe::Field(name) => write!(f, ".{name}"),
            Pe::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", value_string(value))?;
                }
                f.write_str("]")
            }
            Pe::Value(v) => write!(f, "[={}]", value_string(v)),
            Pe::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Upstream's `value.ToString`.
fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => crate::go::quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries
                .into_iter()
                .map(|(k, v)| format!("{k}={}", value_string(v)))
                .collect()
        }
        other => other.to_string(),
    }
}

fn path_string(path: &[Pe]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// The `fieldsV1` key of a path element.
fn serialize_pe(pe: &Pe) -> String {
    let mut out = String::new();
    match pe {
        Pe::Field(name) => {
            out.push_str("f:");
            out.push_str(name);
        }
        Pe::Key(fields) => {
            out.push_str("k:{");
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::go::json_string(name, &mut out);
                out.push(':');
                go_json(value, &mut out);
            }
            out.push('}');
        }
        Pe::Value(v) => {
            out.push_str("v:");
            go_json(v, &mut out);
        }
        Pe::Index(i) => {
            let _ = write!(out, "i:{i}");
        }
    }
    out
}

/// Upstream's `DeserializePathElement`; `Ok(None)` for kinds of element it does not know, which
/// upstream drops.
fn parse_pe(key: &str) -> Result<Option<Pe>, String> {
    let [kind, sep, ..] = key.as_bytes() else {
        return Err(format!("key must be 2 characters long: {key}"));
    };
    if *sep != b':' {
        return Err(format!("missing colon: {key}"));
    }
    let rest = key.get(2..).unwrap_or("");
    let pe = match kind {
        b'f' => Pe::Field(rest.to_owned()),
        b'v' => Pe::Value(serde_json::from_str(rest).map_err(|e| format!("{key}: {e}"))?),
        b'k' => {
            let parsed: Value = serde_json::from_str(rest).map_err(|e| format!("{key}: {e}"))?;
            let Value::Object(m) = parsed else {
                return Err(format!("{key}: the key is not an object"));
            };
            let mut fields: Vec<(String, Value)> = m.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Pe::Key(fields)
        }
        b'i' => Pe::Index(rest.parse().map_err(|e| format!("{key}: {e}"))?),
        _ => return Ok(None),
    };
    Ok(Some(pe))
}

/// A set of paths, as a tree: `members` are paths that end here, `children` go deeper.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Set {
    members: BTreeSet<Pe>,
    children: BTreeMap<Pe, Set>,
}

impl Set {
    fn of(paths: &[&[&str]]) -> Set {
        let mut set = Set::default();
        for path in paths {
            let path: Vec<Pe> = path.iter().map(|n| Pe::Field((*n).to_owned())).collect();
            set.insert(&path);
        }
        set
    }

    fn insert(&mut self, path: &[Pe]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for pe in parents {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    fn has(&self, path: &[Pe]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in parents {
            match node.children.get(pe) {
                Some(child) => node = child,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let both = child.intersection(other.children.get(pe)?);
                (!both.is_empty()).then(|| (pe.clone(), both))
            })
            .collect();
        Set { members, children }
    }

    /// Upstream's `Difference`: paths of `self` not in `other`; a member of `other` takes only
    /// itself away, not the paths below it.
    fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => child.difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        Set { members, children }
    }

    /// Upstream's `RecursiveDifference`: a member of `other` takes away everything below it too.
    fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(pe))
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => child.recursive_difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        Set { members, children }
    }

    /// Upstream's `EnsureNamedFieldsAreMembers`: a struct field with owned children counts as
    /// owned itself. Without schemas every map is taken for a struct.
    fn ensure_named(&self) -> Set {
        let mut members = self.members.clone();
        members.extend(
            self.children
                .keys()
                .filter(|pe| matches!(pe, Pe::Field(_)))
                .cloned(),
        );
        let children = self
            .children
            .iter()
            .map(|(pe, child)| (pe.clone(), child.ensure_named()))
            .collect();
        Set { members, children }
    }

    /// Every path, in upstream's `Iterate` order: a node's members, then its children's paths.
    fn paths(&self) -> Vec<Vec<Pe>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<Pe>, out: &mut Vec<Vec<Pe>>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` form (upstream's `emitContentsV1`).
    fn to_fields(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let keys: BTreeSet<&Pe> = self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            let member = self.members.contains(pe);
            let value = match self.children.get(pe).filter(|c| !c.is_empty()) {
                Some(child) => Value::Object(child.emit(member)),
                None if member => Value::Object(Map::new()),
                None => continue,
            };
            out.insert(serialize_pe(pe), value);
        }
        out
    }

    /// Reads `fieldsV1` (upstream's `FieldsToSet`).
    fn from_fields(fields: &Value) -> Result<Set, String> {
        let (set, _) = read_fields(fields, 0)?;
        Ok(set.unwrap_or_default())
    }
}

/// Upstream's `readIterV1`: a node's children, and whether the node is itself a member (it is
/// when it has a `"."` entry or no children).
fn read_fields(v: &Value, depth: usize) -> Result<(Option<Set>, bool), String> {
    if depth > MAX_DEPTH {
        return Err("fieldsV1 is nested too deeply".into());
    }
    let entries = match v {
        Value::Object(m) => m,
        Value::Null => return Ok((None, true)),
        other => return Err(format!("expected an object in fieldsV1, got {other}")),
    };
    let mut children: Option<Set> = None;
    let mut is_member = false;
    for (key, child) in entries {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = parse_pe(key)? else {
            continue;
        };
        let (grandchildren, child_is_member) = read_fields(child, depth + 1)?;
        let node = children.get_or_insert_with(Set::default);
        if child_is_member {
            node.members.insert(pe.clone());
        }
        if let Some(grandchildren) = grandchildren {
            let slot = node.children.entry(pe).or_default();
            *slot = slot.union(&grandchildren);
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}

/// The paths upstream's `stripMetaManager` never records as owned.
fn strip_set() -> Set {
    Set::of(&[
        &["apiVersion"],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ])
}

/// What changed from one object to another (upstream's `typed.Comparison`).
#[derive(Debug, Default)]
struct Comparison {
    removed: Set,
    modified: Set,
    added: Set,
}

impl Comparison {
    fn excluding(self, ignored: &Set) -> Comparison {
        Comparison {
            removed: self.removed.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            added: self.added.recursive_difference(ignored),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schema: how each list and map merges.

enum ListType {
    /// Replaced whole, owned as one field.
    Atomic,
    /// A set of scalars; items are `v:<value>`.
    Set,
    /// Items are keyed by these fields; items are `k:{...}`.
    Map(Vec<&'static str>),
}

#[derive(Clone, Copy)]
struct Schema<'s> {
    group: &'s str,
    kind: &'s str,
    builtin: bool,
}

/// The keys of upstream's `x-kubernetes-list-map-keys` where they are more than the patch merge
/// key.
fn list_map_keys(merge_key: &'static str) -> Vec<&'static str> {
    match merge_key {
        "containerPort" => vec!["containerPort", "protocol"],
        "port" => vec!["port", "protocol"],
        "topologyKey" => vec!["topologyKey", "whenUnsatisfiable"],
        other => vec![other],
    }
}

/// Upstream's schema defaults of key fields, which items that omit them are keyed by.
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

impl<'s> Schema<'s> {
    fn new(group: &'s str, kind: &'s str) -> Self {
        Schema {
            group,
            kind,
            builtin: patch_meta(group, kind, &[]).is_some(),
        }
    }

    /// The list at `names` (field names from the root; list items implied).
    fn list_type(&self, names: &[&str]) -> ListType {
        match names {
            ["metadata", "ownerReferences"] => return ListType::Map(vec!["uid"]),
            ["metadata", "finalizers"] => return ListType::Set,
            ["metadata", ..] => return ListType::Atomic,
            _ => {}
        }
        match patch_meta(self.group, self.kind, names) {
            Some(meta) if meta.strategy == Strategy::Merge => match meta.merge_key {
                Some(key) => ListType::Map(list_map_keys(key)),
                None => ListType::Set,
            },
            _ => ListType::Atomic,
        }
    }

    /// Whether the map at `names` (an item of the list there when `is_item`) is atomic.
    fn map_is_atomic(&self, names: &[&str], is_item: bool) -> bool {
        if is_item {
            return match names {
                // OwnerReference, LocalObjectReference and ObjectReference are atomic structs.
                ["metadata", "ownerReferences"] => true,
                _ if !self.builtin => false,
                [.., "imagePullSecrets"] => true,
                ["secrets"] => self.kind == "ServiceAccount",
                _ => false,
            };
        }
        if !self.builtin || names.first() == Some(&"metadata") {
            return false;
        }
        if patch_meta(self.group, self.kind, names).is_some_and(|m| m.strategy == Strategy::Replace)
        {
            return true;
        }
        let Some((last, parents)) = names.split_last() else {
            return false;
        };
        let parent = parents.last().copied().unwrap_or("");
        // Fields of upstream's atomic types (`+structType=atomic`, `+mapType=atomic`):
        // LabelSelector, NodeSelector, the key selectors, object references, Service and
        // ReplicationController selectors, pod nodeSelector, RoleRef, ServiceBackendPort.
        matches!(
            *last,
            "nodeSelector"
                | "labelSelector"
                | "namespaceSelector"
                | "podSelector"
                | "scopeSelector"
                | "configMapKeyRef"
                | "secretKeyRef"
                | "fieldRef"
                | "resourceFieldRef"
                | "fileKeyRef"
                | "claimRef"
                | "involvedObject"
                | "regarding"
                | "related"
                | "roleRef"
                | "dataSource"
                | "secretRef"
        ) || last.ends_with("SecretRef")
            || (*last == "selector" && parent == "spec")
            || (*last == "requiredDuringSchedulingIgnoredDuringExecution"
                && parent == "nodeAffinity")
            || (*last == "port" && parent == "service")
    }

    /// Upstream's `listItemToPathElement`.
    fn item_pe(&self, list: &ListType, item: &Value) -> Result<Pe, String> {
        match list {
            ListType::Map(keys) => {
                let m = match item {
                    Value::Object(m) => m,
                    Value::Null => {
                        return Err("associative list with keys may not have a null element".into());
                    }
                    _ => {
                        return Err(
                            "associative list with keys may not have non-map elements".into()
                        );
                    }
                };
                let mut fields = Vec::new();
                for key in keys {
                    match m.get(*key) {
                        Some(v) => fields.push(((*key).to_owned(), v.clone())),
                        None => {
                            if let Some(d) = key_default(key) {
                                fields.push(((*key).to_owned(), d));
                            }
                        }
                    }
                }
                if fields.is_empty() {
                    let quoted: Vec<String> = keys.iter().map(|k| crate::go::quote(k)).collect();
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields \
                         [{}] (and doesn't have default values for any key fields)",
                        quoted.join(" ")
                    ));
                }
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Pe::Key(fields))
            }
            ListType::Set => match item {
                Value::Object(_) => {
                    Err("associative list without keys has an element that's a map type".into())
                }
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".into())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null".into(),
                ),
                v => Ok(Pe::Value(v.clone())),
            },
            ListType::Atomic => Err("invalid indexing of non-associative list".into()),
        }
    }

    /// Upstream's typing of an applied configuration: list items must have keys, once each.
    fn validate<'v>(
        &self,
        v: &'v Value,
        names: &mut Vec<&'v str>,
        path: &mut Vec<Pe>,
        is_item: bool,
    ) -> Result<(), String> {
        match v {
            Value::Object(m) => {
                if !path.is_empty() && self.map_is_atomic(names, is_item) {
                    return Ok(());
                }
                for (k, child) in m {
                    names.push(k);
                    path.push(Pe::Field(k.clone()));
                    self.validate(child, names, path, false)?;
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(items) => {
                let list = self.list_type(names);
                if matches!(list, ListType::Atomic) {
                    return Ok(());
                }
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = self
                        .item_pe(&list, item)
                        .map_err(|e| format!("{}: element {i}: {e}", path_string(path)))?;
                    if seen.contains(&pe) {
                        return Err(format!(
                            "{}: duplicate entries for key {pe}",
                            path_string(path)
                        ));
                    }
                    path.push(pe.clone());
                    self.validate(item, names, path, true)?;
                    path.pop();
                    seen.insert(pe);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Upstream's `ToFieldSet`: the paths an object (or configuration) sets.
    fn field_set(&self, v: &Value) -> Set {
        let mut set = Set::default();
        self.collect_fields(v, &mut Vec::new(), &mut Vec::new(), false, &mut set);
        set
    }

    fn collect_fields<'v>(
        &self,
        v: &'v Value,
        names: &mut Vec<&'v str>,
        path: &mut Vec<Pe>,
        is_item: bool,
        set: &mut Set,
    ) {
        match v {
            Value::Object(m) => {
                if !path.is_empty() && self.map_is_atomic(names, is_item) {
                    set.insert(path);
                    return;
                }
                for (k, child) in m {
                    names.push(k);
                    path.push(Pe::Field(k.clone()));
                    self.collect_fields(child, names, path, false, set);
                    // A struct field is owned through its children, unless it has none.
                    if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                        set.insert(path);
                    }
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(items) => {
                let list = self.list_type(names);
                if matches!(list, ListType::Atomic) {
                    set.insert(path);
                    return;
                }
                let pes: Vec<Option<Pe>> =
                    items.iter().map(|i| self.item_pe(&list, i).ok()).collect();
                // Duplicated items (live objects may have them) are owned whole.
                let mut seen = BTreeSet::new();
                let mut duplicates = BTreeSet::new();
                for pe in pes.iter().flatten() {
                    if !seen.insert(pe) && duplicates.insert(pe) {
                        path.push(pe.clone());
                        set.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(&pes) {
                    let Some(pe) = pe else { continue };
                    if duplicates.contains(pe) {
                        continue;
                    }
                    path.push(pe.clone());
                    self.collect_fields(item, names, path, true, set);
                    set.insert(path);
                    path.pop();
                }
            }
            _ => set.insert(path),
        }
    }

    /// Upstream's `TypedValue.Merge`: the configuration's values win; granular maps merge key
    /// by key and keyed lists item by item, atomic ones are replaced.
    fn merge<'v>(
        &self,
        lhs: Option<&'v Value>,
        rhs: Option<&'v Value>,
        names: &mut Vec<&'v str>,
        is_item: bool,
    ) -> Result<Option<Value>, String> {
        let (l, r) = match (lhs, rhs) {
            (None, None) => return Ok(None),
            (Some(l), None) => return Ok(Some(l.clone())),
            (None, Some(r)) => return Ok(Some(r.clone())),
            (Some(l), Some(r)) => (l, r),
        };
        match (l, r) {
            (Value::Object(lm), Value::Object(rm)) => {
                if (!names.is_empty() || is_item) && self.map_is_atomic(names, is_item)
                    || (lm.is_empty() && rm.is_empty())
                {
                    return Ok(Some(r.clone()));
                }
                let mut out = Map::new();
                for (k, lv) in lm {
                    names.push(k);
                    let merged = self.merge(Some(lv), rm.get(k), names, false)?;
                    names.pop();
                    if let Some(v) = merged {
                        out.insert(k.clone(), v);
                    }
                }
                for (k, rv) in rm {
                    if !lm.contains_key(k) {
                        out.insert(k.clone(), rv.clone());
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            (Value::Array(la), Value::Array(ra)) => {
                let list = self.list_type(names);
                if matches!(list, ListType::Atomic) || (la.is_empty() && ra.is_empty()) {
                    return Ok(Some(r.clone()));
                }
                let items = self.merge_list(la, ra, &list, names)?;
                Ok(Some(Value::Array(items)))
            }
            // A null for a granular map or list is an empty one: the live content stays.
            (Value::Object(lm), Value::Null)
                if !lm.is_empty() && !self.map_is_atomic(names, is_item) =>
            {
                Ok(Some(l.clone()))
            }
            (Value::Array(la), Value::Null)
                if !la.is_empty() && !matches!(self.list_type(names), ListType::Atomic) =>
            {
                Ok(Some(l.clone()))
            }
            _ => Ok(Some(r.clone())),
        }
    }

    /// Upstream's `visitListItems` for merging: live items keep their places, new items come
    /// where the configuration puts them relative to the items both have.
    fn merge_list<'v>(
        &self,
        lhs: &'v [Value],
        rhs: &'v [Value],
        list: &ListType,
        names: &mut Vec<&'v str>,
    ) -> Result<Vec<Value>, String> {
        let pes_of = |items: &[Value]| -> Result<Vec<Pe>, String> {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    self.item_pe(list, item)
                        .map_err(|e| format!("element {i}: {e}"))
                })
                .collect()
        };
        let rpes = pes_of(rhs)?;
        let lpes = pes_of(lhs)?;
        let mut observed_r: BTreeMap<&Pe, &'v Value> = BTreeMap::new();
        for (pe, item) in rpes.iter().zip(rhs) {
            if observed_r.insert(pe, item).is_some() {
                return Err(format!("duplicate entries for key {pe}"));
            }
        }
        let mut observed_l: BTreeMap<&Pe, &'v Value> = BTreeMap::new();
        for (pe, item) in lpes.iter().zip(lhs) {
            observed_l
                .entry(pe)
                .and_modify(|v| *v = &NULL)
                .or_insert(item);
        }
        let mut shared: VecDeque<&Pe> = rpes
            .iter()
            .filter(|pe| observed_l.contains_key(pe))
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_r: BTreeSet<&Pe> = BTreeSet::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        while li < lpes.len() || ri < rpes.len() {
            if let (Some(lpe), Some(rpe)) = (lpes.get(li), rpes.get(ri)) {
                if lpe == rpe {
                    merged_r.insert(lpe);
                    let l = observed_l.get(lpe).copied();
                    let r = observed_r.get(lpe).copied();
                    out.extend(self.merge(l, r, names, true)?);
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if observed_r.contains_key(lpe) && next_shared.is_some_and(|s| s != lpe) {
                    // A shared item, but not the next one the configuration orders.
                    li += 1;
                    continue;
                }
            }
            if let (Some(lpe), Some(litem)) = (lpes.get(li), lhs.get(li)) {
                if !observed_r.contains_key(lpe) {
                    out.extend(self.merge(Some(litem), None, names, true)?);
                    li += 1;
                    continue;
                } else if merged_r.contains(lpe) {
                    li += 1;
                }
            }
            if let Some(rpe) = rpes.get(ri) {
                merged_r.insert(rpe);
                let l = observed_l.get(rpe).copied();
                let r = observed_r.get(rpe).copied();
                out.extend(self.merge(l, r, names, true)?);
                ri += 1;
                if next_shared == Some(rpe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok(out)
    }

    /// Upstream's `TypedValue.Compare`.
    fn compare(&self, lhs: &Value, rhs: &Value) -> Comparison {
        let mut cmp = Comparison::default();
        self.compare_node(
            Some(lhs),
            Some(rhs),
            &mut Vec::new(),
            &mut Vec::new(),
            false,
            &mut cmp,
        );
        cmp
    }

    /// [`Schema::compare`] of two objects, leaving out their top-level field `ignored` and
    /// `metadata.managedFields` without walking or copying either (what [`record_update`]
    /// compares).
    fn compare_but(&self, lhs: &Value, rhs: &Value, ignored: &str) -> Comparison {
        let (Some(lm), Some(rm)) = (lhs.as_object(), rhs.as_object()) else {
            let ignored = Set::of(&[&[ignored], &["metadata", "managedFields"]]);
            return self.compare(lhs, rhs).excluding(&ignored);
        };
        let mut cmp = Comparison::default();
        self.compare_fields(lm, rm, ignored, &mut Vec::new(), &mut Vec::new(), &mut cmp);
        cmp
    }

    /// The fields of two maps compared, but `skip`; below the root, `metadata` is compared
    /// the same way without its `managedFields`.
    fn compare_fields<'v>(
        &self,
        lm: &'v Map<String, Value>,
        rm: &'v Map<String, Value>,
        skip: &str,
        names: &mut Vec<&'v str>,
        path: &mut Vec<Pe>,
        cmp: &mut Comparison,
    ) {
        for (k, lv, rv) in fields_of_both(Some(lm), Some(rm)) {
            if k == skip {
                continue;
            }
            names.push(k);
            path.push(Pe::Field(k.clone()));
            match (lv.and_then(Value::as_object), rv.and_then(Value::as_object)) {
                (Some(lmeta), Some(rmeta))
                    if names.len() == 1
                        && k == "metadata"
                        && !(lmeta.is_empty() && rmeta.is_empty()) =>
                {
                    self.compare_fields(lmeta, rmeta, "managedFields", names, path, cmp);
                }
                _ => self.compare_node(lv, rv, names, path, false, cmp),
            }
            path.pop();
            names.pop();
        }
    }

    fn compare_node<'v>(
        &self,
        lhs: Option<&'v Value>,
        rhs: Option<&'v Value>,
        names: &mut Vec<&'v str>,
        path: &mut Vec<Pe>,
        is_item: bool,
        cmp: &mut Comparison,
    ) {
        // A null stands for an empty map or list of whichever kind the other side is.
        let maybe_map =
            |v: Option<&Value>| matches!(v, None | Some(Value::Null | Value::Object(_)));
        let maybe_list =
            |v: Option<&Value>| matches!(v, None | Some(Value::Null | Value::Array(_)));
        let lm = lhs.and_then(Value::as_object);
        let rm = rhs.and_then(Value::as_object);
        let la = lhs.and_then(Value::as_array);
        let ra = rhs.and_then(Value::as_array);
        if (lm.is_some() || rm.is_some()) && maybe_map(lhs) && maybe_map(rhs) {
            let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
            if empty || (!path.is_empty() && self.map_is_atomic(names, is_item)) {
                compare_leaf(lhs, rhs, path, cmp);
                return;
            }
            for (k, lv, rv) in fields_of_both(lm, rm) {
                names.push(k);
                path.push(Pe::Field(k.clone()));
                self.compare_node(lv, rv, names, path, false, cmp);
                path.pop();
                names.pop();
            }
        } else if (la.is_some() || ra.is_some()) && maybe_list(lhs) && maybe_list(rhs) {
            let list = self.list_type(names);
            let empty = la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty);
            if empty || matches!(list, ListType::Atomic) {
                compare_leaf(lhs, rhs, path, cmp);
                return;
            }
            let la = la.map_or(&[][..], Vec::as_slice);
            let ra = ra.map_or(&[][..], Vec::as_slice);
            self.compare_list(la, ra, &list, names, path, cmp);
        } else {
            compare_leaf(lhs, rhs, path, cmp);
            return;
        }
        if lhs.is_none() {
            cmp.added.insert(path);
        } else if rhs.is_none() {
            cmp.removed.insert(path);
        }
    }

    fn compare_list<'v>(
        &self,
        lhs: &'v [Value],
        rhs: &'v [Value],
        list: &ListType,
        names: &mut Vec<&'v str>,
        path: &mut Vec<Pe>,
        cmp: &mut Comparison,
    ) {
        let mut order: Vec<Pe> = Vec::new();
        let mut left: BTreeMap<Pe, Vec<&'v Value>> = BTreeMap::new();
        for item in lhs {
            let Ok(pe) = self.item_pe(list, item) else {
                continue;
            };
            match left.entry(pe) {
                Entry::Occupied(mut e) => e.get_mut().push(item),
                Entry::Vacant(e) => {
                    order.push(e.key().clone());
                    e.insert(vec![item]);
                }
            }
        }
        let mut right: BTreeMap<Pe, Vec<&'v Value>> = BTreeMap::new();
        for item in rhs {
            let Ok(pe) = self.item_pe(list, item) else {
                continue;
            };
            match right.entry(pe) {
                Entry::Occupied(mut e) => e.get_mut().push(item),
                Entry::Vacant(e) => {
                    if !left.contains_key(e.key()) {
                        order.push(e.key().clone());
                    }
                    e.insert(vec![item]);
                }
            }
        }
        for pe in order {
            let l = left.get(&pe).map_or(&[][..], Vec::as_slice);
            let r = right.get(&pe).map_or(&[][..], Vec::as_slice);
            path.push(pe);
            if l.len() <= 1 && r.len() <= 1 {
                self.compare_node(
                    l.first().copied(),
                    r.first().copied(),
                    names,
                    path,
                    true,
                    cmp,
                );
            } else if l.len() >= 2 && r.len() >= 2 {
                // Duplicates on both sides compare as one atomic value.
                let same = l.len() == r.len() && l.iter().zip(r).all(|(a, b)| value_eq(a, b));
                if !same {
                    cmp.modified.insert(path);
                }
            } else if l.len() >= 2 {
                if let Some(first) = r.first() {
                    self.compare_node(None, Some(first), names, path, true, cmp);
                }
                cmp.removed.insert(path);
            } else {
                if let Some(first) = l.first() {
                    self.compare_node(Some(first), None, names, path, true, cmp);
                }
                cmp.added.insert(path);
            }
            path.pop();
        }
    }

    /// Upstream's `RemoveItems`: `v` without the paths in `set` (a member goes with everything
    /// below it). Maps and lists emptied by the removal go too, as Go's `omitempty` drops them.
    fn remove_items(&self, v: &Value, set: &Set) -> Value {
        self.remove(v, set, &mut Vec::new(), false)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove<'v>(
        &self,
        v: &'v Value,
        set: &Set,
        names: &mut Vec<&'v str>,
        is_item: bool,
    ) -> Option<Value> {
        match v {
            Value::Object(m) => {
                if m.is_empty()
                    || (!names.is_empty() || is_item) && self.map_is_atomic(names, is_item)
                {
                    return Some(v.clone());
                }
                let mut out = Map::new();
                for (k, child) in m {
                    let pe = Pe::Field(k.clone());
                    if set.members.contains(&pe) {
                        continue;
                    }
                    match set.children.get(&pe).filter(|s| !s.is_empty()) {
                        Some(below) => {
                            names.push(k);
                            let kept = self.remove(child, below, names, false);
                            names.pop();
                            if let Some(kept) = kept {
                                out.insert(k.clone(), kept);
                            }
                        }
                        None => {
                            out.insert(k.clone(), child.clone());
                        }
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let list = self.list_type(names);
                if items.is_empty() || matches!(list, ListType::Atomic) {
                    return Some(v.clone());
                }
                let mut out = Vec::new();
                for item in items {
                    let Ok(pe) = self.item_pe(&list, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.members.contains(&pe) {
                        continue;
                    }
                    match set.children.get(&pe).filter(|s| !s.is_empty()) {
                        Some(below) => out.extend(self.remove(item, below, names, true)),
                        None => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => Some(v.clone()),
        }
    }

    /// Upstream's `prune`: removes what the applier applied last time and no longer applies,
    /// unless some manager (the applier's new configuration included) owns it. Done as upstream
    /// does it, in three passes, so that the edge cases come out the same.
    fn prune(&self, merged: &Value, managed: &Managed, last: &Set) -> Value {
        let last = last.ensure_named();
        let pruned = self.remove_items(merged, &last);
        let owned = managed
            .fields
            .values()
            .fold(Set::default(), |all, v| all.union(&v.set))
            .ensure_named();
        let merged_set = self.field_set(merged).ensure_named();
        let pruned_set = self.field_set(&pruned).ensure_named();
        // Add back what somebody owns...
        let pruned = self.remove_items(merged, &merged_set.difference(&pruned_set.union(&owned)));
        // ...and what the applier did not own before (fields nobody owns, or only updaters).
        let pruned_set = self.field_set(&pruned).ensure_named();
        self.remove_items(
            merged,
            &merged_set.difference(&pruned_set).intersection(&last),
        )
    }

    /// Upstream's `lastAppliedManager`: the fields a client-side apply's annotation set and the
    /// live object still has. kubectl may take these over from client-side apply managers.
    fn allowed_by_last_applied(&self, live: &Value, api_version: &str) -> Option<Set> {
        let text = live
            .get("metadata")?
            .get("annotations")?
            .get(LAST_APPLIED)?
            .as_str()
            .filter(|s| !s.is_empty())?;
        let last: Value = serde_json::from_str(text).ok()?;
        if !last.is_object()
            || last.get("apiVersion").and_then(Value::as_str) != Some(api_version)
            || too_deep(&last)
        {
            return None;
        }
        self.validate(&last, &mut Vec::new(), &mut Vec::new(), false)
            .ok()?;
        let set = self.field_set(&last);
        let cmp = self.compare(&last, live);
        Some(
            set.difference(&cmp.modified)
                .difference(&cmp.added)
                .difference(&cmp.removed),
        )
    }

    /// What upstream compares a create against: the kind's empty Go object, whose non-pointer
    /// structs exist (so they are not recorded as added, with their `"."`), and a custom
    /// resource's empty object. Only the parts `new` has matter.
    fn empty_object(&self, new: &Value) -> Value {
        let mut old = Value::Object(Map::new());
        if !self.builtin {
            return old;
        }
        let empty = || Value::Object(Map::new());
        let pod_spec = || serde_json::json!({ "containers": null });
        let mut put = |path: &[&str], value: Value| put_if_object(&mut old, new, path, value);
        put(&["metadata"], empty());
        put(&["status"], empty());
        if self.kind == "Pod" {
            put(&["spec"], pod_spec());
        } else {
            put(&["spec"], empty());
        }
        put(&["spec", "strategy"], empty());
        put(&["spec", "updateStrategy"], empty());
        put(&["spec", "jobTemplate"], empty());
        put(&["spec", "jobTemplate", "metadata"], empty());
        put(&["spec", "jobTemplate", "spec"], empty());
        let templates: [&[&str]; 3] = [
            &["template"],
            &["spec", "template"],
            &["spec", "jobTemplate", "spec", "template"],
        ];
        for template in templates {
            put(template, empty());
            put(&[template, &["metadata"]].concat(), empty());
            put(&[template, &["spec"]].concat(), pod_spec());
        }
        old
    }
}

fn compare_leaf(lhs: Option<&Value>, rhs: Option<&Value>, path: &[Pe], cmp: &mut Comparison) {
    match (lhs, rhs) {
        (None, Some(_)) => cmp.added.insert(path),
        (Some(_), None) => cmp.removed.insert(path),
        (Some(l), Some(r)) if !value_eq(l, r) => cmp.modified.insert(path),
        _ => {}
    }
}

/// Sets `old` at `path` to `value` when `new` has an object there and `old` has its parent.
fn put_if_object(old: &mut Value, new: &Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if !path
        .iter()
        .try_fold(new, |v, name| v.get(*name))
        .is_some_and(Value::is_object)
    {
        return;
    }
    let mut node = old;
    for name in parents {
        match node.get_mut(*name) {
            Some(child) => node = child,
            None => return,
        }
    }
    if let Value::Object(m) = node {
        m.insert((*last).to_owned(), value);
    }
}

// ---------------------------------------------------------------------------------------------
// managedFields entries.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who an entry belongs to (upstream's manager identifier): appliers by name and subresource,
/// updaters also by API version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerId {
    manager: String,
    operation: Operation,
    /// Empty for appliers.
    api_version: String,
    subresource: String,
}

impl ManagerId {
    fn apply(manager: &str) -> Self {
        ManagerId {
            manager: manager.to_owned(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: String::new(),
        }
    }

    fn update(manager: &str, api_version: &str, subresource: &str) -> Self {
        ManagerId {
            manager: manager.to_owned(),
            operation: Operation::Update,
            api_version: api_version.to_owned(),
            subresource: subresource.to_owned(),
        }
    }

    /// Upstream's identifier (the entry's identifying fields as Go JSON), which it sorts by.
    fn identifier(&self) -> String {
        let mut out = String::from("{");
        let fields = [
            ("manager", self.manager.as_str()),
            ("operation", self.operation.as_str()),
            ("apiVersion", self.api_version.as_str()),
            ("subresource", self.subresource.as_str()),
        ];
        for (name, value) in fields.into_iter().filter(|(_, v)| !v.is_empty()) {
            if out.len() > 1 {
                out.push(',');
            }
            crate::go::json_string(name, &mut out);
            out.push(':');
            crate::go::json_string(value, &mut out);
        }
        out.push('}');
        out
    }

    /// Upstream's `printManager`: `"kubectl"`, `"kube-controller-manager" using apps/v1`.
    fn describe(&self) -> String {
        let mut out = crate::go::quote(&self.manager);
        if !self.subresource.is_empty() {
            let _ = write!(
                out,
                " with subresource {}",
                crate::go::quote(&self.subresource)
            );
        }
        if self.operation == Operation::Update {
            let _ = write!(out, " using {}", self.api_version);
        }
        out
    }
}

#[derive(Clone, Debug)]
struct Versioned {
    set: Set,
    api_version: String,
}

#[derive(Clone, Debug, Default)]
struct Managed {
    fields: BTreeMap<ManagerId, Versioned>,
    times: BTreeMap<ManagerId, String>,
}

/// Upstream's `DecodeManagedFields`.
fn decode_managed(entries: Option<&Value>) -> Result<Managed, String> {
    let entries = match entries {
        None | Some(Value::Null) => return Ok(Managed::default()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err("managedFields must be a list".into()),
    };
    let mut managed = Managed::default();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(format!("managed fields entry {i} is not an object"));
        };
        let text = |key: &str| -> Result<String, String> {
            match entry.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("{key} of managed fields entry {i} is not a string")),
            }
        };
        let operation = match text("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        let api_version = text("apiVersion")?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match text("fieldsType")?.as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    crate::go::quote(other)
                ));
            }
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => Set::default(),
            Some(fields) => Set::from_fields(fields)
                .map_err(|e| format!("error decoding set of entry {i}: {e}"))?,
        };
        let id = ManagerId {
            manager: text("manager")?,
            operation,
            api_version: match operation {
                Operation::Apply => String::new(),
                Operation::Update => api_version.clone(),
            },
            subresource: text("subresource")?,
        };
        let time = text("time")?;
        if time.is_empty() {
            managed.times.remove(&id);
        } else {
            managed.times.insert(id.clone(), time);
        }
        managed.fields.insert(id, Versioned { set, api_version });
    }
    Ok(managed)
}

/// Upstream's `encodeManagedFields`: Apply entries first, then oldest first; None when there
/// are none (upstream then leaves `managedFields` out).
fn encode_managed(managed: &Managed) -> Option<Value> {
    if managed.fields.is_empty() {
        return None;
    }
    let mut entries: Vec<(&ManagerId, &Versioned, Option<&String>)> = managed
        .fields
        .iter()
        .map(|(id, v)| (id, v, managed.times.get(id)))
        .collect();
    entries.sort_by(|(a, av, at), (b, bv, bt)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| unix_seconds(*at).cmp(&unix_seconds(*bt)))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| av.api_version.cmp(&bv.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let encoded = entries
        .into_iter()
        .map(|(id, v, time)| {
            let mut entry = Map::new();
            if !id.manager.is_empty() {
                entry.insert("manager".into(), Value::String(id.manager.clone()));
            }
            entry.insert("operation".into(), id.operation.as_str().into());
            entry.insert("apiVersion".into(), Value::String(v.api_version.clone()));
            if let Some(time) = time {
                entry.insert("time".into(), Value::String(time.clone()));
            }
            entry.insert("fieldsType".into(), "FieldsV1".into());
            entry.insert("fieldsV1".into(), v.set.to_fields());
            if !id.subresource.is_empty() {
                entry.insert("subresource".into(), Value::String(id.subresource.clone()));
            }
            Value::Object(entry)
        })
        .collect();
    Some(Value::Array(encoded))
}

/// Upstream's `capManagersManager`: beyond ten `Update` entries, the oldest are merged into one
/// `ancient-changes` entry per API version.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerId> = managed
        .fields
        .keys()
        .filter(|id| id.operation == Operation::Update)
        .cloned()
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by_cached_key(|id| (unix_seconds(managed.times.get(id)), id.identifier()));
    let mut first_of_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut count = updaters.len();
    for id in updaters {
        if count <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(version) = managed.fields.get(&id).map(|v| v.api_version.clone()) else {
            continue;
        };
        let Some(first) = first_of_version.get(&version) else {
            first_of_version.insert(version, id);
            continue;
        };
        let bucket = ManagerId::update(ANCIENT_CHANGES, &version, "");
        if !managed.fields.contains_key(&bucket)
            && let Some(first_set) = managed.fields.remove(first)
        {
            managed.fields.insert(bucket.clone(), first_set);
        }
        let Some(merging) = managed.fields.remove(&id) else {
            continue;
        };
        let set = match managed.fields.get(&bucket) {
            Some(b) => merging.set.union(&b.set),
            None => merging.set,
        };
        managed.fields.insert(
            bucket.clone(),
            Versioned {
                set,
                api_version: version,
            },
        );
        match managed.times.remove(&id) {
            Some(time) => managed.times.insert(bucket, time),
            None => managed.times.remove(&bucket),
        };
        count -= 1;
    }
}

/// Seconds since the epoch of an RFC 3339 time (0 when absent or unreadable, as upstream sorts
/// entries without a time).
fn unix_seconds(time: Option<&String>) -> i64 {
    time.and_then(|t| parse_rfc3339(t)).unwrap_or(0)
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = t.get(from..to)?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let bytes = t.as_bytes();
    let sep = |i: usize, c: &[u8]| bytes.get(i).is_some_and(|b| c.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = t.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] if rest.len() == 6 && rest.get(3..4) == Some(":") => {
            let minutes = num(t.len() - 5, t.len() - 3)? * 60 + num(t.len() - 2, t.len())?;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    Some(
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
            - offset * 60,
    )
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:01:00Z";
    const T2: &str = "2026-01-01T00:02:00Z";
    const T3: &str = "2026-01-01T00:03:00Z";

    fn deployment(replicas: i64, labels: Value, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "my-api", "namespace": "default", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "my-api"}},
                "template": {
                    "metadata": {"labels": {"app": "my-api"}},
                    "spec": {"containers": [{
                        "name": "api",
                        "image": image,
                        "ports": [{"containerPort": 80}]
                    }]}
                }
            }
        })
    }

    fn apply_deployment(
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        apply(
            "apps",
            "Deployment",
            "apps/v1",
            live,
            applied,
            manager,
            force,
            now,
        )
        .map(|r| r.object)
    }

    fn update_deployment(old: Option<&Value>, new: &Value, manager: &str, now: &str) -> Value {
        record_update(
            "apps",
            "Deployment",
            "apps/v1",
            old,
            new.clone(),
            manager,
            None,
            now,
        )
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        obj.pointer("/metadata/managedFields")?
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    fn fields(obj: &Value, manager: &str, operation: &str) -> Value {
        entry(obj, manager, operation).map_or(Value::Null, |e| e["fieldsV1"].clone())
    }

    fn without_fields(obj: &Value) -> Value {
        without_managed_fields(obj)
    }

    #[test]
    fn first_apply_creates_the_object_and_an_apply_entry() {
        let applied = deployment(3, json!({"app": "my-api"}), "nginx:1.26");
        let got = apply_deployment(None, &applied, "kubectl", false, T0).unwrap();
        assert_eq!(without_fields(&got), applied);
        assert_eq!(
            entries(&got),
            vec![json!({
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": T0,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {
                                "k:{\"name\":\"api\"}": {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                            ".": {},
                                            "f:containerPort": {}
                                        }
                                    }
                                }
                            }}
                        }
                    }
                }
            })]
        );
    }

    #[test]
    fn reapplying_without_a_field_removes_it() {
        let first = deployment(3, json!({"app": "my-api", "tier": "web"}), "nginx:1.26");
        let live = apply_deployment(None, &first, "kubectl", false, T0).unwrap();
        let mut second = deployment(3, json!({"app": "my-api"}), "nginx:1.27");
        if let Some(Value::Object(spec)) = second.get_mut("spec") {
            spec.remove("replicas");
        }
        let got = apply_deployment(Some(&live), &second, "kubectl", false, T1).unwrap();
        assert_eq!(without_fields(&got), second);
        let f = fields(&got, "kubectl", "Apply");
        assert_eq!(f["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert!(f["f:spec"].get("f:replicas").is_none());
        assert_eq!(entry(&got, "kubectl", "Apply").unwrap()["time"], T1);
    }

    #[test]
    fn apply_over_an_updated_field_conflicts_and_force_takes_it_over() {
        let applied = deployment(3, json!({"app": "my-api"}), "nginx:1.26");
        let live = apply_deployment(None, &applied, "kubectl", false, T0).unwrap();
        // Another manager scales the deployment with an ordinary update.
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        let live = update_deployment(Some(&live), &scaled, "kubectl-client-side-apply", T1);
        assert_eq!(
            fields(&live, "kubectl-client-side-apply", "Update"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(
            fields(&live, "kubectl", "Apply")["f:spec"]
                .get("f:replicas")
                .is_none()
        );

        let wanted = deployment(4, json!({"app": "my-api"}), "nginx:1.26");
        let err = apply_deployment(Some(&live), &wanted, "kubectl", false, T2).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using \
             apps/v1: .spec.replicas"
        );
        let ApplyError::Conflict { causes } = err else {
            panic!("not a conflict")
        };
        assert_eq!(
            causes,
            vec![ConflictCause {
                field: ".spec.replicas".into(),
                message: "conflict with \"kubectl-client-side-apply\" using apps/v1".into(),
            }]
        );

        let got = apply_deployment(Some(&live), &wanted, "kubectl", true, T2).unwrap();
        assert_eq!(got["spec"]["replicas"], 4);
        assert!(entry(&got, "kubectl-client-side-apply", "Update").is_none());
        assert_eq!(
            fields(&got, "kubectl", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
    }

    #[test]
    fn applying_the_value_another_manager_set_shares_it() {
        let live = apply_deployment(
            None,
            &deployment(3, json!({"app": "my-api"}), "nginx:1.26"),
            "kubectl",
            false,
            T0,
        )
        .unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        let live = update_deployment(Some(&live), &scaled, "hpa", T1);
        let same = deployment(5, json!({"app": "my-api"}), "nginx:1.26");
        let got = apply_deployment(Some(&live), &same, "kubectl", false, T2).unwrap();
        assert_eq!(
            fields(&got, "hpa", "Update"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            fields(&got, "kubectl", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
    }

    #[test]
    fn a_field_two_appliers_share_stays_when_one_drops_it() {
        let config_map = |data: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "default"}, "data": data})
        };
        let apply_cm = |live: Option<&Value>, data: Value, manager: &str, now: &str| {
            apply(
                "",
                "ConfigMap",
                "v1",
                live,
                &config_map(data),
                manager,
                false,
                now,
            )
            .unwrap()
            .object
        };
        let live = apply_cm(None, json!({"a": "1", "shared": "x"}), "one", T0);
        let live = apply_cm(Some(&live), json!({"shared": "x", "b": "2"}), "two", T1);
        assert_eq!(live["data"], json!({"a": "1", "shared": "x", "b": "2"}));
        // "one" drops both of its fields: "a" goes, "shared" stays for "two".
        let live = apply_cm(Some(&live), json!({}), "one", T2);
        assert_eq!(live["data"], json!({"shared": "x", "b": "2"}));
        assert_eq!(
            fields(&live, "one", "Apply"),
            json!({"f:data": {}}),
            "an empty map in the configuration is owned itself"
        );
        // Now "two" drops "shared" and nobody owns it any more.
        let live = apply_cm(Some(&live), json!({"b": "2"}), "two", T3);
        assert_eq!(live["data"], json!({"b": "2"}));
        assert_eq!(
            fields(&live, "two", "Apply"),
            json!({"f:data": {"f:b": {}}})
        );
    }

    #[test]
    fn record_update_on_create_owns_every_field_set() {
        let new = deployment(1, json!({"app": "my-api"}), "nginx:1.27");
        let got = update_deployment(None, &new, "kubectl-create", T0);
        assert_eq!(without_fields(&got), new);
        assert_eq!(
            entries(&got),
            vec![json!({
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": T0,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                            "f:spec": {"f:containers": {
                                "k:{\"name\":\"api\"}": {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        ".": {},
                                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                            ".": {},
                                            "f:containerPort": {}
                                        }
                                    }
                                }
                            }}
                        }
                    }
                }
            })]
        );
    }

    #[test]
    fn record_update_of_a_label_moves_only_that_field() {
        let applied = deployment(3, json!({"app": "my-api", "tier": "web"}), "nginx:1.26");
        let live = apply_deployment(None, &applied, "kubectl", false, T0).unwrap();
        let mut labelled = live.clone();
        labelled["metadata"]["labels"]["tier"] = json!("api");
        labelled["metadata"]["labels"]["team"] = json!("core");
        let got = update_deployment(Some(&live), &labelled, "kubectl-label", T1);
        assert_eq!(got["metadata"]["labels"]["tier"], "api");
        assert_eq!(
            fields(&got, "kubectl-label", "Update"),
            json!({"f:metadata": {"f:labels": {"f:team": {}, "f:tier": {}}}})
        );
        assert_eq!(
            fields(&got, "kubectl", "Apply")["f:metadata"],
            json!({"f:labels": {"f:app": {}}})
        );
        // Apply entries come first.
        let order: Vec<Value> = entries(&got).iter().map(|e| e["manager"].clone()).collect();
        assert_eq!(order, vec![json!("kubectl"), json!("kubectl-label")]);

        // The same manager again: its set grows, its time moves.
        let mut again = got.clone();
        again["metadata"]["labels"]["env"] = json!("prod");
        let got = update_deployment(Some(&got), &again, "kubectl-label", T2);
        let e = entry(&got, "kubectl-label", "Update").unwrap();
        assert_eq!(e["time"], T2);
        assert_eq!(
            e["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:env": {}, "f:team": {}, "f:tier": {}}}})
        );
        // An update that changes nothing records nothing.
        let same = update_deployment(Some(&got), &got, "other", T3);
        assert_eq!(entries(&same), entries(&got));
    }

    #[test]
    fn record_update_honours_sent_managed_fields_and_resets() {
        let live = apply_deployment(
            None,
            &deployment(3, json!({"app": "my-api"}), "nginx:1.26"),
            "kubectl",
            false,
            T0,
        )
        .unwrap();
        // A client that drops managedFields does not wipe them.
        let got = update_deployment(Some(&live), &without_fields(&live), "x", T1);
        assert_eq!(entries(&got), entries(&live));
        // `[]` clears them.
        let mut reset = live.clone();
        reset["metadata"]["managedFields"] = json!([]);
        let got = update_deployment(Some(&live), &reset, "x", T1);
        assert!(got["metadata"].get("managedFields").is_none());
        // A status write by a controller records status only.
        let mut status = live.clone();
        status["status"] = json!({"replicas": 3});
        let got = record_update(
            "apps",
            "Deployment",
            "apps/v1",
            Some(&live),
            status,
            "kube-controller-manager",
            Some("status"),
            T1,
        );
        let e = entry(&got, "kube-controller-manager", "Update").unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(
            e["fieldsV1"],
            json!({"f:status": {".": {}, "f:replicas": {}}})
        );
    }

    #[test]
    fn conflicts_with_several_managers_are_grouped() {
        let live = apply_deployment(
            None,
            &deployment(3, json!({"app": "my-api"}), "nginx:1.26"),
            "kubectl",
            false,
            T0,
        )
        .unwrap();
        let mut changed = live.clone();
        changed["spec"]["replicas"] = json!(5);
        let live = update_deployment(Some(&live), &changed, "b-scaler", T1);
        let mut changed = live.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        changed["metadata"]["labels"]["app"] = json!("other");
        let live = update_deployment(Some(&live), &changed, "a-editor", T2);
        let err = apply_deployment(
            Some(&live),
            &deployment(4, json!({"app": "my-api"}), "nginx:1.26"),
            "ci",
            false,
            T3,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 3 conflicts: conflicts with \"a-editor\" using apps/v1:\n\
             - .metadata.labels.app\n\
             - .spec.template.spec.containers[name=\"api\"].image\n\
             conflicts with \"b-scaler\" using apps/v1:\n\
             - .spec.replicas"
        );
    }

    #[test]
    fn kubectl_takes_over_from_client_side_apply() {
        // `kubectl apply` (client-side) created the object and recorded its configuration.
        let mut created = deployment(3, json!({"app": "my-api"}), "nginx:1.26");
        let config = created.to_string();
        created["metadata"]["annotations"] = json!({ LAST_APPLIED: config });
        let live = update_deployment(None, &created, "kubectl-client-side-apply", T0);
        // `kubectl apply --server-side` with a new replica count does not conflict.
        let mut wanted = deployment(4, json!({"app": "my-api"}), "nginx:1.26");
        let got = apply_deployment(Some(&live), &wanted, "kubectl", false, T1).unwrap();
        assert_eq!(got["spec"]["replicas"], 4);
        // The annotation now holds what was applied, in Go's encoding.
        let annotation = got["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert!(annotation.ends_with('\n'));
        let decoded: Value = serde_json::from_str(annotation).unwrap();
        assert_eq!(decoded, wanted);
        // Another applier gets the conflict.
        wanted["spec"]["replicas"] = json!(6);
        assert!(matches!(
            apply_deployment(Some(&live), &wanted, "other", false, T1),
            Err(ApplyError::Conflict { .. })
        ));
    }

    #[test]
    fn applied_configuration_is_checked() {
        let applied = deployment(1, json!({}), "x");
        let err = apply(
            "apps",
            "Deployment",
            "apps/v2",
            None,
            &applied,
            "m",
            false,
            T0,
        );
        assert_eq!(
            err.unwrap_err().message(),
            "invalid object type: apps/v1, Kind=Deployment"
        );
        let err = apply("", "Pod", "v1", None, &applied, "m", false, T0);
        assert_eq!(
            err.unwrap_err().message(),
            "invalid object type: apps/v1, Kind=Deployment"
        );
        let mut with_fields = applied.clone();
        with_fields["metadata"]["managedFields"] = json!([]);
        let err = apply_deployment(None, &with_fields, "m", false, T0).unwrap_err();
        assert_eq!(err.message(), "metadata.managedFields must be nil");
        let mut duplicated = applied.clone();
        duplicated["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]);
        let err = apply_deployment(None, &duplicated, "m", false, T0).unwrap_err();
        assert_eq!(
            err.message(),
            "failed to create typed patch object (default/my-api; apps/v1, Kind=Deployment): \
             .spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
        );
        assert!(matches!(
            apply_deployment(None, &applied, "", false, T0),
            Err(ApplyError::Invalid(_))
        ));
        let live = deployment(1, json!({}), "x");
        let mut renamed = applied.clone();
        renamed["metadata"]["name"] = json!("other");
        assert_eq!(
            apply_deployment(Some(&live), &renamed, "m", false, T0)
                .unwrap_err()
                .message(),
            "the name of the object (other) does not match the name on the URL (my-api)"
        );
    }

    #[test]
    fn list_semantics_follow_the_schema() {
        let pod = |containers: Value, finalizers: Value| {
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "finalizers": finalizers,
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                     "name": "rs", "uid": "u1"}]},
                   "spec": {"containers": containers}})
        };
        let live = apply(
            "",
            "Pod",
            "v1",
            None,
            &pod(
                json!([{"name": "a", "image": "x", "args": ["1", "2"]}]),
                json!(["f1"]),
            ),
            "one",
            false,
            T0,
        )
        .unwrap()
        .object;
        assert_eq!(
            fields(&live, "one", "Apply"),
            json!({
                "f:metadata": {
                    "f:finalizers": {"v:\"f1\"": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {}}
                },
                "f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {
                    ".": {}, "f:args": {}, "f:image": {}, "f:name": {}
                }}}
            })
        );
        // Another applier adds a container before "a" and a finalizer: they merge in.
        let got = apply(
            "",
            "Pod",
            "v1",
            Some(&live),
            &pod(
                json!([{"name": "b", "image": "y"}, {"name": "a", "image": "x"}]),
                json!(["f2"]),
            ),
            "two",
            false,
            T1,
        )
        .unwrap()
        .object;
        let names: Vec<&Value> = got["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, vec!["b", "a"]);
        assert_eq!(got["metadata"]["finalizers"], json!(["f1", "f2"]));
        assert_eq!(got["spec"]["containers"][1]["args"], json!(["1", "2"]));
    }

    /// structured-merge-diff's `remove_one_keep_one_with_dangling_subitem` and
    /// `remove_one_with_dangling_subitem_keep_one` (merge/multiple_appliers_test.go), with
    /// containers for its `listOfLists` and env vars for its `value` sets.
    #[test]
    fn pruning_follows_upstream_for_dangling_items() {
        let pod = |containers: Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": containers}})
        };
        let c = |name: &str, env: &[&str]| {
            let mut c = json!({ "name": name });
            if !env.is_empty() {
                let env: Vec<Value> = env.iter().map(|n| json!({ "name": n })).collect();
                c["env"] = Value::Array(env);
            }
            c
        };
        let apply_pod = |live: Option<&Value>, containers: Value, manager: &str| {
            apply("", "Pod", "v1", live, &pod(containers), manager, false, T0)
                .unwrap()
                .object
        };
        let update_pod = |live: &Value, containers: Value, manager: &str| {
            let mut new = live.clone();
            new["spec"]["containers"] = containers;
            record_update("", "Pod", "v1", Some(live), new, manager, None, T0)
        };
        let key = |name: &str| format!("k:{{\"name\":\"{name}\"}}");

        // apply-two keeps container b; the controller's env var e dangles under it and stays.
        let live = apply_pod(None, json!([c("a", &[]), c("b", &["c"])]), "one");
        let live = apply_pod(Some(&live), json!([c("b", &["d"])]), "two");
        let live = update_pod(&live, json!([c("a", &[]), c("b", &["c", "d", "e"])]), "ctl");
        let got = apply_pod(Some(&live), json!([c("a", &[])]), "one");
        assert_eq!(
            got["spec"]["containers"],
            json!([c("a", &[]), c("b", &["d", "e"])])
        );
        let containers = |manager: &str, operation: &str| {
            fields(&got, manager, operation)["f:spec"]["f:containers"].clone()
        };
        assert_eq!(
            containers("one", "Apply"),
            json!({ key("a"): {".": {}, "f:name": {}} })
        );
        assert_eq!(
            containers("ctl", "Update"),
            json!({ key("b"): {"f:env": { key("e"): {".": {}, "f:name": {}} }} })
        );

        // Nobody else owns container b itself, so it goes with the controller's env var in it.
        let live = apply_pod(None, json!([c("a", &[]), c("b", &["c"])]), "one");
        let live = apply_pod(Some(&live), json!([c("a", &["b"])]), "two");
        let live = update_pod(&live, json!([c("a", &["b"]), c("b", &["c", "d"])]), "ctl");
        let got = apply_pod(Some(&live), json!([c("a", &[])]), "one");
        assert_eq!(got["spec"]["containers"], json!([c("a", &["b"])]));
        assert!(entry(&got, "ctl", "Update").is_none());
    }

    #[test]
    fn custom_resources_have_atomic_lists() {
        let cr = |items: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                   "metadata": {"name": "w"}, "spec": {"items": items, "size": 1}})
        };
        let live = apply(
            "example.com",
            "Widget",
            "example.com/v1",
            None,
            &cr(json!([{"name": "a"}])),
            "one",
            false,
            T0,
        )
        .unwrap()
        .object;
        assert_eq!(
            fields(&live, "one", "Apply"),
            json!({"f:spec": {"f:items": {}, "f:size": {}}})
        );
        let got = apply(
            "example.com",
            "Widget",
            "example.com/v1",
            Some(&live),
            &cr(json!([{"name": "b"}])),
            "one",
            false,
            T1,
        )
        .unwrap()
        .object;
        assert_eq!(got["spec"]["items"], json!([{"name": "b"}]));
    }

    #[test]
    fn status_in_an_applied_configuration_is_not_owned() {
        let mut applied = deployment(1, json!({}), "x");
        applied["status"] = json!({"replicas": 1});
        let got = apply_deployment(None, &applied, "m", false, T0).unwrap();
        assert!(fields(&got, "m", "Apply").get("f:status").is_none());
    }

    #[test]
    fn a_no_op_apply_keeps_the_entry_time() {
        let applied = deployment(3, json!({"app": "my-api"}), "nginx:1.26");
        let live = apply_deployment(None, &applied, "m", false, T0).unwrap();
        let again = apply_deployment(Some(&live), &applied, "m", false, T1).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn many_updaters_are_capped() {
        let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        for i in 0..12 {
            let mut next = live.clone();
            next["data"][format!("k{i}")] = json!("v");
            let now = format!("2026-01-01T00:{:02}:00Z", i + 1);
            let manager = format!("m{i}");
            live = record_update(
                "",
                "ConfigMap",
                "v1",
                Some(&live),
                next,
                &manager,
                None,
                &now,
            );
        }
        let managers: Vec<Value> = entries(&live)
            .iter()
            .map(|e| e["manager"].clone())
            .collect();
        assert_eq!(managers.len(), 10);
        assert_eq!(managers[0], ANCIENT_CHANGES);
        assert_eq!(managers[9], "m11");
        // m0 and m1 went into the bucket on the eleventh update, m2 on the twelfth.
        let ancient = entry(&live, ANCIENT_CHANGES, "Update").unwrap();
        assert_eq!(
            ancient["fieldsV1"]["f:data"],
            json!({".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}})
        );
        assert_eq!(ancient["time"], "2026-01-01T00:03:00Z");
    }

    #[test]
    fn fields_v1_round_trips() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
            "f:spec": {
                "f:list": {"i:0": {}, "i:2": {"f:x": {}}},
                "f:set": {"v:1": {}, "v:\"b\"": {}},
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}
            }
        });
        let set = Set::from_fields(&fields).unwrap();
        assert_eq!(set.to_fields(), fields);
        assert!(set.has(&[
            Pe::Field("spec".into()),
            Pe::Field("set".into()),
            Pe::Value(json!("b"))
        ]));
        assert_eq!(
            serialize_pe(&Pe::Value(json!("<b>"))),
            "v:\"\\u003cb\\u003e\""
        );
        assert!(Set::from_fields(&json!({"x": {}})).is_err());
        assert!(Set::from_fields(&json!({"k:[1]": {}})).is_err());
        assert_eq!(
            Set::from_fields(&json!({"z:1": {}})).unwrap(),
            Set::default()
        );
        assert!(
            decode_managed(Some(&json!([{"operation": "Apply", "apiVersion": "v1"}]))).is_err()
        );
    }

    #[test]
    fn rfc3339_times_sort_by_instant() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let odd = [
            json!(null),
            json!([]),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": 5}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "spec": {"template": {"spec": {"containers": [null, 1, {"image": "x"}]}}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"managedFields": [{"operation": "Nope"}]}}),
        ];
        for a in &odd {
            for b in &odd {
                let _ = apply_deployment(Some(a), b, "m", false, T0);
                let _ = apply_deployment(None, b, "m", true, T0);
                let _ = update_deployment(Some(a), b, "m", T0);
                let _ = update_deployment(None, b, "", T0);
            }
        }
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!({ "a": deep });
        }
        let mut obj = deployment(1, json!({}), "x");
        obj["spec"]["deep"] = deep;
        assert!(apply_deployment(None, &obj, "m", false, T0).is_err());
        let _ = update_deployment(None, &obj, "m", T0);
    }
}
