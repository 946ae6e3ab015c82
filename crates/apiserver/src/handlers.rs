//! The verbs on resources: get, list, create, update, patch, delete, deletecollection, and the
//! subresources (status, scale, binding). Every write is a compare-and-swap on the revision the
//! handler read, so concurrent writers get 409 Conflict rather than lost updates.

use std::sync::Arc;
use std::time::SystemTime;

use barge_api::selector::{FieldSelector, LabelSelector};
use barge_api::time::format_rfc3339;
use barge_api::{ApiError, Cause, GroupResource, Resource, status};
use barge_store::{KeyValue, RangeRequest, Revision, Store};
use base64::Engine;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::admission::{Attributes, Operation};
use crate::objects::{self, meta, meta_mut, meta_str};
use crate::printing::{Include, Printer};
use crate::request::{self, Format, Query, Response};
use crate::router::Target;
use crate::{ApiServer, crd};

/// One resource call.
#[derive(Debug)]
pub struct Call {
    pub state: Arc<ApiServer>,
    pub target: Target,
    pub query: Query,
    pub format: Format,
    pub content_type: String,
    pub body: Bytes,
    pub user_agent: String,
    /// A create made by server-side apply: its managedFields are apply's (an `Apply` entry),
    /// already in the body.
    pub applied: bool,
}

impl Call {
    pub fn resource(&self) -> &Resource {
        &self.target.resource
    }

    pub fn gr(&self) -> GroupResource {
        self.target.resource.group_resource()
    }

    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    fn key(&self) -> String {
        self.resource().key(self.namespace(), self.name())
    }

    fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// An object as this call's version serves it (converted from the storage version).
    pub fn served(&self, obj: Value) -> Value {
        let r = self.resource();
        match barge_api::convert::storage_version(&r.group, &r.kind) {
            Some(_) => barge_api::convert::convert(&obj, &r.api_version()),
            None => obj,
        }
    }

    /// The stored form of an object: in its storage version, without resourceVersion.
    fn encode(&self, obj: &Value) -> Bytes {
        let r = self.resource();
        match barge_api::convert::storage_version(&r.group, &r.kind) {
            Some(v) => encode(&barge_api::convert::convert(obj, v)),
            None => encode(obj),
        }
    }

    /// [`Call::encode`] of an object the caller is done with, and, when it is stored as served,
    /// the object back without a second copy, to answer with once the store has given it a
    /// revision ([`Call::written`]): what was just written need not be read back.
    fn encode_owned(&self, mut obj: Value) -> (Bytes, Option<Value>) {
        let r = self.resource();
        if barge_api::convert::storage_version(&r.group, &r.kind).is_some() {
            return (self.encode(&obj), None);
        }
        meta_mut(&mut obj).remove("resourceVersion");
        let bytes = Bytes::from(serde_json::to_vec(&obj).expect("a JSON value serialises"));
        (bytes, Some(obj))
    }

    /// The object a write stored, as served, from what [`Call::encode_owned`] kept.
    fn written(&self, kept: Option<Value>, kv: &KeyValue) -> Result<Value, ApiError> {
        match kept {
            Some(mut obj) => {
                meta_mut(&mut obj)
                    .insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
                Ok(obj)
            }
            None => Ok(self.served(from_kv(kv)?)),
        }
    }

    /// Reads this call's object, as served.
    async fn read(&self) -> Result<(Value, Revision), ApiError> {
        let (obj, rev) = read(self.store(), &self.key(), &self.gr(), self.name()).await?;
        Ok((self.served(obj), rev))
    }

    /// Reads this call's object to write over it: from the watch cache when `cached` and the
    /// cache has it (it may be behind the store: the write's compare-and-swap finds out, and
    /// the caller reads the store and tries again, as upstream's `GuaranteedUpdate` does with
    /// the cacher's object), else from the store. Says which it was.
    async fn read_for_write(&self, cached: bool) -> Result<(Value, Revision, bool), ApiError> {
        if cached {
            let root = self.resource().list_prefix(None);
            let state = &self.state;
            if let Ok((Some(kv), _)) = state.cache.get(&state.store, &root, &self.key()).await {
                return Ok((self.served(from_kv(&kv)?), kv.mod_revision, true));
            }
        }
        let (obj, rev) = self.read().await?;
        Ok((obj, rev, false))
    }

    /// Who is writing, for managedFields: `?fieldManager=`, else the user agent's program name,
    /// as upstream.
    fn manager(&self) -> String {
        match self.query.field_manager.as_deref() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => {
                let ua = self.user_agent.split('/').next().unwrap_or_default().trim();
                if ua.is_empty() {
                    "unknown".to_owned()
                } else {
                    ua.to_owned()
                }
            }
        }
    }

    /// Records this write's fields in managedFields (not for apply, which keeps its own).
    fn record(&self, old: Option<&Value>, new: Value) -> Value {
        if self.applied || self.content_type == "application/apply-patch+yaml" {
            return new;
        }
        let r = self.resource();
        let now = format_rfc3339(SystemTime::now());
        barge_api::apply::record_update(
            &r.group,
            &r.kind,
            &r.api_version(),
            old,
            new,
            &self.manager(),
            self.target.subresource.as_deref(),
            &now,
        )
    }

    pub fn printer(&self) -> Printer {
        Printer::new(self.resource(), self.resource().printer_columns.clone())
    }

    /// An object in the representation the client asked for.
    fn answer(&self, code: StatusCode, obj: &Value) -> Response {
        match self.format {
            Format::Table => {
                let rv = meta_str(obj, "resourceVersion").unwrap_or_default();
                let include = Include::from_query(self.query.include_object.as_deref());
                let table = self.printer().table(
                    std::slice::from_ref(obj),
                    json!({"resourceVersion": rv}),
                    include,
                    true,
                );
                request::respond(code, &table, Format::Json)
            }
            f => request::respond(code, obj, f),
        }
    }
}

/// Turns a store failure into the API error upstream gives for it.
pub fn store_error(e: barge_store::Error, gr: &GroupResource, name: &str) -> ApiError {
    use barge_store::Error as E;
    match e {
        E::KeyExists { .. } => ApiError::already_exists(gr, name),
        E::Conflict { .. } => ApiError::modified(gr, name),
        E::NotFound { .. } => ApiError::not_found(gr, name),
        E::Compacted {
            requested,
            compacted,
        } => ApiError::expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        E::FutureRevision { requested, current } => ApiError::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        E::ValueTooLarge { .. } => ApiError::too_large("etcdserver: request is too large"),
        e @ E::InvalidKey { .. } => ApiError::bad_request(e.to_string()),
        e => ApiError::internal(e),
    }
}

