//! Strategic merge patch (`application/strategic-merge-patch+json`), applied the way the upstream
//! API server applies it (apimachinery `strategicpatch.StrategicMergeMapPatch`, v1.32).
//!
//! Objects merge key by key and `null` deletes a key. A list follows its field's patch metadata:
//! lists of objects with a merge key merge item by item, lists of scalars with the `merge`
//! strategy merge as sets, and every other list is replaced. The directives `$patch` (`replace`,
//! `delete`), `$retainKeys`, `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`
//! work as upstream, including the order in which merged items come out.
//!
//! Upstream reads the metadata from Go struct tags (`patchStrategy`, `patchMergeKey`); here it is a
//! table of the built-in types that carry such tags and of the fields that lead to them. Custom
//! resources have no such metadata, so they are refused, as upstream refuses them (415).
//!
//! Upstream decodes the merged map into the typed object, which drops directive keys and `null`s
//! left in values taken whole from the patch; this module drops them itself, so its result is what
//! the API server would store.

use serde_json::{Map, Value};

type Object = Map<String, Value>;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

// Upstream words several errors with Go type names; kubectl users see them verbatim.
const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

/// Patches nested deeper than this are refused, so that the recursion here cannot exhaust a
/// thread's stack. serde_json's parser stops at 128 levels, so no parsed body comes near it.
const MAX_DEPTH: usize = 256;

/// Why a strategic merge patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The kind has no built-in patch metadata (a custom resource). The message is the one the
    /// upstream server sends with its 415 for custom resources.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )]
    UnsupportedKind {
        /// API group of the refused kind ("" for core).
        group: String,
        /// The refused kind.
        kind: String,
    },
    /// A malformed patch or directive, which upstream answers with 400 Bad Request.
    #[error("{0}")]
    Invalid(String),
    /// A patch upstream answers with 422 Unprocessable Entity (lists of lists).
    #[error("{0}")]
    Unprocessable(String),
    /// A patch that does not fit the object or its schema (an item without its merge key, list
    /// items of different types, an unknown `$patch` value). Upstream passes these on unwrapped,
    /// so clients get 500 with the bare message (kubectl prints `Error from server: <message>`).
    #[error("{0}")]
    Unmergeable(String),
}

impl PatchError {
    /// The HTTP status the upstream API server answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::UnsupportedKind { .. } => 415,
            Self::Invalid(_) => 400,
            Self::Unprocessable(_) => 422,
            Self::Unmergeable(_) => 500,
        }
    }
}

/// How a field is patched: upstream's `patchStrategy` struct tag, less `retainKeys`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// No tag: objects merge key by key, lists are replaced.
    #[default]
    Default,
    /// `merge`: lists merge, item by item on the merge key, or as sets of scalars.
    Merge,
    /// `replace`: an object is replaced whole rather than merged.
    Replace,
}

/// Patch metadata of one field, from upstream's struct tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldMeta {
    /// The `patchStrategy` (other than `retainKeys`).
    pub strategy: Strategy,
    /// `patchStrategy` includes `retainKeys`: clients send `$retainKeys` for this field. Applying
    /// a patch honours `$retainKeys` wherever it appears, so only patch generation needs this.
    pub retain_keys: bool,
    /// The `patchMergeKey` of a merged list of objects.
    pub merge_key: Option<&'static str>,
}

/// Applies `patch` to `original` for an object of the given API group ("" for core) and kind.
///
/// Err(PatchError::UnsupportedKind) for kinds without built-in patch metadata (the server answers
/// 415 for custom resources, as upstream).
pub fn strategic_merge(
    group: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let ty = root_type(group, kind).ok_or_else(|| PatchError::UnsupportedKind {
        group: group.to_owned(),
        kind: kind.to_owned(),
    })?;
    apply(ty, original, patch)
}

/// Whether the kind is built in, so that strategic merge patches apply to it.
pub fn is_builtin(group: &str, kind: &str) -> bool {
    root_type(group, kind).is_some()
}

/// The patch metadata of the field at `path` (field names from the object's root; list items are
/// implied, so `["spec", "template", "spec", "containers", "ports"]`), or None for a kind that is
/// not built in. Fields without metadata get the default.
pub fn patch_meta(group: &str, kind: &str, path: &[&str]) -> Option<FieldMeta> {
    let mut ty = Some(root_type(group, kind)?);
    let mut meta = FieldMeta::default();
    for name in path {
        (ty, meta) = lookup(ty, name);
    }
    Some(meta)
}

fn apply(ty: Ty, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let original = match original {
        Value::Object(m) => m.clone(),
        // Upstream decodes a `null` document into an empty map.
        Value::Null => Object::new(),
        other => return Err(not_an_object(other)),
    };
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => return Ok(Value::Object(original)),
        other => return Err(not_an_object(other)),
    };
    check_depth(&patch)?;
    merge_map(original, patch, Some(ty)).map(Value::Object)
}

fn not_an_object(v: &Value) -> PatchError {
    let what = match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Null | Value::Object(_) => "object",
    };
    PatchError::Invalid(format!(
        "json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"
    ))
}

fn check_depth(patch: &Object) -> Result<(), PatchError> {
    let mut stack: Vec<(&Value, usize)> = patch.values().map(|v| (v, 1)).collect();
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(PatchError::Invalid(format!(
                "patch is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Upstream `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls` set, as the server uses.
fn merge_map(
    mut original: Object,
    mut patch: Object,
    ty: Option<Ty>,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE_DIRECTIVE) => {
                patch.remove(DIRECTIVE_MARKER);
                Ok(strip_map(patch))
            }
            Some(DELETE_DIRECTIVE) => Ok(Object::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_ordered_lists(&mut original, &mut patch, ty)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            let field = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX, ERR_PRIMITIVE_LIST)?;
            (field.to_owned(), true)
        } else {
            (key, false)
        };
        // Upstream also deletes the list itself for `$deleteFromPrimitiveList/<field>: null`.
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list && let Some(v) = adopt(patch_value) {
                original.insert(key, v);
            }
            continue;
        };
        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (child, meta) = lookup(ty, &key);
                if meta.strategy == Strategy::Replace {
                    Some(Value::Object(strip_map(p)))
                } else {
                    Some(Value::Object(merge_map(o, p, child)?))
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (child, meta) = lookup(ty, &key);
                Some(Value::Array(merge_list_field(
                    o,
                    p,
                    child,
                    meta,
                    is_delete_list,
                )?))
            }
            (o, p) if is_delete_list && go_type(&o) != go_type(&p) => Some(o),
            (_, p) => adopt(p),
        };
        if let Some(v) = merged {
            original.insert(key, v);
        }
    }
    Ok(original)
}

/// Upstream `applyRetainKeysDirective`: every key the patch sets must be listed, and the keys of
/// the original that are not listed go.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::Invalid(ERR_RETAIN_KEYS.to_owned()));
    };
    let keep = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !keep(k) {
            return Err(PatchError::Invalid(ERR_RETAIN_KEYS.to_owned()));
        }
    }
    original.retain(|k, _| keep(k));
    Ok(())
}

/// Upstream `mergePatchIntoOriginal`: each `$setElementOrder/<field>` merges its list here, before
/// the other keys, then puts the items in order. The order list comes first, then the order of the
/// patch list, then that of the live list, for items the order list does not name.
fn merge_ordered_lists(
    original: &mut Object,
    patch: &mut Object,
    ty: Option<Ty>,
) -> Result<(), PatchError> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for order_key in order_keys {
        let Some(order) = patch.remove(&order_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(GO_SLICE, &order));
        };
        let field = extract_key(&order_key, SET_ELEMENT_ORDER_PREFIX, ERR_SET_ELEMENT_ORDER)?;
        let field = field.to_owned();
        let original_list = take_list(original, &field)?;
        let patch_list = take_list(patch, &field)?;
        let (child, meta) = lookup(ty, &field);
        let key = meta.merge_key.unwrap_or("");
        validate_order(patch_list.as_deref().unwrap_or_default(), &order, key)?;
        let kind = element_type(&[
            original_list.as_deref().unwrap_or_default(),
            patch_list.as_deref().unwrap_or_default(),
        ]);

        let (merged, server_order) = match (original_list, patch_list) {
            (None, None) => continue,
            (Some(o), None) => (o.clone(), o),
            (None, Some(p)) => (adopt_list(p), Vec::new()),
            (Some(o), Some(p)) => {
                let server_order = if meta.strategy == Strategy::Merge && matches!(kind, Ok(GO_MAP))
                {
                    go_server_order(&o, &p, key)
                } else {
                    o.clone()
                };
                (merge_list_field(o, p, child, meta, false)?, server_order)
            }
        };
        let (items, server_only) = partition(merged, &order, key)?;
        let kind = kind?;
        let normalized =
            normalize_element_order(items, server_only, &order, &server_order, key, kind)?;
        original.insert(field, Value::Array(normalized));
    }
    Ok(())
}

