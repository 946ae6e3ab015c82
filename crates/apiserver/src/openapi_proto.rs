//! The Swagger 2.0 document in protobuf (gnostic's `openapi.v2.Document`), which is how
//! kubectl reads `/openapi/v2`: it validates on the client side whatever the server cannot be
//! asked to validate (a `kind: List` file in `apply -f`, `create -f`, `edit` of several
//! objects) against these definitions, and fails without them. Only what clients read is
//! written: the version, the info and the definitions, each with the fields of its schema and
//! its vendor extensions (`x-kubernetes-group-version-kind`, which finds a kind's model).
//! Values of type `Any` (defaults, enums, examples, extensions) carry their YAML, as gnostic
//! writes them; JSON is YAML.

use serde_json::Value;

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, data: &[u8]) {
        self.key(field, 2);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn message(&mut self, field: u32, m: Message) {
        self.bytes(field, &m.0);
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// `openapi.v2.Any`: the value as YAML (field 2).
fn any(v: &Value) -> Message {
    let mut m = Message::default();
    m.string(2, &v.to_string());
    m
}

/// `NamedAny` entries of the `x-` keys of an object, in `field`.
fn vendor_extensions(out: &mut Message, field: u32, object: &serde_json::Map<String, Value>) {
    for (k, v) in object.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Message::default();
        named.string(1, k);
        named.message(2, any(v));
        out.message(field, named);
    }
}

/// `openapi.v2.Schema`.
fn schema(s: &Value) -> Message {
    let mut m = Message::default();
    let Some(o) = s.as_object() else {
        return m;
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
    let int = |k: &str| o.get(k).and_then(Value::as_i64).unwrap_or_default();
    let float = |k: &str| o.get(k).and_then(Value::as_f64).unwrap_or_default();
    let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or_default();
    // `allOf: [{$ref}]` (how v3 gives a reference a description) is a plain reference in
    // Swagger 2.0, where clients follow it to validate what is below.
    let all_of = o.get("allOf").and_then(Value::as_array);
    let single_ref = match all_of.map(Vec::as_slice) {
        Some([only]) if text("$ref").is_empty() => only.get("$ref").and_then(Value::as_str),
        _ => None,
    };
    m.string(1, single_ref.unwrap_or(text("$ref")));
    m.string(2, text("format"));
    m.string(3, text("title"));
    m.string(4, text("description"));
    if let Some(d) = o.get("default") {
        m.message(5, any(d));
    }
    m.double(6, float("multipleOf"));
    m.double(7, float("maximum"));
    m.boolean(8, flag("exclusiveMaximum"));
    m.double(9, float("minimum"));
    m.boolean(10, flag("exclusiveMinimum"));
    m.int(11, int("maxLength"));
    m.int(12, int("minLength"));
    m.string(13, text("pattern"));
    m.int(14, int("maxItems"));
    m.int(15, int("minItems"));
    m.boolean(16, flag("uniqueItems"));
    m.int(17, int("maxProperties"));
    m.int(18, int("minProperties"));
    for r in o
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.string(19, r.as_str().unwrap_or_default());
    }
    for e in o
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*b));
            m.message(21, item);
        }
        Some(a @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(a));
            m.message(21, item);
        }
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => {
            let mut item = Message::default();
            item.string(1, t);
            m.message(22, item);
        }
        Some(Value::Array(ts)) => {
            let mut item = Message::default();
            for t in ts {
                item.string(1, t.as_str().unwrap_or_default());
            }
            m.message(22, item);
        }
        _ => {}
    }
    if let Some(items) = o.get("items") {
        let mut item = Message::default();
        match items {
            Value::Array(list) => list.iter().for_each(|i| item.message(1, schema(i))),
            one => item.message(1, schema(one)),
        }
        m.message(23, item);
    }
    if single_ref.is_none() {
        for a in all_of.into_iter().flatten() {
            m.message(24, schema(a));
        }
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        m.message(25, named_schemas(props));
    }
    m.string(26, text("discriminator"));
    m.boolean(27, flag("readOnly"));
    if let Some(docs) = o.get("externalDocs").and_then(Value::as_object) {
        let mut d = Message::default();
        d.string(
            1,
            docs.get("description")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        d.string(
            2,
            docs.get("url").and_then(Value::as_str).unwrap_or_default(),
        );
        m.message(29, d);
    }
    if let Some(e) = o.get("example") {
        m.message(30, any(e));
    }
    vendor_extensions(&mut m, 31, o);
    m
}