/// The object stored in a key-value, with its resourceVersion.
pub fn from_kv(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    Ok(obj)
}

/// The stored form of an object: without resourceVersion, which the store's revision gives.
fn encode(obj: &Value) -> Bytes {
    let mut obj = obj.clone();
    meta_mut(&mut obj).remove("resourceVersion");
    Bytes::from(serde_json::to_vec(&obj).expect("a JSON value serialises"))
}

pub(crate) async fn read(
    store: &dyn Store,
    key: &str,
    gr: &GroupResource,
    name: &str,
) -> Result<(Value, Revision), ApiError> {
    let kv = store
        .get(key, None)
        .await
        .map_err(|e| store_error(e, gr, name))?
        .kv
        .ok_or_else(|| ApiError::not_found(gr, name))?;
    Ok((from_kv(&kv)?, kv.mod_revision))
}

/// Decodes the body of a create or update by its content type.
fn decode_body(call: &Call) -> Result<Value, ApiError> {
    match call.content_type.as_str() {
        "application/vnd.kubernetes.protobuf" => {
            barge_api::protobuf::decode(&call.body).map_err(|e| {
                ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
            })
        }
        ct => request::decode_object(ct, &call.body),
    }
}

/// A consistent read of the call's object from the watch cache: `Some(found)` when the cache
/// has caught up with the store's latest acknowledged write, `None` to read the store.
async fn consistent_from_cache(call: &Call) -> Option<Option<Arc<KeyValue>>> {
    let head = call.state.store.local_revision()?;
    let root = call.resource().list_prefix(None);
    let (found, revision) = call
        .state
        .cache
        .get(&call.state.store, &root, &call.key())
        .await
        .ok()?;
    (revision >= head).then_some(found)
}

/// Removes the field at an upstream field path (`spec.template.spec.containers[0].imagePullPolcy`).
fn remove_path(obj: &mut Value, path: &str) {
    let mut parts: Vec<(&str, Vec<usize>)> = Vec::new();
    for seg in path.split('.') {
        let (name, rest) = seg.split_once('[').map_or((seg, ""), |(n, r)| (n, r));
        let indexes = rest
            .split('[')
            .filter_map(|i| i.trim_end_matches(']').parse().ok())
            .collect();
        parts.push((name, indexes));
    }
    let Some((last, _)) = parts.pop() else { return };
    let mut cur = obj;
    for (name, indexes) in parts {
        let Some(next) = cur.get_mut(name) else {
            return;
        };
        cur = next;
        for i in indexes {
            let Some(next) = cur.get_mut(i) else { return };
            cur = next;
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Values of the wrong type are refused, as upstream's typed decoding refuses them. Unknown
/// fields of built-in kinds are dropped, as that decoding drops them; with
/// `fieldValidation=Strict` they are refused, with `Warn` (the default) reported as warnings.
fn check_fields(call: &Call, obj: &mut Value) -> Result<Vec<String>, ApiError> {
    let r = call.resource();
    if r.custom {
        let pruned = crd::prune_unknown(r, obj);
        return field_policy(call, pruned);
    }
    if let Some(e) = barge_api::schemas::type_error(&r.group, &r.version, &r.kind, obj) {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = r.kind,
            version = r.version,
        )));
    }
    let unknown = barge_api::schemas::unknown_fields(&r.group, &r.version, &r.kind, obj);
    for f in &unknown {
        remove_path(obj, f);
    }
    field_policy(call, unknown)
}

/// What `fieldValidation` makes of unknown fields (already dropped from the object).
fn field_policy(call: &Call, unknown: Vec<String>) -> Result<Vec<String>, ApiError> {
    let r = call.resource();
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let described: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match call.query.field_validation.as_deref() {
        Some("Strict") => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            described.join(", "),
            kind = r.kind,
            version = r.version,
        ))),
        Some(other) if !matches!(other, "Warn" | "Ignore" | "") => Err(ApiError::bad_request(
            format!("fieldValidation {other:?} is invalid: it must be Ignore, Warn or Strict"),
        )),
        Some("Ignore") => Ok(Vec::new()),
        _ => Ok(described),
    }
}

/// Adds `Warning` headers (kubectl prints them as `Warning: ...`).
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            response.headers_mut().append(http::header::WARNING, v);
        }
    }
    response
}

pub async fn get(call: Call) -> Result<Response, ApiError> {
    // Served as stored when nothing has to be decoded (see `raw`).
    let r = call.resource();
    if call.format == Format::Json
        && call.target.subresource.is_none()
        && call.query.resource_version.as_deref() != Some("0")
        && barge_api::convert::storage_version(&r.group, &r.kind).is_none()
    {
        let kv = match consistent_from_cache(&call).await {
            Some(found) => found,
            None => call
                .store()
                .get(&call.key(), None)
                .await
                .map_err(|e| store_error(e, &call.gr(), call.name()))?
                .kv
                .map(Arc::new),
        }
        .ok_or_else(|| ApiError::not_found(&call.gr(), call.name()))?;
        let mut out = Vec::with_capacity(kv.value.len() + 32);
        if crate::raw::append_with_revision(&kv.value, kv.mod_revision, &mut out) {
            return Ok(request::ok_json_bytes(out));
        }
    }
    let (obj, _) = if call.query.resource_version.as_deref() == Some("0") {
        let root = call.resource().list_prefix(None);
        let (cached, _) = call
            .state
            .cache
            .get(&call.state.store, &root, &call.key())
            .await
            .map_err(|e| store_error(e, &call.gr(), call.name()))?;
        let kv = cached.ok_or_else(|| ApiError::not_found(&call.gr(), call.name()))?;
        (call.served(from_kv(&kv)?), 0)
    } else {
        call.read().await?
    };
    match call.target.subresource.as_deref() {
        Some("scale") => Ok(request::ok(
            &ScalePaths::of(&call).scale_of(&obj),
            Format::Json,
        )),
        _ => Ok(call.answer(StatusCode::OK, &obj)),
    }
}