/// The live list as upstream's ordering step sees it after merging a list of objects into it.
///
/// Upstream merges in place: `$patch: delete` items shift the tail of the live slice left, and
/// the first new items are then appended into the slots that freed, which the ordering step reads
/// through its own view of that slice. New items thus count as live items at the positions they
/// were written to; this reproduces that.
fn go_server_order(original: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let mut window = original.to_vec();
    let mut live = original.to_vec();
    let mut replace = false;
    for item in patch {
        match item.get(DIRECTIVE_MARKER).map(Value::as_str) {
            Some(Some(DELETE_DIRECTIVE)) => {
                let Some(value) = item.get(key) else { continue };
                while let Some(i) = live.iter().position(|o| o.get(key) == Some(value)) {
                    // `append(s[:i], s[i+1:]...)` leaves the old last slot as it was.
                    for j in i..live.len() - 1 {
                        window[j] = window[j + 1].clone();
                    }
                    live.remove(i);
                }
            }
            Some(Some(REPLACE_DIRECTIVE)) => replace = true,
            _ => {}
        }
    }
    if replace {
        return window;
    }
    for item in patch {
        if item.get(DIRECTIVE_MARKER).is_some() {
            continue;
        }
        let Some(value) = item.get(key) else { continue };
        if !live.iter().any(|o| o.get(key) == Some(value)) {
            if let Some(slot) = window.get_mut(live.len()) {
                *slot = item.clone();
            }
            live.push(item.clone());
        }
    }
    window
}

fn take_list(map: &mut Object, key: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(bad_arg_type(GO_SLICE, &other)),
    }
}

/// Upstream `extractKey`: `<prefix>/<field>` to `<field>`.
fn extract_key<'a>(s: &'a str, prefix: &str, err: &str) -> Result<&'a str, PatchError> {
    match s.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field),
        _ => Err(PatchError::Invalid(err.to_owned())),
    }
}

/// Upstream `validatePatchWithSetOrderList`: the patch items (deletions aside) must appear in the
/// order list, in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], key: &str) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(patch.len());
    for item in patch {
        if key.is_empty() || !is_delete_item(item)? {
            kept.push(item);
        }
    }
    let (mut p, mut s) = (0, 0);
    while p < kept.len() && s < order.len() {
        if kept[p].get(DIRECTIVE_MARKER).is_some() {
            p += 1;
            continue;
        }
        if merge_key_value_equal(kept[p], &order[s], key)? {
            p += 1;
        }
        s += 1;
    }
    if p < kept.len() && s >= order.len() {
        return Err(PatchError::Unmergeable(format!(
            "the order in patch list {} doesn't match {SET_ELEMENT_ORDER_PREFIX} list {}",
            go_fmt_list(patch),
            go_fmt_list(order)
        )));
    }
    Ok(())
}

fn is_delete_item(item: &Value) -> Result<bool, PatchError> {
    let m = item.as_object().ok_or_else(|| bad_arg_type(GO_MAP, item))?;
    Ok(m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE))
}

fn merge_key_value_equal(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let l = left.as_object().ok_or_else(|| bad_arg_type(GO_MAP, left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type(GO_MAP, right))?;
    let lv = l.get(key).ok_or_else(|| no_merge_key(l, key))?;
    let rv = r.get(key).ok_or_else(|| no_merge_key(r, key))?;
    Ok(lv == rv)
}

/// Upstream `mergeSliceHandler`: only `merge` lists (and deletion lists) merge.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    ty: Option<Ty>,
    meta: FieldMeta,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if meta.strategy == Strategy::Merge || is_delete_list {
        merge_list(
            original,
            patch,
            ty,
            meta.merge_key.unwrap_or(""),
            is_delete_list,
        )
    } else {
        Ok(strip_list(patch))
    }
}

/// Upstream `mergeSlice`.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    ty: Option<Ty>,
    key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GO_MAP {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        if key.is_empty() {
            return Err(PatchError::Unmergeable(
                "cannot merge lists without merge key for struct".to_owned(),
            ));
        }
        let (original, patch) = apply_list_directives(original, patch, key)?;
        let merged = merge_items(original.clone(), patch.clone(), key, ty)?;
        (original, patch, merged)
    };
    let (items, server_only) = partition(merged, &patch, key)?;
    normalize_element_order(items, server_only, &patch, &original, key, kind)
}

/// Upstream `mergeSliceWithSpecialElements`: applies `$patch: delete` items to the original and
/// `$patch: replace` to the whole list; returns the original and the remaining patch items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some((m, directive)) = item
            .as_object()
            .and_then(|m| m.get(DIRECTIVE_MARKER).map(|d| (m, d)))
        else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                original.retain(|o| o.get(key) != Some(value));
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err(PatchError::Unmergeable(
                    "merging lists cannot yet be specified in the patch".to_owned(),
                ));
            }
            _ => return Err(bad_patch_type(directive, m)),
        }
    }
    if replace {
        Ok((strip_list(rest), Vec::new()))
    } else {
        Ok((original, rest))
    }
}

/// Upstream `mergeSliceWithoutSpecialElements`: a patch item merges into the first original item
/// with its merge key, or is appended.
fn merge_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    ty: Option<Ty>,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        let Value::Object(p) = item else {
            return Err(bad_arg_type(GO_MAP, &item));
        };
        let value = p.get(key).ok_or_else(|| no_merge_key(&p, key))?;
        match find_in(&original, key, value)? {
            Some(i) => {
                if let Value::Object(o) = &mut original[i] {
                    let o = std::mem::take(o);
                    original[i] = Value::Object(merge_map(o, p, ty)?);
                }
            }
            None => original.push(Value::Object(strip_map(p))),
        }
    }
    Ok(original)
}

/// Upstream `findMapInSliceBasedOnKeyValue`.
fn find_in(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, PatchError> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(PatchError::Unmergeable(format!(
                "value for key {i} is not a map"
            )));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits merged items into those the `by` list names and the rest (upstream
/// `partitionMapsByPresentInList` / `partitionPrimitivesByPresentInList`).
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let (mut named, mut rest) = (Vec::new(), Vec::new());
    for item in merged {
        let found = if key.is_empty() {
            by.contains(&item)
        } else {
            let m = item
                .as_object()
                .ok_or_else(|| bad_arg_type(GO_MAP, &item))?;
            let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
            find_in(by, key, value)?.is_some()
        };
        if found {
            named.push(item);
        } else {
            rest.push(item);
        }
    }
    Ok((named, rest))
}

/// Upstream `normalizeElementOrder`: sorts the patch items by the patch order and the server-only
/// items by the live order, then interleaves them.
fn normalize_element_order(
    items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    kind: &str,
) -> Result<Vec<Value>, PatchError> {
    let items = sort_by_order(items, patch_order, key, kind)?;
    let server_only = sort_by_order(server_only, server_order, key, kind)?;
    Ok(merge_sorted(server_only, items, server_order, key, kind))
}

/// Upstream `normalizeSliceOrder`: a stable sort by position in `order`, deletions last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    key: &str,
    kind: &str,
) -> Result<Vec<Value>, PatchError> {
    let mut deletions = Vec::new();
    let mut keyed = Vec::with_capacity(items.len());
    if kind == GO_MAP {
        for item in items.iter().chain(order) {
            let m = item.as_object().ok_or_else(|| bad_arg_type(GO_MAP, item))?;
            if !m.contains_key(key) {
                return Err(no_merge_key(m, key));
            }
        }
    }
    for item in items {
        if kind == GO_MAP && is_delete_item(&item)? {
            deletions.push(item);
        } else {
            // Items missing from `order` only occur in patches upstream would order arbitrarily.
            keyed.push((
                position(order, &item, key, kind).unwrap_or(usize::MAX),
                item,
            ));
        }
    }
    keyed.sort_by_key(|(i, _)| *i);
    let mut sorted: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    sorted.extend(deletions);
    Ok(sorted)
}

