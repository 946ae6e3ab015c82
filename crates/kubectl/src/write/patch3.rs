//! The three-way patch of a client-side apply (apimachinery's `CreateThreeWayMergePatch` and
//! `CreateThreeWayJSONMergePatch`): from the last applied configuration (`original`), the new
//! configuration (`modified`) and the live object (`current`), a patch that
//!
//! - sets every field of the new configuration that the live object lacks or holds otherwise
//!   (`current` → `modified`, changes and additions only), and
//! - deletes every field the previous configuration had and the new one has not
//!   (`original` → `modified`, deletions only), leaving fields set by others alone.
//!
//! For built-in kinds (strategic merge) lists follow their patch metadata: lists merged by key
//! (containers by `name`) are diffed item by item, a removed item becomes `{name: x, $patch:
//! delete}`; merged lists of scalars add the missing items and remove the dropped ones through
//! `$deleteFromPrimitiveList/<field>`; every other list is replaced whole. Custom resources take
//! a JSON merge patch (RFC 7386), where every list is replaced whole.
//!
//! A changed merged list carries `$setElementOrder/<field>` (the configuration's order), as
//! upstream's. Not done, unlike upstream: `$retainKeys` (switching a union such as a
//! Deployment's strategy type from RollingUpdate to Recreate may need the other member
//! removed by hand).

use barge_api::merge::{FieldMeta, Strategy, patch_meta};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// The kind a patch is for: its patch metadata, or none (a JSON merge patch).
#[derive(Clone, Copy, Debug)]
pub struct Schema<'a> {
    /// `Some((group, kind))` for a strategic merge patch.
    pub strategic: Option<(&'a str, &'a str)>,
}

impl Schema<'_> {
    fn meta(&self, path: &[String]) -> FieldMeta {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        self.strategic
            .and_then(|(group, kind)| patch_meta(group, kind, &path))
            .unwrap_or_default()
    }

    /// The merge key of a merged list of objects at `path`, when every item has it.
    fn merge_key(&self, path: &[String], lists: &[&[Value]]) -> Option<&'static str> {
        let meta = self.meta(path);
        let key = meta
            .merge_key
            .filter(|_| meta.strategy == Strategy::Merge)?;
        lists
            .iter()
            .all(|l| l.iter().all(|i| i.get(key).is_some()))
            .then_some(key)
    }

    fn merges_scalars(&self, path: &[String], lists: &[&[Value]]) -> bool {
        let meta = self.meta(path);
        meta.strategy == Strategy::Merge
            && meta.merge_key.is_none()
            && lists
                .iter()
                .all(|l| l.iter().all(|i| !i.is_object() && !i.is_array()))
    }
}

/// The patch that takes `current` to `modified`, deleting what `original` had and `modified`
/// has not; empty when nothing changes.
pub fn three_way(schema: Schema, original: &Value, modified: &Value, current: &Value) -> Object {
    let empty = Object::new();
    let as_map = |v: &Value| v.as_object().cloned().unwrap_or_else(|| empty.clone());
    let (original, modified, current) = (as_map(original), as_map(modified), as_map(current));
    let mut path = Vec::new();
    let deletions = deletions(schema, &mut path, &original, &modified);
    let additions = additions(schema, &mut path, &current, &modified);
    let mut patch = merge(schema, &mut path, deletions, additions);
    follow_order(&mut patch);
    patch
}

/// Puts the items of each merged list in the patch in its `$setElementOrder` order, as the
/// server requires (deletions anywhere).
fn follow_order(patch: &mut Object) {
    let orders: Vec<(String, Vec<Value>)> = patch
        .iter()
        .filter_map(|(k, v)| {
            let field = k.strip_prefix("$setElementOrder/")?;
            Some((field.to_owned(), v.as_array()?.clone()))
        })
        .collect();
    for (field, order) in orders {
        let Some(Value::Array(items)) = patch.get_mut(&field) else {
            continue;
        };
        let position = |item: &Value| {
            order.iter().position(|o| match o.as_object() {
                Some(keys) => keys.iter().all(|(k, v)| item.get(k) == Some(v)),
                None => o == item,
            })
        };
        items.sort_by_key(|i| position(i).unwrap_or(usize::MAX));
    }
    for v in patch.values_mut() {
        match v {
            Value::Object(m) => follow_order(m),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(follow_order),
            _ => {}
        }
    }
}

fn find<'v>(list: &'v [Value], key: &str, value: &Value) -> Option<&'v Value> {
    list.iter().find(|i| i.get(key) == Some(value))
}