/// Selectors and the kind they apply to.
#[derive(Debug)]
pub struct Filter {
    label: LabelSelector,
    field: FieldSelector,
    group: String,
    kind: String,
    /// What the selectors read of an object, for [`Filter::matches_stored`].
    paths: barge_api::selector::Paths,
}

impl Filter {
    pub fn new(resource: &Resource, query: &Query) -> Result<Self, ApiError> {
        let label = LabelSelector::parse(query.label_selector.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let field = FieldSelector::parse(query.field_selector.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let group = resource.group.clone();
        let kind = resource.kind.clone();
        let empty = json!({"metadata": {}});
        let mut paths = Vec::new();
        if !label.is_empty() {
            paths.push("metadata.labels");
        }
        for f in field.fields() {
            if !resource.custom || !matches!(f, "metadata.name" | "metadata.namespace") {
                barge_api::selector::field_value(&group, &kind, &empty, f)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            match barge_api::selector::field_paths(&group, &kind, f) {
                Ok(p) => paths.extend(p),
                // A custom resource's metadata.name and metadata.namespace.
                Err(_) => paths.push(f),
            }
        }
        let paths = barge_api::selector::Paths::new(paths);
        Ok(Self {
            label,
            field,
            group,
            kind,
            paths,
        })
    }

    /// Whether every object matches (no selector).
    pub fn is_everything(&self) -> bool {
        self.label.is_empty() && self.field.fields().next().is_none()
    }

    /// Whether a stored object (JSON) matches, reading only what the selectors need.
    pub fn matches_stored(&self, stored: &[u8]) -> bool {
        if self.is_everything() {
            return true;
        }
        barge_api::selector::partial_json(stored, &self.paths).is_ok_and(|o| self.matches(&o))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = meta(obj)
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.label.matches(labels)
            && self
                .field
                .matches(|f| barge_api::selector::field_value(&self.group, &self.kind, obj, f).ok())
    }
}

/// A continue token: the revision of the first page and the last key returned.
fn encode_continue(revision: Revision, last_key: &str, prefix: &str) -> String {
    let start = last_key.strip_prefix(prefix).unwrap_or(last_key);
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{start}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &str) -> Result<(Revision, String), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| invalid())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let rv = v["rv"].as_i64().filter(|r| *r > 0).ok_or_else(invalid)?;
    let start = v["start"].as_str().ok_or_else(invalid)?;
    let start = start.strip_suffix('\u{0}').unwrap_or(start);
    if start.contains("..") || start.starts_with('/') {
        return Err(invalid());
    }
    Ok((rv, format!("{prefix}{start}")))
}

/// The error of a list's store read: a continue token whose snapshot was compacted gets
/// upstream's 410.
fn list_error(call: &Call, e: barge_store::Error) -> ApiError {
    match e {
        barge_store::Error::Compacted { .. } if call.query.continue_token.is_some() => {
            ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            )
        }
        e => store_error(e, &call.gr(), ""),
    }
}

/// Where a list reads: the revision and key after which a continue token resumes, or the
/// revision the query asks for from the start.
fn list_start(call: &Call, prefix: &str) -> Result<(Option<Revision>, Option<String>), ApiError> {
    match &call.query.continue_token {
        Some(token) => {
            let (rv, start) = decode_continue(token, prefix)?;
            Ok((Some(rv), Some(start)))
        }
        None => Ok((list_revision(&call.query)?, None)),
    }
}

/// The revision a list reads at: the current one unless an exact one was asked for.
fn list_revision(query: &Query) -> Result<Option<Revision>, ApiError> {
    let rv = match query.resource_version.as_deref() {
        None | Some("0") => return Ok(None),
        Some(rv) => rv.parse::<Revision>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resource version {rv:?}: must be an integer"
            ))
        })?,
    };
    match query.resource_version_match.as_deref() {
        Some("Exact") => Ok(Some(rv)),
        None | Some("NotOlderThan" | "") => Ok(None),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid resourceVersionMatch {other:?}: must be Exact or NotOlderThan"
        ))),
    }
}