/// Upstream `index`: position by merge key for objects, by value for scalars.
fn position(list: &[Value], item: &Value, key: &str, kind: &str) -> Option<usize> {
    if kind == GO_MAP {
        let want = item.as_object().and_then(|m| m.get(key));
        list.iter()
            .position(|v| v.as_object().and_then(|m| m.get(key)) == want)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// Upstream `mergeSortedSlice`: keeps the relative order within each list; a server-only item goes
/// before the next patch item when both are live and it was ahead of it in the live list.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
    kind: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let left_first = matches!(
            (position(server_order, l, key, kind), position(server_order, r, key, kind)),
            (Some(li), Some(ri)) if li < ri
        );
        let next = if left_first {
            left.next()
        } else {
            right.next()
        };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    out
}

/// Upstream `sliceElementType`: the (Go) type shared by every item of the lists.
fn element_type(lists: &[&[Value]]) -> Result<&'static str, PatchError> {
    let mut first = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let t = go_type(item);
        match first {
            None if t == GO_SLICE => {
                return Err(PatchError::Unprocessable(
                    "lists of lists are not supported".to_owned(),
                ));
            }
            None => first = Some(t),
            Some(f) if f != t => {
                let lists: Vec<String> = lists.iter().map(|l| go_fmt_list(l)).collect();
                return Err(PatchError::Unmergeable(format!(
                    "list element types are not identical: [{}]",
                    lists.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    first
        .ok_or_else(|| PatchError::Unmergeable("no elements in any of the given slices".to_owned()))
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS_DIRECTIVE
        || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// A value the patch adds where the original has nothing to merge with. Upstream drops its `null`
/// members and every object holding `$patch` (`discardNullValuesFromPatch`, `removeDirectives`);
/// the typed decode then drops the other directive keys.
fn adopt(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(DIRECTIVE_MARKER) => None,
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
                .filter_map(|(k, v)| adopt(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(adopt_list(a))),
        other => Some(other),
    }
}

fn adopt_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().filter_map(adopt).collect()
}

/// A value upstream takes verbatim from the patch (a replaced list or object, a new list item):
/// the typed decode drops its directive keys and `null` members.
fn strip(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_map(m)),
        Value::Array(a) => Value::Array(strip_list(a)),
        other => other,
    }
}

fn strip_map(m: Object) -> Object {
    m.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .map(|(k, v)| (k, strip(v)))
        .collect()
}

fn strip_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().map(strip).collect()
}

/// The Go type a JSON value decodes to upstream (integers stay `int64`).
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => GO_SLICE,
        Value::Object(_) => GO_MAP,
    }
}

/// Go's `%v` of a decoded JSON value, as upstream error messages print them.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) => go_fmt_list(a),
        Value::Object(m) => go_fmt_map(m),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
    }
}

fn go_fmt_list(list: &[Value]) -> String {
    let items: Vec<String> = list.iter().map(go_fmt).collect();
    format!("[{}]", items.join(" "))
}

fn go_fmt_map(m: &Object) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
        .collect();
    format!("map[{}]", items.join(" "))
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Unmergeable(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

fn no_merge_key(m: &Object, key: &str) -> PatchError {
    PatchError::Unmergeable(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt_map(m)
    ))
}

fn bad_patch_type(directive: &Value, m: &Object) -> PatchError {
    PatchError::Unmergeable(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(directive),
        go_fmt_map(m)
    ))
}

// The metadata table. Each `Ty` is an upstream Go type (or a family of types that patch alike);
// it lists the fields that carry patch tags and those that lead to types that do. Other fields
// patch by default: objects merge, lists are replaced.

/// Upstream Go types with patch tags, or on the way to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    ObjectMeta,
    /// Any type whose only such field is `metadata`.
    Object,
    /// An object whose status `conditions` merge by `type`.
    ObjectWithConditions,
    /// A status whose `conditions` merge by `type`.
    ConditionsStatus,
    PodTemplateSpec,
    PodSpec,
    /// `Container` and `EphemeralContainer`.
    Container,
    Volume,
    EphemeralVolumeSource,
    PodStatus,
    Pod,
    PodTemplate,
    /// ReplicationController, ReplicaSet, StatefulSet, DaemonSet, Job: a pod template in the spec,
    /// conditions in the status.
    Workload,
    WorkloadSpec,
    Deployment,
    DeploymentSpec,
    CronJob,
    CronJobSpec,
    JobTemplateSpec,
    Service,
    ServiceSpec,
    Node,
    NodeSpec,
    NodeStatus,
    ServiceAccount,
    ComponentStatus,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    /// ValidatingWebhookConfiguration and MutatingWebhookConfiguration.
    WebhookConfiguration,
    Webhook,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicySpec,
    CsiNode,
    CsiNodeSpec,
    ResourceClaim,
    ResourceClaimStatus,
    /// Upstream's test type `MergeItem` (patch_test.go), to run upstream's cases.
    #[cfg(test)]
    MergeItem,
    #[cfg(test)]
    RetainKeysMergeItem,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    meta: FieldMeta,
    ty: Option<Ty>,
}

const NO_META: FieldMeta = FieldMeta {
    strategy: Strategy::Default,
    retain_keys: false,
    merge_key: None,
};

/// A field without tags that leads to a type with some.
const fn nested(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        meta: NO_META,
        ty: Some(ty),
    }
}

/// `patchStrategy:"merge" patchMergeKey:"<key>"`.
const fn merge_by(name: &'static str, key: &'static str, ty: Option<Ty>) -> Field {
    let meta = FieldMeta {
        strategy: Strategy::Merge,
        retain_keys: false,
        merge_key: Some(key),
    };
    Field { name, meta, ty }
}

/// `patchStrategy:"merge"` on a list of scalars.
const fn merge_set(name: &'static str) -> Field {
    let meta = FieldMeta {
        strategy: Strategy::Merge,
        retain_keys: false,
        merge_key: None,
    };
    Field {
        name,
        meta,
        ty: None,
    }
}

/// `patchStrategy:"replace"`.
const fn replaced(name: &'static str) -> Field {
    let meta = FieldMeta {
        strategy: Strategy::Replace,
        retain_keys: false,
        merge_key: None,
    };
    Field {
        name,
        meta,
        ty: None,
    }
}

/// Adds `retainKeys` to a field's strategy.
const fn retain_keys(mut field: Field) -> Field {
    field.meta.retain_keys = true;
    field
}

const CONDITIONS: Field = merge_by("conditions", "type", None);
const METADATA: Field = nested("metadata", Ty::ObjectMeta);
const STATUS_CONDITIONS: Field = nested("status", Ty::ConditionsStatus);

