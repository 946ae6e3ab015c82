//! Serving stored objects without decoding them. The store holds each object as JSON without
//! its resourceVersion (the store revision gives it); when an object is served as stored (JSON
//! asked for, no conversion, no selector to evaluate) the revision is spliced into the bytes
//! instead of parsing and re-serialising the object. That keeps a 100,000-object list to one
//! pass over the bytes and one buffer.

/// Where the contents of the top-level `"metadata"` object start (just after its `{`).
fn metadata_start(json: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    let mut key: Option<&[u8]> = None;
    let mut after_colon = false;
    for (i, &c) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
                if depth == 1 && !after_colon {
                    key = Some(&json[string_start..i]);
                }
            }
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b'{' | b'[' => {
                if depth == 1 && c == b'{' && after_colon && key == Some(b"metadata") {
                    return Some(i + 1);
                }
                depth += 1;
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b':' if depth == 1 => after_colon = true,
            b',' if depth == 1 => {
                after_colon = false;
                key = None;
            }
            _ => {}
        }
    }
    None
}

/// Appends `stored` to `out` with `"resourceVersion":"<revision>"` added to its metadata.
/// False (and nothing appended) if the object has no metadata object.
pub fn append_with_revision(stored: &[u8], revision: i64, out: &mut Vec<u8>) -> bool {
    let Some(at) = metadata_start(stored) else {
        return false;
    };
    out.extend_from_slice(&stored[..at]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
    let rest = &stored[at..];
    if rest.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn splice(v: &Value, rv: i64) -> Value {
        let mut out = Vec::new();
        assert!(append_with_revision(v.to_string().as_bytes(), rv, &mut out));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn the_revision_goes_into_the_top_level_metadata() {
        let obj = json!({"aaa": {"metadata": {"x": 1}}, "data": {"k": "\"metadata\":{"},
                         "kind": "X", "metadata": {"name": "n"}, "spec": {"metadata": {}}});
        let out = splice(&obj, 42);
        assert_eq!(
            out["metadata"],
            json!({"name": "n", "resourceVersion": "42"})
        );
        assert_eq!(out["aaa"], obj["aaa"]);
        assert_eq!(out["spec"], obj["spec"]);
        assert_eq!(out["data"], obj["data"]);
        assert_eq!(
            splice(&json!({"metadata": {}}), 7)["metadata"]["resourceVersion"],
            "7"
        );
        let mut out = Vec::new();
        assert!(!append_with_revision(b"{\"kind\":\"X\"}", 1, &mut out));
        assert!(out.is_empty());
        assert!(!append_with_revision(b"}}}", 1, &mut out));
    }
}