/// Lists the objects of a call's collection that pass its selectors, one page at a time.
pub async fn list_objects(call: &Call) -> Result<(Vec<Value>, Revision, Option<String>), ApiError> {
    let filter = Filter::new(call.resource(), &call.query)?;
    let prefix = call.resource().list_prefix(call.namespace());
    let (mut revision, mut start_after) = list_start(call, &prefix)?;
    let limit = call.query.limit.filter(|l| *l > 0);
    if call.query.resource_version.as_deref() == Some("0") && call.query.continue_token.is_none() {
        return list_from_cache(call, &filter, &prefix, limit).await;
    }
    let mut items = Vec::new();
    loop {
        let want = limit.map(|l| l - items.len());
        let page = call
            .store()
            .range(RangeRequest {
                prefix: prefix.clone(),
                start_after: start_after.clone(),
                revision,
                limit: want.map(|w| w.max(64)),
            })
            .await
            .map_err(|e| list_error(call, e))?;
        revision = Some(page.revision);
        for kv in &page.kvs {
            let obj = call.served(from_kv(kv)?);
            if filter.matches(&obj) {
                items.push(obj);
                if limit.is_some_and(|l| items.len() == l) {
                    let more = page.more
                        || kv.key != page.kvs.last().map(|k| k.key.clone()).unwrap_or_default();
                    let token = more.then(|| encode_continue(page.revision, &kv.key, &prefix));
                    return Ok((items, page.revision, token));
                }
            }
        }
        if !page.more {
            return Ok((items, page.revision, None));
        }
        start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

/// A list served from the watch cache (`resourceVersion=0`).
async fn list_from_cache(
    call: &Call,
    filter: &Filter,
    prefix: &str,
    limit: Option<usize>,
) -> Result<(Vec<Value>, Revision, Option<String>), ApiError> {
    let root = call.resource().list_prefix(None);
    let (objects, revision) = call
        .state
        .cache
        .list(&call.state.store, &root, prefix)
        .await
        .map_err(|e| store_error(e, &call.gr(), ""))?;
    let mut items = Vec::new();
    for (i, kv) in objects.iter().enumerate() {
        let key = &kv.key;
        let obj = call.served(from_kv(kv)?);
        if filter.matches(&obj) {
            items.push(obj);
            if limit.is_some_and(|l| items.len() == l) {
                let more = i + 1 < objects.len();
                let token = more.then(|| encode_continue(revision, key, prefix));
                return Ok((items, revision, token));
            }
        }
    }
    Ok((items, revision, None))
}

/// A JSON list of stored objects as they are stored: when nothing has to be decoded (JSON
/// asked for, no selector, no version conversion, not from the cache).
async fn list_raw(call: &Call) -> Result<Option<Response>, ApiError> {
    let r = call.resource();
    let plain = call.format == Format::Json
        && call
            .query
            .label_selector
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        && call
            .query
            .field_selector
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        && call.query.resource_version.as_deref() != Some("0")
        && barge_api::convert::storage_version(&r.group, &r.kind).is_none();
    if !plain {
        return Ok(None);
    }
    let prefix = r.list_prefix(call.namespace());
    let (revision, start_after) = list_start(call, &prefix)?;
    let limit = call.query.limit.filter(|l| *l > 0);
    // A consistent first page comes from the watch cache when it has caught up.
    let cached = match (
        &call.query.continue_token,
        revision,
        call.state.store.local_revision(),
    ) {
        (None, None, Some(head)) => {
            let root = r.list_prefix(None);
            match call
                .state
                .cache
                .list(&call.state.store, &root, &prefix)
                .await
            {
                Ok((mut kvs, rev)) if rev >= head => {
                    let more = limit.is_some_and(|l| kvs.len() > l);
                    if let Some(l) = limit {
                        kvs.truncate(l);
                    }
                    Some((kvs, rev, more))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let (kvs, page_revision, more) = match cached {
        Some(page) => page,
        None => {
            let page = call
                .store()
                .range(RangeRequest {
                    prefix: prefix.clone(),
                    start_after,
                    revision,
                    limit,
                })
                .await
                .map_err(|e| list_error(call, e))?;
            let kvs = page.kvs.into_iter().map(Arc::new).collect();
            (kvs, page.revision, page.more)
        }
    };
    let size: usize = kvs.iter().map(|kv| kv.value.len() + 32).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(
        format!("{{\"apiVersion\":\"{}\",\"items\":[", r.api_version()).as_bytes(),
    );
    for (i, kv) in kvs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !crate::raw::append_with_revision(&kv.value, kv.mod_revision, &mut out) {
            return Ok(None);
        }
    }
    let mut metadata = json!({"resourceVersion": page_revision.to_string()});
    if more && let Some(last) = kvs.last() {
        metadata["continue"] = json!(encode_continue(page_revision, &last.key, &prefix));
    }
    out.extend_from_slice(
        format!("],\"kind\":\"{}List\",\"metadata\":{metadata}}}", r.kind).as_bytes(),
    );
    Ok(Some(request::ok_json_bytes(out)))
}

pub async fn list(call: Call) -> Result<Response, ApiError> {
    if let Some(response) = list_raw(&call).await? {
        return Ok(response);
    }
    let (items, revision, token) = list_objects(&call).await?;
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(t) = token {
        metadata["continue"] = json!(t);
    }
    if call.format == Format::Table {
        let include = Include::from_query(call.query.include_object.as_deref());
        let table = call.printer().table(&items, metadata, include, true);
        return Ok(request::ok(&table, Format::Json));
    }
    let list = json!({
        "kind": format!("{}List", call.resource().kind),
        "apiVersion": call.resource().api_version(),
        "metadata": metadata,
        "items": items,
    });
    Ok(request::ok(&list, call.format))
}

pub async fn create(call: Call) -> Result<Response, ApiError> {
    let resource = call.target.resource.clone();
    let mut obj = decode_body(&call)?;
    objects::check_type(&resource, &mut obj)?;
    let warnings = check_fields(&call, &mut obj)?;
    objects::prepare_create(&resource, &mut obj, call.namespace(), SystemTime::now())?;
    let name = objects::name(&obj).to_owned();
    let attrs = Attributes {
        resource: &resource,
        operation: Operation::Create,
        namespace: call.namespace(),
        name: &name,
        subresource: None,
        old: None,
    };
    call.state
        .admission
        .run(&call.state, &attrs, &mut obj)
        .await?;
    let obj = call.record(None, obj);
    if call.query.dry_run {
        return Ok(with_warnings(
            call.answer(StatusCode::CREATED, &obj),
            &warnings,
        ));
    }
    let key = resource.key(call.namespace(), &name);
    let (bytes, kept) = call.encode_owned(obj);
    let kv = call
        .store()
        .create(&key, bytes, None)
        .await
        .map_err(|e| store_error(e, &call.gr(), &name))?;
    let created = call.written(kept, &kv)?;
    if resource.kind == "CustomResourceDefinition" {
        crd::established(&call.state, &created).await;
    }
    Ok(with_warnings(
        call.answer(StatusCode::CREATED, &created),
        &warnings,
    ))
}

/// Writes `new` over the stored `old` (read at `revision`): admission, the deletion rules for
/// objects whose finalizers are done, then a compare-and-swap.
///
/// `old` may come from the watch cache (`cached`): a write that changes nothing is then only
/// known to be one against the store, so it fails as a conflict for the caller to read the
/// store and try again.
async fn write_update(
    call: &Call,
    old: &Value,
    revision: Revision,
    mut new: Value,
    cached: bool,
) -> Result<Value, ApiError> {
    let resource = call.resource();
    let attrs = Attributes {
        resource,
        operation: Operation::Update,
        namespace: call.namespace(),
        name: call.name(),
        subresource: call.target.subresource.as_deref(),
        old: Some(old),
    };
    call.state
        .admission
        .run(&call.state, &attrs, &mut new)
        .await?;
    let new = call.record(Some(old), new);
    if same_but_times(&new, old) {
        if cached {
            return Err(ApiError::modified(&call.gr(), call.name()));
        }
        return Ok(old.clone());
    }
    if call.query.dry_run {
        let mut unchanged = new;
        meta_mut(&mut unchanged).insert(
            "resourceVersion".into(),
            old["metadata"]["resourceVersion"].clone(),
        );
        return Ok(unchanged);
    }
    let key = call.key();
    let deleting = meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"));
    // A namespace also waits for its spec.finalizers (the namespace controller's).
    let finalized = finalizers(&new).is_empty()
        && (resource.kind != "Namespace"
            || new["spec"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty));
    if deleting && finalized && resource.kind != "Pod" {
        call.store()
            .delete(&key, Some(revision))
            .await
            .map_err(|e| store_error(e, &call.gr(), call.name()))?;
        return Ok(new);
    }
    let (bytes, kept) = call.encode_owned(new);
    let kv = call
        .store()
        .update(&key, bytes, revision, None)
        .await
        .map_err(|e| store_error(e, &call.gr(), call.name()))?;
    let updated = call.written(kept, &kv)?;
    if resource.kind == "CustomResourceDefinition" {
        crd::established(&call.state, &updated).await;
    }
    Ok(updated)
}

/// Whether `new` holds what `old` does, apart from its resourceVersion and the times of its
/// managedFields entries: a write that changes nothing else is not a write.
fn same_but_times(new: &Value, old: &Value) -> bool {
    fn same_except(
        a: &Value,
        b: &Value,
        skip: &[&str],
        inner: fn(&str, &Value, &Value) -> bool,
    ) -> bool {
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return a == b;
        };
        let kept =
            |m: &'_ Map<String, Value>| m.keys().filter(|k| !skip.contains(&k.as_str())).count();
        kept(a) == kept(b)
            && a.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .all(|(k, v)| b.get(k).is_some_and(|w| inner(k, v, w)))
    }
    fn entry(_: &str, a: &Value, b: &Value) -> bool {
        same_except(a, b, &["time"], |_, a, b| a == b)
    }
    fn metadata(k: &str, a: &Value, b: &Value) -> bool {
        if k != "managedFields" {
            return a == b;
        }
        match (a.as_array(), b.as_array()) {
            (Some(a), Some(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| entry("", x, y))
            }
            _ => a == b,
        }
    }
    fn top(k: &str, a: &Value, b: &Value) -> bool {
        if k == "metadata" {
            same_except(a, b, &["resourceVersion"], metadata)
        } else {
            a == b
        }
    }
    same_except(new, old, &[], top)
}

fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The object a PUT or PATCH produces from the stored one, by subresource.
fn merge_for_subresource(call: &Call, old: &Value, mut new: Value) -> Result<Value, ApiError> {
    match call.target.subresource.as_deref() {
        None => {
            objects::prepare_update(call.resource(), old, &mut new);
            Ok(new)
        }
        Some("status") => Ok(objects::status_update(old, &new)),
        // A namespace's finalize subresource changes only spec.finalizers.
        Some("finalize") => {
            let mut updated = old.clone();
            updated["spec"]["finalizers"] = new["spec"]["finalizers"].clone();
            Ok(updated)
        }
        Some(other) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({other})"
        ))),
    }
}

fn check_precondition(
    call: &Call,
    body_rv: Option<&str>,
    revision: Revision,
) -> Result<(), ApiError> {
    match body_rv {
        Some(rv) if !rv.is_empty() && rv != revision.to_string() => {
            Err(ApiError::modified(&call.gr(), call.name()))
        }
        _ => Ok(()),
    }
}

pub async fn update(call: Call) -> Result<Response, ApiError> {
    let (old, revision) = call.read().await?;
    if call.target.subresource.as_deref() == Some("scale") {
        let scale = decode_body(&call)?;
        return write_scale(&call, &old, revision, &scale, false).await;
    }
    let mut new = decode_body(&call)?;
    objects::check_type(call.resource(), &mut new)?;
    let warnings = check_fields(&call, &mut new)?;
    let body_name = objects::name(&new);
    if !body_name.is_empty() && body_name != call.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            call.name()
        )));
    }
    check_precondition(&call, meta_str(&new, "resourceVersion"), revision)?;
    meta_mut(&mut new).insert("name".into(), json!(call.name()));
    let new = merge_for_subresource(&call, &old, new)?;
    let updated = write_update(&call, &old, revision, new, false).await?;
    Ok(with_warnings(
        call.answer(StatusCode::OK, &updated),
        &warnings,
    ))
}