fn fields(ty: Ty) -> &'static [Field] {
    match ty {
        Ty::ObjectMeta => {
            const {
                &[
                    merge_by("ownerReferences", "uid", None),
                    merge_set("finalizers"),
                ]
            }
        }
        Ty::Object => const { &[METADATA] },
        Ty::ObjectWithConditions => const { &[METADATA, STATUS_CONDITIONS] },
        Ty::ConditionsStatus => const { &[CONDITIONS] },
        Ty::PodTemplateSpec => const { &[METADATA, nested("spec", Ty::PodSpec)] },
        Ty::PodSpec => {
            const {
                &[
                    retain_keys(merge_by("volumes", "name", Some(Ty::Volume))),
                    merge_by("initContainers", "name", Some(Ty::Container)),
                    merge_by("containers", "name", Some(Ty::Container)),
                    merge_by("ephemeralContainers", "name", Some(Ty::Container)),
                    merge_by("imagePullSecrets", "name", None),
                    merge_by("hostAliases", "ip", None),
                    merge_by("topologySpreadConstraints", "topologyKey", None),
                    merge_by("schedulingGates", "name", None),
                    retain_keys(merge_by("resourceClaims", "name", None)),
                ]
            }
        }
        Ty::Container => {
            const {
                &[
                    merge_by("ports", "containerPort", None),
                    merge_by("env", "name", None),
                    merge_by("volumeMounts", "mountPath", None),
                    merge_by("volumeDevices", "devicePath", None),
                ]
            }
        }
        Ty::Volume => const { &[nested("ephemeral", Ty::EphemeralVolumeSource)] },
        Ty::EphemeralVolumeSource => const { &[nested("volumeClaimTemplate", Ty::Object)] },
        Ty::PodStatus => {
            const {
                &[
                    CONDITIONS,
                    merge_by("hostIPs", "ip", None),
                    merge_by("podIPs", "ip", None),
                    retain_keys(merge_by("resourceClaimStatuses", "name", None)),
                ]
            }
        }
        Ty::Pod => {
            const {
                &[
                    METADATA,
                    nested("spec", Ty::PodSpec),
                    nested("status", Ty::PodStatus),
                ]
            }
        }
        Ty::PodTemplate => const { &[METADATA, nested("template", Ty::PodTemplateSpec)] },
        Ty::Workload => {
            const {
                &[
                    METADATA,
                    nested("spec", Ty::WorkloadSpec),
                    STATUS_CONDITIONS,
                ]
            }
        }
        Ty::WorkloadSpec => const { &[nested("template", Ty::PodTemplateSpec)] },
        Ty::Deployment => {
            const {
                &[
                    METADATA,
                    nested("spec", Ty::DeploymentSpec),
                    STATUS_CONDITIONS,
                ]
            }
        }
        Ty::DeploymentSpec => {
            const {
                &[
                    nested("template", Ty::PodTemplateSpec),
                    retain_keys(Field {
                        name: "strategy",
                        meta: NO_META,
                        ty: None,
                    }),
                ]
            }
        }
        Ty::CronJob => const { &[METADATA, nested("spec", Ty::CronJobSpec)] },
        Ty::CronJobSpec => const { &[nested("jobTemplate", Ty::JobTemplateSpec)] },
        Ty::JobTemplateSpec => const { &[METADATA, nested("spec", Ty::WorkloadSpec)] },
        Ty::Service => const { &[METADATA, nested("spec", Ty::ServiceSpec), STATUS_CONDITIONS] },
        Ty::ServiceSpec => const { &[merge_by("ports", "port", None)] },
        Ty::Node => {
            const {
                &[
                    METADATA,
                    nested("spec", Ty::NodeSpec),
                    nested("status", Ty::NodeStatus),
                ]
            }
        }
        Ty::NodeSpec => const { &[merge_set("podCIDRs")] },
        Ty::NodeStatus => const { &[CONDITIONS, merge_by("addresses", "type", None)] },
        Ty::ServiceAccount => const { &[METADATA, merge_by("secrets", "name", None)] },
        Ty::ComponentStatus => const { &[METADATA, CONDITIONS] },
        Ty::PodDisruptionBudget => {
            const {
                &[
                    METADATA,
                    nested("spec", Ty::PodDisruptionBudgetSpec),
                    STATUS_CONDITIONS,
                ]
            }
        }
        Ty::PodDisruptionBudgetSpec => const { &[replaced("selector")] },
        Ty::WebhookConfiguration => {
            const { &[METADATA, merge_by("webhooks", "name", Some(Ty::Webhook))] }
        }
        Ty::Webhook => const { &[merge_by("matchConditions", "name", None)] },
        Ty::ValidatingAdmissionPolicy => {
            const { &[METADATA, nested("spec", Ty::ValidatingAdmissionPolicySpec)] }
        }
        Ty::ValidatingAdmissionPolicySpec => {
            const {
                &[
                    merge_by("matchConditions", "name", None),
                    merge_by("variables", "name", None),
                ]
            }
        }
        Ty::CsiNode => const { &[METADATA, nested("spec", Ty::CsiNodeSpec)] },
        Ty::CsiNodeSpec => const { &[merge_by("drivers", "name", None)] },
        Ty::ResourceClaim => const { &[METADATA, nested("status", Ty::ResourceClaimStatus)] },
        Ty::ResourceClaimStatus => const { &[merge_by("reservedFor", "uid", None)] },
        #[cfg(test)]
        Ty::MergeItem => {
            const {
                &[
                    merge_by("mergingList", "name", Some(Ty::MergeItem)),
                    nested("nonMergingList", Ty::MergeItem),
                    merge_set("mergingIntList"),
                    merge_by("mergeItemPtr", "name", Some(Ty::MergeItem)),
                    replaced("replacingItem"),
                    retain_keys(nested("retainKeysMap", Ty::RetainKeysMergeItem)),
                    retain_keys(merge_by(
                        "retainKeysMergingList",
                        "name",
                        Some(Ty::MergeItem),
                    )),
                ]
            }
        }
        #[cfg(test)]
        Ty::RetainKeysMergeItem => {
            const {
                &[
                    merge_set("mergingIntList"),
                    merge_by("mergingList", "name", Some(Ty::MergeItem)),
                    nested("nonMergingList", Ty::MergeItem),
                ]
            }
        }
    }
}

fn lookup(ty: Option<Ty>, name: &str) -> (Option<Ty>, FieldMeta) {
    ty.and_then(|t| fields(t).iter().find(|f| f.name == name))
        .map_or((None, NO_META), |f| (f.ty, f.meta))
}