/// `$setElementOrder/<field>`: the order of a merged list in the configuration, sent with any
/// change to the list so that the server puts its items in that order.
fn order_key(field: &str) -> String {
    format!("$setElementOrder/{field}")
}

/// The configuration's items of a merged list as `$setElementOrder` lists them: their merge
/// keys, or the scalars themselves.
fn order(items: &[Value], key: Option<&str>) -> Value {
    match key {
        Some(key) => items
            .iter()
            .map(|i| {
                let mut only = Map::new();
                only.insert(key.to_owned(), i[key].clone());
                Value::Object(only)
            })
            .collect(),
        None => Value::Array(items.to_vec()),
    }
}

/// What `modified` sets that `current` lacks or holds otherwise.
fn additions(
    schema: Schema,
    path: &mut Vec<String>,
    current: &Object,
    modified: &Object,
) -> Object {
    let mut out = Object::new();
    for (k, m) in modified {
        let Some(c) = current.get(k) else {
            out.insert(k.clone(), m.clone());
            continue;
        };
        if c == m {
            continue;
        }
        path.push(k.clone());
        match (c, m) {
            (Value::Object(c), Value::Object(m)) => {
                let d = additions(schema, path, c, m);
                if !d.is_empty() {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            (Value::Array(c), Value::Array(m)) => {
                if let Some(key) = schema.merge_key(path, &[c, m]) {
                    let mut items = Vec::new();
                    for item in m {
                        let (Some(c_item), Some(m_map)) =
                            (find(c, key, &item[key]), item.as_object())
                        else {
                            items.push(item.clone());
                            continue;
                        };
                        let mut d = additions(
                            schema,
                            path,
                            c_item.as_object().unwrap_or(&Object::new()),
                            m_map,
                        );
                        if !d.is_empty() {
                            d.insert(key.to_owned(), item[key].clone());
                            items.push(Value::Object(d));
                        }
                    }
                    if !items.is_empty() {
                        out.insert(k.clone(), Value::Array(items));
                        out.insert(order_key(k), order(m, Some(key)));
                    }
                } else if schema.merges_scalars(path, &[c, m]) {
                    let missing: Vec<Value> =
                        m.iter().filter(|i| !c.contains(i)).cloned().collect();
                    if !missing.is_empty() {
                        out.insert(k.clone(), Value::Array(missing));
                        out.insert(order_key(k), order(m, None));
                    }
                } else {
                    out.insert(k.clone(), Value::Array(m.clone()));
                }
            }
            _ => {
                out.insert(k.clone(), m.clone());
            }
        }
        path.pop();
    }
    out
}

/// What `original` had and `modified` has not, as deletions.
fn deletions(
    schema: Schema,
    path: &mut Vec<String>,
    original: &Object,
    modified: &Object,
) -> Object {
    let mut out = Object::new();
    for (k, o) in original {
        let Some(m) = modified.get(k) else {
            out.insert(k.clone(), Value::Null);
            continue;
        };
        path.push(k.clone());
        match (o, m) {
            (Value::Object(o), Value::Object(m)) => {
                let d = deletions(schema, path, o, m);
                if !d.is_empty() {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                if let Some(key) = schema.merge_key(path, &[o, m]) {
                    let mut items = Vec::new();
                    for item in o {
                        match (find(m, key, &item[key]), item.as_object()) {
                            (None, _) => {
                                let mut gone = Object::new();
                                gone.insert(key.to_owned(), item[key].clone());
                                gone.insert("$patch".into(), "delete".into());
                                items.push(Value::Object(gone));
                            }
                            (Some(m_item), Some(o_map)) => {
                                let m_map = m_item.as_object().cloned().unwrap_or_default();
                                let mut d = deletions(schema, path, o_map, &m_map);
                                if !d.is_empty() {
                                    d.insert(key.to_owned(), item[key].clone());
                                    items.push(Value::Object(d));
                                }
                            }
                            (Some(_), None) => {}
                        }
                    }
                    if !items.is_empty() {
                        out.insert(k.clone(), Value::Array(items));
                        out.insert(order_key(k), order(m, Some(key)));
                    }
                } else if schema.merges_scalars(path, &[o, m]) {
                    let dropped: Vec<Value> =
                        o.iter().filter(|i| !m.contains(i)).cloned().collect();
                    if !dropped.is_empty() {
                        out.insert(order_key(k), order(m, None));
                        out.insert(
                            format!("$deleteFromPrimitiveList/{k}"),
                            Value::Array(dropped),
                        );
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
    out
}

/// The deletions and the additions in one patch (items of lists merged by key combined).
fn merge(schema: Schema, path: &mut Vec<String>, base: Object, top: Object) -> Object {
    let mut out = base;
    for (k, t) in top {
        let Some(b) = out.remove(&k) else {
            out.insert(k, t);
            continue;
        };
        let merged = match (b, t) {
            (Value::Object(b), Value::Object(t)) => {
                path.push(k.clone());
                let m = merge(schema, path, b, t);
                path.pop();
                Value::Object(m)
            }
            (Value::Array(b), Value::Array(t)) => {
                path.push(k.clone());
                let merged = match schema.merge_key(path, &[&b, &t]) {
                    Some(mk) => {
                        let mut items = b;
                        for item in t {
                            match items.iter().position(|i| i.get(mk) == item.get(mk)) {
                                Some(at) => {
                                    let (Value::Object(bi), Value::Object(ti)) =
                                        (items[at].clone(), item)
                                    else {
                                        continue;
                                    };
                                    items[at] = Value::Object(merge(schema, path, bi, ti));
                                }
                                None => items.push(item),
                            }
                        }
                        Value::Array(items)
                    }
                    None => Value::Array(t),
                };
                path.pop();
                merged
            }
            (_, t) => t,
        };
        out.insert(k, merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOYMENT: Schema = Schema {
        strategic: Some(("apps", "Deployment")),
    };
    const CUSTOM: Schema = Schema { strategic: None };

    fn patch(schema: Schema, o: Value, m: Value, c: Value) -> Value {
        Value::Object(three_way(schema, &o, &m, &c))
    }

    #[test]
    fn nothing_changed_is_an_empty_patch() {
        let cfg = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let mut live = cfg.clone();
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        live["status"] = json!({"replicas": 1});
        assert_eq!(patch(DEPLOYMENT, cfg.clone(), cfg.clone(), live), json!({}));
    }

    #[test]
    fn removed_fields_are_deleted_and_fields_of_others_kept() {
        let original =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2}});
        let modified = json!({"metadata": {"labels": {"a": "1"}}, "spec": {}});
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2", "other": "x"}}, "spec": {"replicas": 2, "paused": false}});
        assert_eq!(
            patch(DEPLOYMENT, original, modified, live),
            json!({"metadata": {"labels": {"b": null}}, "spec": {"replicas": null}})
        );
    }

    #[test]
    fn containers_are_diffed_by_name() {
        let c = |name: &str, image: &str| json!({"name": name, "image": image});
        let spec = |cs: Vec<Value>| json!({"spec": {"template": {"spec": {"containers": cs}}}});
        let mut env = c("a", "i");
        env["env"] = json!([{"name": "X", "value": "1"}]);
        let original = spec(vec![env.clone(), c("b", "i")]);
        let modified = spec(vec![c("a", "j"), c("n", "i")]);
        let mut live_a = env;
        live_a["terminationMessagePath"] = json!("/dev/termination-log");
        let live = spec(vec![live_a, c("b", "i")]);
        assert_eq!(
            patch(DEPLOYMENT, original, modified, live),
            json!({"spec": {"template": {"spec": {
                "containers": [
                    {"name": "a", "env": null, "image": "j"},
                    c("n", "i"),
                    {"name": "b", "$patch": "delete"},
                ],
                "$setElementOrder/containers": [{"name": "a"}, {"name": "n"}],
            }}}})
        );
    }

    #[test]
    fn merged_scalar_lists_add_and_remove_items() {
        let original = json!({"metadata": {"finalizers": ["a", "b"]}});
        let modified = json!({"metadata": {"finalizers": ["a", "c"]}});
        let live = json!({"metadata": {"finalizers": ["a", "b", "z"]}});
        assert_eq!(
            patch(DEPLOYMENT, original, modified, live),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["c"],
                "$setElementOrder/finalizers": ["a", "c"]}})
        );
    }

    #[test]
    fn custom_resources_replace_lists_whole() {
        let original = json!({"spec": {"items": [{"name": "a"}], "gone": 1}});
        let modified = json!({"spec": {"items": [{"name": "b"}]}});
        let live = json!({"spec": {"items": [{"name": "a"}], "gone": 1, "status": "x"}});
        assert_eq!(
            patch(CUSTOM, original, modified, live),
            json!({"spec": {"items": [{"name": "b"}], "gone": null}})
        );
    }
}