/// Applies a patch body of the call's content type to `current`.
fn apply_patch(call: &Call, current: &Value) -> Result<Value, ApiError> {
    let body = &call.body;
    let parse = |b: &[u8]| request::decode_json(b);
    match call.content_type.as_str() {
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the JSON patch could not be decoded: {e}"))
            })?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &patch).map_err(|e| {
                let mut err = ApiError::bad_request(e.to_string());
                (err.code, err.reason) = (422, "Invalid");
                err
            })?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &parse(body)?);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let r = call.resource();
            if r.custom {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json (strategic merge patch is not supported for custom resources)",
                ));
            }
            barge_api::merge::strategic_merge(&r.group, &r.kind, current, &parse(body)?)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        }
        "application/apply-patch+yaml" => server_side_apply(call, Some(current)),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub async fn patch(call: Call) -> Result<Response, ApiError> {
    // A conflict between our read and our write is retried: a patch does not name a revision
    // unless it sets metadata.resourceVersion itself. The first try starts from the watch
    // cache, so any failure of it may only mean the cache was behind: it is tried again from
    // the store.
    let mut cached = true;
    for _ in 0..5 {
        let current = match call.read_for_write(cached).await {
            Ok(c) => c,
            Err(e) if e.code == 404 && call.content_type == "application/apply-patch+yaml" => {
                return apply_create(call).await;
            }
            Err(e) => return Err(e),
        };
        let (old, revision, from_cache) = current;
        cached = false;
        let written = if call.target.subresource.as_deref() == Some("scale") {
            match apply_patch(&call, &ScalePaths::of(&call).scale_of(&old)) {
                Ok(patched) => write_scale(&call, &old, revision, &patched, from_cache).await,
                Err(_) if from_cache => continue,
                Err(e) => return Err(e),
            }
        } else {
            match patched(&call, &old, revision) {
                Ok((new, warnings)) => write_update(&call, &old, revision, new, from_cache)
                    .await
                    .map(|updated| with_warnings(call.answer(StatusCode::OK, &updated), &warnings)),
                Err(_) if from_cache => continue,
                Err(e) => return Err(e),
            }
        };
        match written {
            Err(_) if from_cache => continue,
            Err(e) if e.reason == "Conflict" && !patch_names_revision(&call) => continue,
            other => return other,
        }
    }
    Err(ApiError::modified(&call.gr(), call.name()))
}