/// A map of schemas (`Properties`, `Definitions`): `NamedSchema` entries in field 1.
fn named_schemas(map: &serde_json::Map<String, Value>) -> Message {
    let mut m = Message::default();
    for (name, s) in map {
        let mut named = Message::default();
        named.string(1, name);
        named.message(2, schema(s));
        m.message(1, named);
    }
    m
}

/// The protobuf of a Swagger 2.0 document (as served in JSON).
pub fn document(doc: &Value) -> Vec<u8> {
    let mut m = Message::default();
    m.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Message::default();
    info.string(1, doc["info"]["title"].as_str().unwrap_or_default());
    info.string(2, doc["info"]["version"].as_str().unwrap_or_default());
    m.message(2, info);
    if let Some(defs) = doc["definitions"].as_object() {
        m.message(9, named_schemas(defs));
    }
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads (field, wire, payload) of a message's top level.
    fn fields(mut b: &[u8]) -> Vec<(u32, u8, Vec<u8>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            let payload = match wire {
                0 => varint(&mut b).to_le_bytes().to_vec(),
                1 => {
                    let p = b[..8].to_vec();
                    b = &b[8..];
                    p
                }
                _ => {
                    let len = varint(&mut b) as usize;
                    let p = b[..len].to_vec();
                    b = &b[len..];
                    p
                }
            };
            out.push((field, wire, payload));
        }
        out
    }

    #[test]
    fn a_document_carries_its_definitions_and_their_kinds() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "definitions": {"io.k8s.api.core.v1.ConfigMap": {
                "type": "object", "required": ["data"],
                "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]}}});
        let top = fields(&document(&doc));
        assert_eq!(top[0], (1, 2, b"2.0".to_vec()));
        let definitions = &top.iter().find(|f| f.0 == 9).unwrap().2;
        let named = fields(definitions);
        let entry = fields(&named[0].2);
        assert_eq!(entry[0].2, b"io.k8s.api.core.v1.ConfigMap");
        let schema = fields(&entry[1].2);
        let by = |n: u32| schema.iter().filter(move |f| f.0 == n);
        assert_eq!(by(19).next().unwrap().2, b"data");
        assert_eq!(fields(&by(22).next().unwrap().2)[0].2, b"object");
        let extension = fields(&by(31).next().unwrap().2);
        assert_eq!(extension[0].2, b"x-kubernetes-group-version-kind");
        let yaml = fields(&extension[1].2);
        assert_eq!(
            yaml[0],
            (
                2,
                2,
                br#"[{"group":"","kind":"ConfigMap","version":"v1"}]"#.to_vec()
            )
        );
        let properties = fields(&by(25).next().unwrap().2);
        let data = fields(&fields(&properties[0].2)[1].2);
        let additional = fields(&data.iter().find(|f| f.0 == 21).unwrap().2);
        assert_eq!(additional[0].0, 1, "a schema, not a boolean");
    }

    #[test]
    fn numbers_and_switches_use_their_wire_types() {
        let s = fields(
            &schema(
                &json!({"maximum": 1.5, "uniqueItems": true, "maxLength": 300,
            "additionalProperties": false}),
            )
            .0,
        );
        assert!(s.contains(&(7, 1, 1.5f64.to_le_bytes().to_vec())));
        assert!(s.contains(&(16, 0, 1u64.to_le_bytes().to_vec())));
        assert!(s.contains(&(11, 0, 300u64.to_le_bytes().to_vec())));
        let additional = &s.iter().find(|f| f.0 == 21).unwrap().2;
        assert_eq!(
            fields(additional),
            vec![(2, 0, 0u64.to_le_bytes().to_vec())]
        );
    }
}