/// The built-in kinds (of the versions the server prefers) and the types they patch as.
fn root_type(group: &str, kind: &str) -> Option<Ty> {
    let ty = match (group, kind) {
        ("", "Pod") => Ty::Pod,
        ("", "PodTemplate") => Ty::PodTemplate,
        ("", "ReplicationController") => Ty::Workload,
        ("", "Service") => Ty::Service,
        ("", "Node") => Ty::Node,
        ("", "Namespace" | "PersistentVolumeClaim") => Ty::ObjectWithConditions,
        ("", "ServiceAccount") => Ty::ServiceAccount,
        ("", "ComponentStatus") => Ty::ComponentStatus,
        (
            "",
            "ConfigMap" | "Secret" | "Endpoints" | "Event" | "PersistentVolume" | "LimitRange"
            | "ResourceQuota" | "Binding",
        ) => Ty::Object,
        ("apps", "Deployment") => Ty::Deployment,
        ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => Ty::Workload,
        ("apps", "ControllerRevision") => Ty::Object,
        ("batch", "Job") => Ty::Workload,
        ("batch", "CronJob") => Ty::CronJob,
        ("autoscaling", "HorizontalPodAutoscaler") => Ty::ObjectWithConditions,
        ("policy", "PodDisruptionBudget") => Ty::PodDisruptionBudget,
        ("networking.k8s.io", "Ingress" | "IngressClass" | "NetworkPolicy" | "IPAddress") => {
            Ty::Object
        }
        ("networking.k8s.io", "ServiceCIDR") => Ty::ObjectWithConditions,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => Ty::Object,
        ("coordination.k8s.io", "Lease") => Ty::Object,
        ("storage.k8s.io", "CSINode") => Ty::CsiNode,
        (
            "storage.k8s.io",
            "StorageClass"
            | "CSIDriver"
            | "VolumeAttachment"
            | "CSIStorageCapacity"
            | "VolumeAttributesClass",
        ) => Ty::Object,
        ("scheduling.k8s.io", "PriorityClass") => Ty::Object,
        ("discovery.k8s.io", "EndpointSlice") => Ty::Object,
        ("events.k8s.io", "Event") => Ty::Object,
        ("node.k8s.io", "RuntimeClass") => Ty::Object,
        ("certificates.k8s.io", "CertificateSigningRequest") => Ty::Object,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => Ty::WebhookConfiguration,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            Ty::ValidatingAdmissionPolicy
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => Ty::Object,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Ty::Object,
        ("apiregistration.k8s.io", "APIService") => Ty::ObjectWithConditions,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => {
            Ty::ObjectWithConditions
        }
        ("resource.k8s.io", "ResourceClaim") => Ty::ResourceClaim,
        ("resource.k8s.io", "ResourceClaimTemplate" | "DeviceClass" | "ResourceSlice") => {
            Ty::Object
        }
        _ => return None,
    };
    Some(ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(group: &str, kind: &str, original: &Value, patch: Value) -> Value {
        strategic_merge(group, kind, original, &patch).unwrap()
    }

    fn smp_err(group: &str, kind: &str, original: &Value, patch: Value) -> PatchError {
        strategic_merge(group, kind, original, &patch).unwrap_err()
    }

    fn set(doc: &mut Value, pointer: &str, v: Value) {
        *doc.pointer_mut(pointer).unwrap() = v;
    }

    fn remove(doc: &mut Value, pointer: &str, key: &str) {
        doc.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key)
            .unwrap();
    }

    /// A live Deployment as the server returns it: defaulted, with status.
    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "my-api",
                "namespace": "default",
                "uid": "7c1b8f1e-0d7a-4a53-9f55-2b8e3f4c9a10",
                "resourceVersion": "1042",
                "generation": 1,
                "labels": {"app": "my-api", "tier": "web"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}\n"
                }
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "my-api"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": {"app": "my-api"}},
                    "spec": {
                        "containers": [{
                            "name": "api",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {},
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst",
                        "securityContext": {},
                        "schedulerName": "default-scheduler"
                    }
                }
            },
            "status": {
                "observedGeneration": 1,
                "replicas": 2,
                "readyReplicas": 2,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
                ]
            }
        })
    }

    #[test]
    fn kubectl_apply_image_and_replicas() {
        // kubectl-wire.md §7.1, the captured client-side apply.
        let live = deployment();
        let patch = json!({
            "metadata": {"annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}\n"
            }},
            "spec": {"replicas": 3, "template": {"spec": {
                "$setElementOrder/containers": [{"name": "api"}],
                "containers": [{"image": "nginx:1.26", "name": "api"}]
            }}}
        });
        let mut want = live.clone();
        set(
            &mut want,
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
            json!("{\"new\":true}\n"),
        );
        set(&mut want, "/spec/replicas", json!(3));
        set(
            &mut want,
            "/spec/template/spec/containers/0/image",
            json!("nginx:1.26"),
        );
        assert_eq!(smp("apps", "Deployment", &live, patch), want);
    }

    #[test]
    fn kubectl_apply_full_body() {
        // kubectl-wire.md §7.1: labels removed, strategy switched to Recreate, a port replaced, env
        // removed, a sidecar added.
        let live = deployment();
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
                         "labels": null},
            "spec": {
                "replicas": 3,
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "api"}, {"name": "sidecar"}],
                    "containers": [
                        {"$setElementOrder/ports": [{"containerPort": 8080}], "env": null,
                         "image": "nginx:1.27", "name": "api",
                         "ports": [{"containerPort": 8080}, {"$patch": "delete", "containerPort": 80}]},
                        {"args": ["sleep", "1d"], "image": "busybox", "name": "sidecar"}
                    ]
                }}
            }
        });
        let mut want = live.clone();
        set(
            &mut want,
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
            json!("{}\n"),
        );
        remove(&mut want, "/metadata", "labels");
        set(&mut want, "/spec/replicas", json!(3));
        set(&mut want, "/spec/strategy", json!({"type": "Recreate"}));
        let api = "/spec/template/spec/containers/0";
        set(&mut want, &format!("{api}/image"), json!("nginx:1.27"));
        set(
            &mut want,
            &format!("{api}/ports"),
            json!([{"containerPort": 8080}]),
        );
        remove(&mut want, api, "env");
        want.pointer_mut("/spec/template/spec/containers")
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(json!({"args": ["sleep", "1d"], "image": "busybox", "name": "sidecar"}));
        assert_eq!(smp("apps", "Deployment", &live, patch), want);
    }

    #[test]
    fn kubectl_apply_reorders_and_drops_ports() {
        // kubectl-wire.md §7.1, the second captured body.
        let mut live = deployment();
        live.pointer_mut("/spec/template/spec/containers")
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "busybox", "args": ["sleep", "1d"]}));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "api"}],
            "containers": [{"name": "api", "ports": null}]
        }}}});
        let got = smp("apps", "Deployment", &live, patch);
        let containers = got.pointer("/spec/template/spec/containers").unwrap();
        assert_eq!(containers[0]["name"], "sidecar");
        assert_eq!(containers[1]["name"], "api");
        assert_eq!(containers[1].get("ports"), None);
        assert_eq!(containers[1]["image"], "nginx:1.25");
        assert_eq!(containers.as_array().unwrap().len(), 2);
    }

    #[test]
    fn container_port_delete_directive() {
        let live = deployment();
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "ports": [{"$patch": "delete", "containerPort": 80}]}
        ]}}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/template/spec/containers/0/ports"),
            Some(&json!([]))
        );
        // Deleting an item that is not there is not an error.
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "ports": [{"$patch": "delete", "containerPort": 9999}]}
        ]}}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/template/spec/containers/0/ports"),
            Some(&json!([{"containerPort": 80, "protocol": "TCP"}]))
        );
    }

    fn pod(containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": containers}})
    }

    fn names(v: &Value) -> Vec<&str> {
        v.pointer("/spec/containers")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn set_element_order_reorders() {
        let live = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"$setElementOrder/containers":
            [{"name": "c"}, {"name": "b"}, {"name": "a"}]}});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["c", "b", "a"]);
    }

    #[test]
    fn set_element_order_keeps_server_only_items() {
        // `b` is not in the order list: it stays, ahead of `c` as in the live list.
        let live = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch =
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["b", "c", "a"]);

        // A new item goes where the order list puts it.
        let live = pod(json!([{"name": "a"}, {"name": "b"}]));
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "x"}, {"name": "a"}],
            "containers": [{"name": "x", "image": "i"}]
        }});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["x", "a", "b"]);
    }

    #[test]
    fn set_element_order_after_delete_and_add() {
        // Upstream merges the list in place, so the added item takes the deleted one's slot in
        // the live order it sorts by: the server-only `c` ends up ahead of `d`.
        let live = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "d"}, {"name": "a"}],
            "containers": [{"name": "d"}, {"$patch": "delete", "name": "b"}]
        }});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["c", "d", "a"]);
    }

    #[test]
    fn set_element_order_mismatch_is_an_error() {
        let live = pod(json!([{"name": "a"}, {"name": "b"}]));
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}, {"name": "a"}]
        }});
        let err = smp_err("", "Pod", &live, patch);
        assert!(
            err.to_string()
                .contains("doesn't match $setElementOrder list"),
            "{err}"
        );
        assert_eq!(err.status_code(), 500);
    }

    #[test]
    fn merge_list_order_without_directive() {
        // Patch items keep the patch's order; live items not in the patch keep their place. A new
        // item goes ahead of the live items unless it follows one the patch names: upstream
        // prepends (kubectl patch adds a container at the front).
        let live = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"containers": [{"name": "d"}]}});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["d", "a", "b", "c"]);
        let patch = json!({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "d"}]}});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["a", "b", "c", "d"]);
        let patch = json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}});
        assert_eq!(names(&smp("", "Pod", &live, patch)), ["b", "a", "c"]);
    }

    #[test]
    fn retain_keys_drops_rolling_update() {
        let live = deployment();
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/strategy"),
            Some(&json!({"type": "Recreate"}))
        );
        // Without the directive the map merges and rollingUpdate stays.
        let patch = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            Some(&json!("25%"))
        );
    }

    #[test]
    fn retain_keys_must_list_every_patched_key() {
        let live = deployment();
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"],
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let err = smp_err("apps", "Deployment", &live, patch);
        assert_eq!(err.to_string(), "invalid patch format of retainKeys");
        assert_eq!(err.status_code(), 400);
        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        let err = smp_err("apps", "Deployment", &live, patch);
        assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    }

    #[test]
    fn null_deletes_keys() {
        let live = deployment();
        let patch = json!({
            "metadata": {"labels": {"tier": null, "absent": null}},
            "spec": {"revisionHistoryLimit": null, "nothing": null},
            "status": null
        });
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/metadata/labels"),
            Some(&json!({"app": "my-api"}))
        );
        assert_eq!(got.pointer("/spec/revisionHistoryLimit"), None);
        assert_eq!(got.pointer("/spec/nothing"), None);
        assert_eq!(got.get("status"), None);
    }

    #[test]
    fn new_subtrees_lose_nulls_and_directives() {
        let mut live = deployment();
        remove(&mut live, "/spec", "strategy");
        let patch = json!({"spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null},
            "template": {"spec": {"containers": [{
                "name": "new", "image": "busybox", "env": null,
                "$setElementOrder/ports": [{"containerPort": 1}], "ports": [{"containerPort": 1}]
            }]}}
        }});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/strategy"),
            Some(&json!({"type": "Recreate"}))
        );
        assert_eq!(
            got.pointer("/spec/template/spec/containers/0"),
            Some(&json!({"name": "new", "image": "busybox", "ports": [{"containerPort": 1}]}))
        );
    }

    fn config_map(meta: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}})
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let live = config_map(json!({"name": "c", "finalizers": ["a", "b"]}));
        let got = smp(
            "",
            "ConfigMap",
            &live,
            json!({"metadata": {"finalizers": ["c", "a"]}}),
        );
        assert_eq!(
            got.pointer("/metadata/finalizers"),
            Some(&json!(["c", "a", "b"]))
        );
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}});
        let got = smp("", "ConfigMap", &live, patch);
        assert_eq!(got.pointer("/metadata/finalizers"), Some(&json!(["a"])));
        // A deletion list never creates the list.
        let live = config_map(json!({"name": "c"}));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}});
        assert_eq!(smp("", "ConfigMap", &live, patch), live);
        // Maps merge key by key; data is a plain map.
        let got = smp("", "ConfigMap", &live, json!({"data": {"k2": "v2"}}));
        assert_eq!(got["data"], json!({"k": "v", "k2": "v2"}));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let live = config_map(json!({"name": "c", "ownerReferences": [
            {"uid": "1", "kind": "A", "name": "a"}, {"uid": "2", "kind": "B", "name": "b"}
        ]}));
        let patch = json!({"metadata": {"ownerReferences": [
            {"uid": "2", "controller": true}, {"$patch": "delete", "uid": "1"}
        ]}});
        let got = smp("", "ConfigMap", &live, patch);
        assert_eq!(
            got.pointer("/metadata/ownerReferences"),
            Some(&json!([{"uid": "2", "kind": "B", "name": "b", "controller": true}]))
        );
    }

    #[test]
    fn replace_directives() {
        let live = deployment();
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/metadata/labels"),
            Some(&json!({"only": "this"}))
        );

        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "solo", "image": "busybox"}, {"$patch": "replace"}
        ]}}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "solo", "image": "busybox"}]))
        );

        // `$patch: delete` on a map empties it.
        let patch = json!({"spec": {"selector": {"$patch": "delete"}}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(got.pointer("/spec/selector"), Some(&json!({})));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}
        ]}});
        let patch = json!({"spec": {"ports": [
            {"port": 443, "targetPort": 9443}, {"name": "metrics", "port": 9090}
        ]}});
        let got = smp("", "Service", &live, patch);
        assert_eq!(
            got.pointer("/spec/ports"),
            Some(&json!([
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 9443},
                {"name": "metrics", "port": 9090}
            ]))
        );
        assert_eq!(got.pointer("/spec/clusterIP"), Some(&json!("10.96.0.10")));
    }

    #[test]
    fn lists_without_merge_strategy_are_replaced() {
        let mut live = pod(json!([{"name": "a"}]));
        live["spec"]["tolerations"] = json!([{"key": "k1", "operator": "Exists"}]);
        let patch = json!({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}});
        let got = smp("", "Pod", &live, patch);
        assert_eq!(
            got.pointer("/spec/tolerations"),
            Some(&json!([{"key": "k2", "operator": "Exists"}]))
        );

        let live = json!({"kind": "Node", "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.1.1.1"},
                                     {"type": "Hostname", "address": "n"}]}});
        let patch = json!({
            "spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.1.1.2"}]}
        });
        let got = smp("", "Node", &live, patch);
        assert_eq!(
            got.pointer("/spec/taints"),
            Some(&json!([{"key": "b", "effect": "NoExecute"}]))
        );
        assert_eq!(
            got.pointer("/spec/podCIDRs"),
            Some(&json!(["fd00::/64", "10.0.0.0/24"]))
        );
        assert_eq!(
            got.pointer("/status/addresses"),
            Some(&json!([
                {"type": "InternalIP", "address": "10.1.1.2"}, {"type": "Hostname", "address": "n"}
            ]))
        );
    }

    #[test]
    fn status_conditions_merge_by_type() {
        let live = deployment();
        let patch = json!({"status": {"conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
            {"type": "ReplicaFailure", "status": "True"}
        ]}});
        let got = smp("apps", "Deployment", &live, patch);
        assert_eq!(
            got.pointer("/status/conditions"),
            Some(&json!([
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
                {"type": "ReplicaFailure", "status": "True"}
            ]))
        );
    }

    #[test]
    fn pdb_selector_is_replaced() {
        let live = json!({"kind": "PodDisruptionBudget", "metadata": {"name": "p"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "1"}}}});
        let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
        let got = smp("policy", "PodDisruptionBudget", &live, patch);
        assert_eq!(
            got.pointer("/spec/selector"),
            Some(&json!({"matchLabels": {"b": "2"}}))
        );
    }

    #[test]
    fn cron_job_template_containers_merge() {
        let live = json!({"kind": "CronJob", "metadata": {"name": "c"}, "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "job", "image": "busybox", "env": [{"name": "A", "value": "1"}]}
            ]}}}}
        }});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "env": [{"name": "B", "value": "2"}]}]
        }}}}}});
        let got = smp("batch", "CronJob", &live, patch);
        assert_eq!(
            got.pointer("/spec/jobTemplate/spec/template/spec/containers/0"),
            Some(&json!({"name": "job", "image": "busybox",
                         "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}))
        );
    }

    #[test]
    fn custom_resources_are_refused() {
        let err = smp_err("stable.example.com", "CronTab", &json!({}), json!({}));
        assert!(matches!(err, PatchError::UnsupportedKind { .. }));
        assert_eq!(err.status_code(), 415);
        assert!(err.to_string().contains("application/merge-patch+json"));
        assert!(is_builtin("apps", "Deployment"));
        assert!(is_builtin("", "ConfigMap"));
        assert!(is_builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition"
        ));
        assert!(!is_builtin("", "Deployment"));
        assert!(!is_builtin("stable.example.com", "CronTab"));
    }

    #[test]
    fn patch_meta_table() {
        let containers = ["spec", "template", "spec", "containers"];
        let meta = patch_meta("apps", "Deployment", &containers).unwrap();
        assert_eq!(meta.merge_key, Some("name"));
        assert_eq!(meta.strategy, Strategy::Merge);
        let ports = [&containers[..], &["ports"]].concat();
        let meta = patch_meta("apps", "Deployment", &ports).unwrap();
        assert_eq!(meta.merge_key, Some("containerPort"));
        let meta = patch_meta("apps", "Deployment", &["spec", "strategy"]).unwrap();
        assert!(meta.retain_keys);
        let meta = patch_meta("", "Pod", &["spec", "volumes"]).unwrap();
        assert!(meta.retain_keys);
        assert_eq!(meta.merge_key, Some("name"));
        assert_eq!(
            patch_meta("", "Pod", &["spec", "tolerations"]),
            Some(FieldMeta::default())
        );
        assert_eq!(patch_meta("x.io", "Thing", &[]), None);
    }

    #[test]
    fn malformed_patches_are_errors() {
        let live = deployment();
        let cases = [
            (
                json!({"spec": {"$patch": "bogus"}}),
                500,
                "unknown patch type: bogus in map: map[$patch:bogus]",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}),
                500,
                "merging lists cannot yet be specified in the patch",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
                500,
                "map: map[image:x] does not contain declared merge key: name",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": ["a"]}}}}),
                500,
                "list element types are not identical",
            ),
            (
                json!({"metadata": {"$setElementOrder": []}}),
                400,
                "invalid patch format of setElementOrder list",
            ),
            (
                json!({"metadata": {"$deleteFromPrimitiveListX/finalizers": []}}),
                400,
                "invalid patch format of primitive list",
            ),
            (
                json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
                500,
                "expected a []interface {}, but received a string",
            ),
            (
                json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                "containers": {"name": "a"}}}}}),
                500,
                "expected a []interface {}, but received a map[string]interface {}",
            ),
        ];
        for (patch, code, message) in cases {
            let err = smp_err("apps", "Deployment", &live, patch.clone());
            assert_eq!(err.status_code(), code, "{patch}: {err}");
            assert!(err.to_string().contains(message), "{patch}: {err}");
        }
        let err = smp_err("apps", "Deployment", &live, json!([1]));
        assert_eq!(err.status_code(), 400);
        assert_eq!(
            err.to_string(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        let live = config_map(json!({"name": "c", "finalizers": []}));
        let err = smp_err(
            "",
            "ConfigMap",
            &live,
            json!({"metadata": {"finalizers": [["a"]]}}),
        );
        assert_eq!(err.status_code(), 422);
        assert_eq!(err.to_string(), "lists of lists are not supported");
        // A `null` patch changes nothing.
        assert_eq!(smp("", "ConfigMap", &live, Value::Null), live);
    }

    #[test]
    fn nesting_is_bounded() {
        fn nested(depth: usize, leaf: &str) -> Value {
            let item = json!({"name": "x", "value": leaf});
            (0..depth).fold(item, |v, _| json!({"name": "x", "mergingList": [v]}))
        }
        // Two levels per step, each merged item by item against a live object as deep: the
        // deepest recursion a patch within the limit can cause.
        let live = nested(127, "a");
        let got = apply(Ty::MergeItem, &live, &nested(127, "b")).unwrap();
        assert_eq!(got, nested(127, "b"));
        let err = apply(Ty::MergeItem, &live, &nested(129, "b")).unwrap_err();
        assert_eq!(err.to_string(), "patch is nested deeper than 256 levels");
    }

    /// Cases from upstream's patch_test.go (v1.32), on its `MergeItem` test type: the two-way patch
    /// applied to the original, or the three-way patch applied to the current object.
    const UPSTREAM_CASES: &str = r#"[
[
    "delete items in lists of scalars/TwoWay",
    {"mergingIntList":[1,2,3]},
    {"$setElementOrder/mergingIntList":[1,2],"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"mergingIntList":[1,2]}
],
[
    "delete all duplicate items in lists of scalars/ThreeWay",
    {"mergingIntList":[1,2,3,3,4]},
    {"$setElementOrder/mergingIntList":[1,2],"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"mergingIntList":[1,2,4]}
],
[
    "add and delete items in lists of scalars/TwoWay",
    {"mergingIntList":[1,2,3]},
    {"$setElementOrder/mergingIntList":[1,2,4],"$deleteFromPrimitiveList/mergingIntList":[3],"mergingIntList":[4]},
    {"mergingIntList":[1,2,4]}
],
[
    "delete map from merging list/TwoWay",
    {"mergingList":[{"name":1},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":2}],"mergingList":[{"name":1,"$patch":"delete"}]},
    {"mergingList":[{"name":2}]}
],
[
    "delete missing map from merging list/TwoWay",
    {"mergingList":[{"name":1},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":2}],"mergingList":[{"name":1,"$patch":"delete"}]},
    {"mergingList":[{"name":2}]}
],
[
    "add map and delete map from merging list/TwoWay",
    {"mergingList":[{"name":1},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":3}],"mergingList":[{"name":3},{"name":1,"$patch":"delete"}]},
    {"mergingList":[{"name":2},{"name":3}]}
],
[
    "add map and delete map from merging list/ThreeWay",
    {"mergingList":[{"name":1},{"name":2,"other":"b"},{"name":4,"other":"c"}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":3}],"mergingList":[{"name":3},{"name":1,"$patch":"delete"}]},
    {"mergingList":[{"name":2,"other":"b"},{"name":4,"other":"c"},{"name":3}]}
],
[
    "replace non merging list nested in merging list/TwoWay",
    {"mergingList":[{"name":1,"nonMergingList":[{"name":1},{"name":2,"value":2}]},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":1},{"name":2}],"mergingList":[{"name":1,"nonMergingList":[{"name":1,"value":1}]}]},
    {"mergingList":[{"name":1,"nonMergingList":[{"name":1,"value":1}]},{"name":2}]}
],
[
    "add field to map in merging list nested in merging list/TwoWay",
    {"mergingList":[{"name":1,"mergingList":[{"name":1},{"name":2,"value":2}]},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":1},{"name":2}],"mergingList":[{"$setElementOrder/mergingList":[{"name":1},{"name":2}],"name":1,"mergingList":[{"name":1,"value":1}]}]},
    {"mergingList":[{"name":1,"mergingList":[{"name":1,"value":1},{"name":2,"value":2}]},{"name":2}]}
],
[
    "merge lists of scalars/TwoWay",
    {"mergingIntList":[1,2]},
    {"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3]},
    {"mergingIntList":[1,2,3]}
],
[
    "add an item in a list of primitives and preserve order/TwoWay",
    {"mergingIntList":[1,2]},
    {"$setElementOrder/mergingIntList":[3,1,2],"mergingIntList":[3]},
    {"mergingIntList":[3,1,2]}
],
[
    "delete an item in a list of primitives and preserve order/TwoWay",
    {"mergingIntList":[1,2,3]},
    {"$setElementOrder/mergingIntList":[2,1],"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"mergingIntList":[2,1]}
],
[
    "add and delete an item in a list and preserve order/TwoWay",
    {"mergingList":[{"name":1},{"name":3,"value":3},{"name":2,"value":2}]},
    {"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":1}],"mergingList":[{"name":4,"value":4},{"name":3,"$patch":"delete"}]},
    {"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":1}]}
],
[
    "set elements order in a list/TwoWay",
    {"mergingList":[{"name":1},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]},
    {"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]},
    {"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1}]}
],
[
    "set elements order in a list/ThreeWay",
    {"mergingList":[{"name":1,"other":"a"},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]},
    {"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]},
    {"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1,"other":"a"}]}
],
[
    "set elements order in a list with server-only items/TwoWay",
    {"mergingList":[{"name":1},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]},
    {"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]},
    {"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1}]}
],
[
    "set elements order in a list with server-only items/ThreeWay",
    {"mergingList":[{"name":1,"other":"a"},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2},{"name":9}]},
    {"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]},
    {"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1,"other":"a"},{"name":9}]}
],
[
    "set elements order in a list with server-only items 2/TwoWay",
    {"mergingList":[{"name":1},{"name":2,"value":2},{"name":3,"value":3},{"name":4,"value":4}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]},
    {"mergingList":[{"name":2,"value":2},{"name":1},{"name":4,"value":4},{"name":3,"value":3}]}
],
[
    "set elements order in a list with server-only items 2/ThreeWay",
    {"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2},{"name":9},{"name":3,"value":3},{"name":4,"value":4}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]},
    {"mergingList":[{"name":2,"value":2},{"name":1,"other":"a"},{"name":9},{"name":4,"value":4},{"name":3,"value":3}]}
],
[
    "set elements order in a list with server-only items 3/TwoWay",
    {"mergingList":[{"name":1},{"name":2,"value":2},{"name":3,"value":3},{"name":4,"value":4}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]},
    {"mergingList":[{"name":2,"value":2},{"name":1},{"name":4,"value":4},{"name":3,"value":3}]}
],
[
    "set elements order in a list with server-only items 3/ThreeWay",
    {"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2},{"name":7},{"name":9},{"name":8},{"name":3,"value":3},{"name":4,"value":4}]},
    {"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]},
    {"mergingList":[{"name":2,"value":2},{"name":1,"other":"a"},{"name":7},{"name":9},{"name":8},{"name":4,"value":4},{"name":3,"value":3}]}
],
[
    "set elements order in a int list/TwoWay",
    {"mergingIntList":[1,3,4,2]},
    {"$setElementOrder/mergingIntList":[4,2,3,1]},
    {"mergingIntList":[4,2,3,1]}
],
[
    "set elements order in a int list with server-only items/TwoWay",
    {"mergingIntList":[1,3,4,2]},
    {"$setElementOrder/mergingIntList":[4,2,3,1]},
    {"mergingIntList":[4,2,3,1]}
],
[
    "set elements order in a int list with server-only items 2/TwoWay",
    {"mergingIntList":[1,2,3,4]},
    {"$setElementOrder/mergingIntList":[2,1,4,3]},
    {"mergingIntList":[2,1,4,3]}
],
[
    "set elements order in a int list with server-only items 3/TwoWay",
    {"mergingIntList":[1,2,3,2,4]},
    {"$setElementOrder/mergingIntList":[2,1,4,3,2]},
    {"mergingIntList":[2,2,1,4,3]}
],
[
    "retainKeys map should clear defaulted field/TwoWay",
    {},
    {"retainKeysMap":{"other":"bar"}},
    {"retainKeysMap":{"other":"bar"}}
],
[
    "retainKeys map should clear defaulted field with conflict (discriminated union)/ThreeWay",
    {"retainKeysMap":{"name":"type1","value":"foo"}},
    {"retainKeysMap":{"$retainKeys":["name","other"],"name":"type2","other":"bar"}},
    {"retainKeysMap":{"name":"type2","other":"bar"}}
],
[
    "retainKeys map adds a field and clear a field/TwoWay",
    {"retainKeysMap":{"name":"foo"}},
    {"retainKeysMap":{"$retainKeys":["name","value"],"value":"bar"}},
    {"retainKeysMap":{"name":"foo","value":"bar"}}
],
[
    "retainKeys map clears a field/TwoWay",
    {"retainKeysMap":{"name":"foo","value":"bar"}},
    {},
    {"retainKeysMap":{"name":"foo","value":"bar"}}
],
[
    "retainKeys map replaces non-merging list/TwoWay",
    {"retainKeysMap":{"name":"foo","value":"bar","nonMergingList":[{"name":"a"},{"name":"b"}]}},
    {"retainKeysMap":{"$retainKeys":["name","nonMergingList","value"],"nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}]}},
    {"retainKeysMap":{"name":"foo","value":"bar","nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}]}}
],
[
    "retainKeys map adds an item and deletes an item in nested merging int list/ThreeWay",
    {"retainKeysMap":{"name":"foo","mergingIntList":[1,2,3,4]}},
    {"retainKeysMap":{"$retainKeys":["mergingIntList","name"],"mergingIntList":[5],"$deleteFromPrimitiveList/mergingIntList":[2],"$setElementOrder/mergingIntList":[1,3,5]}},
    {"retainKeysMap":{"name":"foo","mergingIntList":[1,3,5,4]}}
],
[
    "retainKeys list of maps clears a field/TwoWay",
    {"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]},
    {},
    {"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}
],
[
    "retainKeys list of maps changes a field and clear a field/TwoWay",
    {"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"old"}]},
    {"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"new"}]},
    {"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"new"}]}
],
[
    "delete and reorder in one list, reorder in another/TwoWay",
    {"mergingList":[{"name":"a","value":"a"},{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"c","value":"c"},{"name":"d","value":"d"}]},
    {"$setElementOrder/mergingList":[{"name":"b"}],"$setElementOrder/mergeItemPtr":[{"name":"d"},{"name":"c"}],"mergingList":[{"$patch":"delete","name":"a"}]},
    {"mergingList":[{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"d","value":"d"},{"name":"c","value":"c"}]}
],
[
    "delete and reorder in one list, reorder in another/ThreeWay",
    {"mergingList":[{"name":"a","value":"a"},{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"c","value":"c"},{"name":"d","value":"d"}]},
    {"$setElementOrder/mergingList":[{"name":"b"}],"$setElementOrder/mergeItemPtr":[{"name":"d"},{"name":"c"}],"mergingList":[{"$patch":"delete","name":"a"}]},
    {"mergingList":[{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"d","value":"d"},{"name":"c","value":"c"}]}
],
[
    "$setElementOrder contains item that is not present in the list to be merged/TwoWay",
    {"mergingList":[{"name":1},{"name":3}]},
    {"$setElementOrder/mergingList":[{"name":3},{"name":2},{"name":1}],"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]},
    {"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]}
],
[
    "$setElementOrder contains item that is not present in the int list to be merged/TwoWay",
    {"mergingIntList":[1,3]},
    {"$setElementOrder/mergingIntList":[3,2,1]},
    {"mergingIntList":[3,1]}
],
[
    "should check if order in $setElementOrder and patch list match/TwoWay",
    {"mergingList":[{"name":1},{"name":3},{"name":2}]},
    {"$setElementOrder/mergingList":[{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]},
    {"error":"doesn't match"}
],
[
    "$setElementOrder contains item that is not present in the int list to be merged/TwoWay",
    {"mergingIntList":[1,3,2]},
    {"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3,1]},
    {"error":"doesn't match"}
],
[
    "missing merge key should error out/TwoWay",
    {"mergingList":[{"name":1,"value":"a"}]},
    {"mergingList":[{"value":"b"}]},
    {"error":"does not contain declared merge key"}
],
[
    "$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list/TwoWay",
    {"mergingIntList":[1,2]},
    {"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"mergingIntList":[1,2]}
],
[
    "$deleteFromPrimitiveList on empty primitive list should not add the item to the list/TwoWay",
    {"mergingIntList":null},
    {"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"mergingIntList":null}
],
[
    "$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list/TwoWay",
    {"foo":["bar"]},
    {"$deleteFromPrimitiveList/mergingIntList":[3]},
    {"foo":["bar"]}
],
[
    "$deleteFromPrimitiveList should delete item from a list with merge patch strategy/TwoWay",
    {"mergingIntList":[1,2,3]},
    {"$deleteFromPrimitiveList/mergingIntList":[2]},
    {"mergingIntList":[1,3]}
],
[
    "$deleteFromPrimitiveList should delete item from a list without merge patch strategy/TwoWay",
    {"nonMergingIntList":[1,2,3]},
    {"$deleteFromPrimitiveList/nonMergingIntList":[2]},
    {"nonMergingIntList":[1,3]}
],
[
    "delete map from nested map/TwoWay(sorted)",
    {"simpleMap":{"key1":1,"key2":1}},
    {"simpleMap":{"$patch":"delete"}},
    {"simpleMap":{}}
],
[
    "delete all items from merging list/TwoWay(sorted)",
    {"mergingList":[{"name":1},{"name":2}]},
    {"mergingList":[{"$patch":"replace"}]},
    {"mergingList":[]}
],
[
    "delete all keys from map/TwoWay(sorted)",
    {"name":1,"value":1},
    {"$patch":"replace"},
    {}
],
[
    "add key and delete all keys from map/TwoWay(sorted)",
    {"name":1,"value":1},
    {"other":"a","$patch":"replace"},
    {"other":"a"}
]
]"#;

    #[test]
    fn upstream_cases() {
        let cases: Vec<(String, Value, Value, Value)> =
            serde_json::from_str(UPSTREAM_CASES).unwrap();
        for (description, original, patch, want) in cases {
            let got = apply(Ty::MergeItem, &original, &patch);
            match want.get("error").and_then(Value::as_str) {
                Some(message) => {
                    let err = got.unwrap_err();
                    assert!(err.to_string().contains(message), "{description}: {err}");
                }
                None => assert_eq!(got.unwrap(), want, "{description}"),
            }
        }
    }
}