/// The object a patch makes of `old` (read at `revision`), checked, with its warnings.
fn patched(call: &Call, old: &Value, revision: Revision) -> Result<(Value, Vec<String>), ApiError> {
    let mut new = apply_patch(call, old)?;
    objects::check_type(call.resource(), &mut new)?;
    let warnings = check_fields(call, &mut new)?;
    check_precondition(call, meta_str(&new, "resourceVersion"), revision)?;
    Ok((merge_for_subresource(call, old, new)?, warnings))
}

fn patch_names_revision(call: &Call) -> bool {
    serde_json::from_slice::<Value>(&call.body)
        .ok()
        .and_then(|p| p.get("metadata")?.get("resourceVersion").cloned())
        .is_some_and(|rv| !rv.is_null())
}

/// Server-side apply (`application/apply-patch+yaml`): the applied configuration is merged
/// into the live object (or makes a new one) with field ownership in managedFields; fields
/// another manager owns conflict unless `?force=true`.
fn server_side_apply(call: &Call, live: Option<&Value>) -> Result<Value, ApiError> {
    let manager = call.query.field_manager.as_deref().unwrap_or_default();
    if manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH requests with the apply content type require a field manager",
        ));
    }
    let applied = request::decode_yaml(&call.body)?;
    let r = call.resource();
    let now = format_rfc3339(SystemTime::now());
    let api_version = r.api_version();
    barge_api::apply::apply(
        &r.group,
        &r.kind,
        &api_version,
        live,
        &applied,
        manager,
        call.query.force,
        &now,
    )
    .map(|result| result.object)
    .map_err(|e| match e {
        barge_api::apply::ApplyError::Conflict { causes } => {
            let mut err = ApiError::conflict(&call.gr(), call.name(), "");
            err.message = barge_api::apply::ApplyError::Conflict {
                causes: causes.clone(),
            }
            .message();
            err.details = Some(json!({
                "name": call.name(),
                "group": r.group,
                "kind": r.plural,
                "causes": causes.iter().map(|c| json!({
                    "reason": "FieldManagerConflict", "message": c.message, "field": c.field,
                })).collect::<Vec<_>>(),
            }));
            err
        }
        other => ApiError::bad_request(other.message()),
    })
}

/// Server-side apply of an object that does not exist yet creates it (201).
async fn apply_create(call: Call) -> Result<Response, ApiError> {
    let mut obj = server_side_apply(&call, None)?;
    objects::check_type(call.resource(), &mut obj)?;
    meta_mut(&mut obj).insert("name".into(), json!(call.name()));
    let body = Bytes::from(serde_json::to_vec(&obj).expect("JSON serialises"));
    let call = Call {
        body,
        content_type: "application/json".into(),
        applied: true,
        ..call
    };
    create(call).await
}

/// Where a resource's replicas and selector live: a custom resource's CRD says
/// (`specReplicasPath` ...), built-in workloads have `.spec.replicas`, `.status.replicas` and a
/// `spec.selector` object.
struct ScalePaths<'a>(Option<&'a Value>);

impl<'a> ScalePaths<'a> {
    fn of(call: &'a Call) -> Self {
        Self(
            call.resource()
                .subresource("scale")
                .and_then(|s| s.scale_paths.as_ref()),
        )
    }

    fn path(&self, field: &str, default: &'static str) -> Vec<String> {
        let path = match self.0 {
            Some(paths) => paths[field].as_str().unwrap_or_default(),
            None => default,
        };
        path.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn read<'v>(obj: &'v Value, path: &[String]) -> Option<&'v Value> {
        if path.is_empty() {
            return None;
        }
        path.iter().try_fold(obj, |v, key| v.get(key))
    }

    fn spec_replicas(&self) -> Vec<String> {
        self.path("specReplicasPath", ".spec.replicas")
    }

    fn selector(&self, obj: &Value) -> String {
        match self.0 {
            Some(_) => Self::read(obj, &self.path("labelSelectorPath", ""))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            None => LabelSelector::from_json(&obj["spec"]["selector"])
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    }

    fn scale_of(&self, obj: &Value) -> Value {
        let m = meta(obj).cloned().unwrap_or_default();
        let replicas =
            |path: Vec<String>| Self::read(obj, &path).and_then(Value::as_i64).unwrap_or(0);
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
                "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
            },
            "spec": {"replicas": replicas(self.spec_replicas())},
            "status": {
                "replicas": replicas(self.path("statusReplicasPath", ".status.replicas")),
                "selector": self.selector(obj),
            },
        })
    }
}

async fn write_scale(
    call: &Call,
    old: &Value,
    revision: Revision,
    scale: &Value,
    cached: bool,
) -> Result<Response, ApiError> {
    check_precondition(call, meta_str(scale, "resourceVersion"), revision)?;
    let replicas = &scale["spec"]["replicas"];
    if !replicas.is_i64() {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            call.name(),
            vec![barge_api::Cause::required("spec.replicas", "")],
        ));
    }
    let paths = ScalePaths::of(call);
    let mut new = old.clone();
    let path = paths.spec_replicas();
    let Some((last, parents)) = path.split_last() else {
        return Err(ApiError::internal("the resource has no specReplicasPath"));
    };
    let mut at = &mut new;
    for key in parents {
        if !at[key.as_str()].is_object() {
            at[key.as_str()] = json!({});
        }
        at = &mut at[key.as_str()];
    }
    at[last.as_str()] = replicas.clone();
    objects::prepare_update(call.resource(), old, &mut new);
    let updated = write_update(call, old, revision, new, cached).await?;
    Ok(request::ok(&paths.scale_of(&updated), Format::Json))
}

/// POST on a named object: the pod binding (the scheduler's) and eviction subresources.
pub async fn create_subresource(call: Call) -> Result<Response, ApiError> {
    match (
        call.resource().kind.as_str(),
        call.target.subresource.as_deref(),
    ) {
        ("Pod", Some("binding")) => bind(call).await,
        ("ServiceAccount", Some("token")) => token(call).await,
        ("Pod", Some("eviction")) => {
            let (pod, _) = call.read().await?;
            if !call.query.dry_run {
                crate::eviction::admit(&call.state, &pod).await?;
            }
            let mut delete_call = call;
            delete_call.target.subresource = None;
            delete_call.body = Bytes::new();
            delete(delete_call).await?;
            Ok(request::ok(
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                Format::Json,
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// TokenRequest: a signed token for the ServiceAccount (`kubectl create token NAME`).
async fn token(call: Call) -> Result<Response, ApiError> {
    let mut request = decode_body(&call)?;
    let (sa, _) = call.read().await?;
    let now = SystemTime::now();
    let node = bound_object(&call, &mut request).await?;
    let (mut claims, expires) = crate::tokens::claims_for(&sa, &request, now);
    if let Some((name, uid)) = node {
        claims["kubernetes.io"]["node"] = json!({"name": name, "uid": uid});
    }
    let token = call.state.signer.sign(&claims);
    let mut spec = request["spec"].clone();
    if !spec.is_object() {
        spec = json!({});
    }
    spec["audiences"] = claims["aud"].clone();
    let seconds = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
    spec["expirationSeconds"] = json!(seconds);
    let response = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": call.name(), "namespace": call.namespace(),
                     "creationTimestamp": format_rfc3339(now)},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": format_rfc3339(expires)},
    });
    Ok(request::respond(
        StatusCode::CREATED,
        &response,
        Format::Json,
    ))
}

/// Checks a TokenRequest's `boundObjectRef` as upstream does: a Pod or Secret of the
/// ServiceAccount's namespace, or a Node, that exists (with the uid given, if any); fills in its
/// uid, which authentication checks on every use. Returns the node (name, uid) a bound pod runs
/// on, which upstream's tokens name too.
async fn bound_object(
    call: &Call,
    request: &mut Value,
) -> Result<Option<(String, String)>, ApiError> {
    let bound = request["spec"]["boundObjectRef"].clone();
    let Some(kind) = bound["kind"].as_str() else {
        return Ok(None);
    };
    let name = bound["name"].as_str().unwrap_or_default().to_owned();
    let (plural, namespace) = match kind {
        "Pod" => ("pods", call.namespace()),
        "Secret" => ("secrets", call.namespace()),
        "Node" => ("nodes", None),
        other => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for object of kind {other:?}"
            )));
        }
    };
    let resource = |plural: &str| {
        let registry = call
            .state
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner());
        registry.get("", "v1", plural).cloned()
    };
    let r = resource(plural).ok_or_else(ApiError::path_not_found)?;
    let gr = r.group_resource();
    let (obj, _) = read(call.store(), &r.key(namespace, &name), &gr, &name).await?;
    let uid = meta_str(&obj, "uid").unwrap_or_default().to_owned();
    if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(ApiError::conflict(
            &GroupResource::new("", kind),
            &name,
            &format!(
                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    request["spec"]["boundObjectRef"]["uid"] = json!(uid);
    let node_name = obj["spec"]["nodeName"].as_str().unwrap_or_default();
    if kind != "Pod" || node_name.is_empty() {
        return Ok(None);
    }
    let nodes = resource("nodes").ok_or_else(ApiError::path_not_found)?;
    let node_uid = match call.store().get(&nodes.key(None, node_name), None).await {
        Ok(found) => found
            .kv
            .and_then(|kv| from_kv(&kv).ok())
            .and_then(|n| meta_str(&n, "uid").map(str::to_owned)),
        Err(_) => None,
    };
    Ok(node_uid.map(|uid| (node_name.to_owned(), uid)))
}

async fn bind(call: Call) -> Result<Response, ApiError> {
    let binding = decode_body(&call)?;
    let node = binding["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            call.name(),
            vec![barge_api::Cause::required("target.name", "")],
        ));
    }
    // From the watch cache first; a conflict may only mean the cache was behind.
    let (pod, revision, cached) = call.read_for_write(true).await?;
    match bind_once(&call, pod, revision, &node).await {
        Err(e) if cached && e.code == 409 => {
            let (pod, revision) = call.read().await?;
            bind_once(&call, pod, revision, &node).await?;
        }
        other => other?,
    }
    Ok(request::respond(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        Format::Json,
    ))
}

/// Writes `node` into the pod read at `revision`, with its PodScheduled condition.
async fn bind_once(
    call: &Call,
    mut pod: Value,
    revision: Revision,
    node: &str,
) -> Result<(), ApiError> {
    if let Some(bound) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict(
            &call.gr(),
            call.name(),
            &format!("pod {} is already assigned to node {bound:?}", call.name()),
        ));
    }
    pod["spec"]["nodeName"] = json!(node);
    let conditions = match pod["status"]["conditions"].take() {
        Value::Array(c) => c,
        _ => Vec::new(),
    };
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.push(
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                           "lastTransitionTime": format_rfc3339(SystemTime::now())}),
    );
    pod["status"]["conditions"] = json!(conditions);
    call.store()
        .update(&call.key(), call.encode_owned(pod).0, revision, None)
        .await
        .map_err(|e| store_error(e, &call.gr(), call.name()))?;
    Ok(())
}

/// What a delete asks for beyond the object's name.
#[derive(Debug, Default)]
struct DeleteOptions {
    grace: Option<i64>,
    uid: Option<String>,
    resource_version: Option<String>,
    /// The finalizer the propagation policy asks for: `foregroundDeletion` (Foreground) or
    /// `orphan` (Orphan); none for Background, which the garbage collector does afterwards.
    finalizer: Option<&'static str>,
}

/// The finalizer a propagation policy (or the older `orphanDependents`) puts on the object.
fn propagation_finalizer(
    policy: Option<&str>,
    orphan_dependents: Option<bool>,
) -> Result<Option<&'static str>, ApiError> {
    let invalid = |cause| {
        Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            vec![cause],
        ))
    };
    match (policy, orphan_dependents) {
        (Some(_), Some(_)) => invalid(Cause::invalid(
            "propagationPolicy",
            &json!(policy),
            "orphanDependents and deletionPropagation cannot be both set",
        )),
        (Some("Foreground"), _) => Ok(Some("foregroundDeletion")),
        (Some("Orphan"), _) | (None, Some(true)) => Ok(Some("orphan")),
        (Some("Background") | None, _) => Ok(None),
        (Some(other), _) => invalid(Cause::not_supported(
            "propagationPolicy",
            &json!(other),
            &["Foreground", "Background", "Orphan"],
        )),
    }
}

/// The options of a delete, from its body (DeleteOptions) and query.
fn delete_options(call: &Call) -> Result<DeleteOptions, ApiError> {
    let mut grace = call.query.grace_period_seconds;
    let mut uid = None;
    let mut rv = None;
    let mut policy = call.query.propagation_policy.clone();
    let mut orphan_dependents = None;
    if !call.body.is_empty() {
        let opts = request::decode_json(&call.body)?;
        if let Some(g) = opts["gracePeriodSeconds"].as_i64() {
            grace = Some(g);
        }
        uid = opts["preconditions"]["uid"].as_str().map(str::to_owned);
        rv = opts["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        if let Some(p) = opts["propagationPolicy"].as_str() {
            policy = Some(p.to_owned());
        }
        orphan_dependents = opts["orphanDependents"].as_bool();
        if opts["dryRun"].as_array().is_some_and(|d| !d.is_empty()) {
            // dryRun in the body counts like the query parameter.
            return Err(ApiError::bad_request(
                "dryRun in DeleteOptions is not supported; use ?dryRun=All",
            ));
        }
    }
    Ok(DeleteOptions {
        grace,
        uid,
        resource_version: rv,
        finalizer: propagation_finalizer(policy.as_deref(), orphan_dependents)?,
    })
}

pub async fn delete(call: Call) -> Result<Response, ApiError> {
    let DeleteOptions {
        grace,
        uid,
        resource_version: rv,
        finalizer,
    } = delete_options(&call)?;
    let (old, revision) = call.read().await?;
    if let Some(uid) = uid
        && meta_str(&old, "uid") != Some(uid.as_str())
    {
        return Err(ApiError::conflict(
            &call.gr(),
            call.name(),
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&old, "uid").unwrap_or_default()
            ),
        ));
    }
    check_precondition(&call, rv.as_deref(), revision)?;
    let resource = call.target.resource.clone();
    let now = format_rfc3339(SystemTime::now());

    // A pod on a node is deleted gracefully: the kubelet stops it and finishes the delete.
    let on_node = old["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let pod_grace = if resource.kind == "Pod"
        && on_node
        && old["status"]["phase"] != "Succeeded"
        && old["status"]["phase"] != "Failed"
    {
        let g = grace.unwrap_or_else(|| {
            old["spec"]["terminationGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(30)
        });
        Some(g).filter(|g| *g > 0)
    } else {
        None
    };
    let keep = !finalizers(&old).is_empty()
        || finalizer.is_some()
        || pod_grace.is_some()
        || resource.kind == "Namespace";
    if keep {
        if meta(&old).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok(call.answer(StatusCode::OK, &old));
        }
        let mut new = old.clone();
        let m = meta_mut(&mut new);
        if let Some(f) = finalizer {
            let list = m.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut()
                && !list.iter().any(|x| x == f)
            {
                list.push(json!(f));
            }
        }
        m.insert("deletionTimestamp".into(), json!(now));
        m.insert(
            "deletionGracePeriodSeconds".into(),
            json!(pod_grace.unwrap_or(0)),
        );
        if resource.kind == "Namespace" {
            new["status"]["phase"] = json!("Terminating");
        }
        if call.query.dry_run {
            return Ok(call.answer(StatusCode::OK, &new));
        }
        let kv = call
            .store()
            .update(&call.key(), call.encode(&new), revision, None)
            .await
            .map_err(|e| store_error(e, &call.gr(), call.name()))?;
        let updated = call.served(from_kv(&kv)?);
        if resource.kind == "Namespace" && call.state.config.finalize_namespaces {
            tokio::spawn(crate::namespaces::finalize(
                call.state.clone(),
                call.name().to_owned(),
            ));
        }
        return Ok(call.answer(StatusCode::OK, &updated));
    }
    if call.query.dry_run {
        return Ok(call.answer(StatusCode::OK, &old));
    }
    call.store()
        .delete(&call.key(), Some(revision))
        .await
        .map_err(|e| store_error(e, &call.gr(), call.name()))?;
    if resource.kind == "CustomResourceDefinition" {
        crd::removed(&call.state, &old);
    }
    if resource.kind == "Pod" {
        return Ok(call.answer(StatusCode::OK, &old));
    }
    let uid = meta_str(&old, "uid").unwrap_or_default();
    Ok(request::ok(
        &status::deleted(&call.gr(), call.name(), uid),
        Format::Json,
    ))
}

pub async fn delete_collection(call: Call) -> Result<Response, ApiError> {
    let (items, _, _) = list_objects(&call).await?;
    let mut deleted = Vec::new();
    for obj in items {
        let name = objects::name(&obj).to_owned();
        let mut target = call.target.clone();
        target.name = Some(name);
        if let Some(ns) = meta_str(&obj, "namespace") {
            target.namespace = Some(ns.to_owned());
        }
        let one = Call {
            state: call.state.clone(),
            target,
            query: call.query.clone(),
            format: Format::Json,
            content_type: call.content_type.clone(),
            body: call.body.clone(),
            user_agent: call.user_agent.clone(),
            applied: false,
        };
        match delete(one).await {
            Ok(_) => deleted.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": format!("{}List", call.resource().kind),
        "apiVersion": call.resource().api_version(),
        "metadata": {},
        "items": deleted,
    });
    Ok(request::ok(&list, call.format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_that_change_only_times_are_not_writes() {
        let old = json!({"metadata": {"name": "a", "resourceVersion": "5",
            "managedFields": [{"manager": "m", "time": "2026-01-01T00:00:00Z"}]},
            "data": {"x": "1"}});
        let mut new = old.clone();
        new["metadata"]["managedFields"][0]["time"] = json!("2026-01-02T00:00:00Z");
        new["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert!(same_but_times(&new, &old));
        let mut changed = new.clone();
        changed["data"]["x"] = json!("2");
        assert!(!same_but_times(&changed, &old));
        let mut manager = new.clone();
        manager["metadata"]["managedFields"][0]["manager"] = json!("other");
        assert!(!same_but_times(&manager, &old));
        let mut extra = new.clone();
        extra["metadata"]["labels"] = json!({"k": "v"});
        assert!(!same_but_times(&extra, &old));
        assert!(!same_but_times(&old, &extra));
    }
}
