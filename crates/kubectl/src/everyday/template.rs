//! A pod template as `kubectl rollout history --revision=N` prints it (kubectl's
//! `DescribePodTemplate`: tab-separated, not aligned). The common parts are covered: labels,
//! annotations, the service account, containers (image, ports, command, resources,
//! environment, mounts), simple volumes, node selectors. A template with parts described
//! otherwise (probes, `envFrom`, `valueFrom`, tolerations, other volume kinds) is refused
//! rather than printed differently from kubectl.

use serde_json::Value;

use crate::error::{Error, Result};

const MAX_ANNOTATION_LEN: usize = 140;

fn unsupported(what: &str) -> Error {
    Error::client(format!(
        "describing a pod template with {what} is not supported by barge kubectl yet"
    ))
}

fn sorted_pairs(map: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn labels(out: &mut String, title: &str, map: &Value) {
    out.push_str(&format!("{title}:\t"));
    let pairs = sorted_pairs(map);
    if pairs.is_empty() {
        out.push_str("<none>\n");
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&format!("{k}={v}\n"));
    }
}

fn annotations(out: &mut String, title: &str, map: &Value) {
    out.push_str(&format!("{title}:\t"));
    let pairs: Vec<_> = sorted_pairs(map)
        .into_iter()
        .filter(|(k, _)| k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if pairs.is_empty() {
        out.push_str("<none>\n");
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let v = v.strip_suffix('\n').unwrap_or(v);
        if v.len() + k.len() + 2 > MAX_ANNOTATION_LEN || v.contains('\n') {
            out.push_str(&format!("{k}:\n"));
            for line in v.split('\n') {
                let short = if line.len() > MAX_ANNOTATION_LEN - 2 {
                    format!("{}...", &line[..MAX_ANNOTATION_LEN - 2])
                } else {
                    line.to_owned()
                };
                out.push_str(&format!("\t  {short}\n"));
            }
        } else {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn containers(out: &mut String, label: &str, list: &Value) -> Result<()> {
    let items = list.as_array().cloned().unwrap_or_default();
    let none = if items.is_empty() { " <none>" } else { "" };
    out.push_str(&format!("  {label}:{none}\n"));
    for c in &items {
        for field in [
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "envFrom",
            "volumeDevices",
        ] {
            if !c[field].is_null() {
                return Err(unsupported(field));
            }
        }
        if !c["securityContext"]["seccompProfile"].is_null() {
            return Err(unsupported("a seccomp profile"));
        }
        out.push_str(&format!("   {}:\n", c["name"].as_str().unwrap_or_default()));
        out.push_str(&format!(
            "    Image:\t{}\n",
            c["image"].as_str().unwrap_or_default()
        ));
        let ports = c["ports"].as_array().cloned().unwrap_or_default();
        let protocol = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_owned();
        let list = |key: &str| {
            ports
                .iter()
                .map(|p| format!("{}/{}", p[key].as_i64().unwrap_or_default(), protocol(p)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (single, plural, text) in [
            ("Port", "Ports", list("containerPort")),
            ("Host Port", "Host Ports", list("hostPort")),
        ] {
            if text.contains(',') {
                out.push_str(&format!("    {plural}:\t{text}\n"));
            } else if text.is_empty() {
                out.push_str(&format!("    {single}:\t<none>\n"));
            } else {
                out.push_str(&format!("    {single}:\t{text}\n"));
            }
        }
        for (key, title) in [("command", "Command"), ("args", "Args")] {
            let items = strings(&c[key]);
            if !items.is_empty() {
                out.push_str(&format!("    {title}:\n"));
                for line in items.iter().flat_map(|s| s.split('\n')) {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
        for (key, title) in [("limits", "Limits"), ("requests", "Requests")] {
            let pairs = sorted_pairs(&c["resources"][key]);
            if !pairs.is_empty() {
                out.push_str(&format!("    {title}:\n"));
            }
            for (k, v) in pairs {
                out.push_str(&format!("      {k}:\t{v}\n"));
            }
        }
        let env = c["env"].as_array().cloned().unwrap_or_default();
        out.push_str(if env.is_empty() {
            "    Environment:\t<none>\n"
        } else {
            "    Environment:\n"
        });
        for e in &env {
            if !e["valueFrom"].is_null() {
                return Err(unsupported("valueFrom"));
            }
            let name = e["name"].as_str().unwrap_or_default();
            for (i, line) in e["value"]
                .as_str()
                .unwrap_or_default()
                .split('\n')
                .enumerate()
            {
                if i == 0 {
                    out.push_str(&format!("      {name}:\t{line}\n"));
                } else {
                    out.push_str(&format!("      \t{line}\n"));
                }
            }
        }
        let mut mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
        out.push_str(if mounts.is_empty() {
            "    Mounts:\t<none>\n"
        } else {
            "    Mounts:\n"
        });
        mounts.sort_by(|a, b| a["mountPath"].as_str().cmp(&b["mountPath"].as_str()));
        for m in &mounts {
            let mut flags = vec![if m["readOnly"] == true { "ro" } else { "rw" }.to_owned()];
            if let Some(sub) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
                flags.push(format!("path={sub:?}"));
            }
            out.push_str(&format!(
                "      {} from {} ({})\n",
                m["mountPath"].as_str().unwrap_or_default(),
                m["name"].as_str().unwrap_or_default(),
                flags.join(",")
            ));
        }
    }
    Ok(())
}

fn volumes(out: &mut String, list: &Value) -> Result<()> {
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        out.push_str("  Volumes:\t<none>\n");
        return Ok(());
    }
    out.push_str("  Volumes:\n");
    for v in &items {
        out.push_str(&format!("   {}:\n", v["name"].as_str().unwrap_or_default()));
        let optional = |s: &Value| s["optional"] == true;
        if let Some(e) = v.get("emptyDir") {
            let size = e["sizeLimit"].as_str().unwrap_or("<unset>");
            out.push_str(&format!(
                "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n",
                e["medium"].as_str().unwrap_or_default()
            ));
        } else if let Some(c) = v.get("configMap") {
            out.push_str(&format!(
                "    Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                c["name"].as_str().unwrap_or_default(),
                optional(c)
            ));
        } else if let Some(s) = v.get("secret") {
            out.push_str(&format!(
                "    Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                s["secretName"].as_str().unwrap_or_default(),
                optional(s)
            ));
        } else if let Some(h) = v.get("hostPath") {
            out.push_str(&format!(
                "    Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{}\n",
                h["path"].as_str().unwrap_or_default(),
                h["type"].as_str().filter(|t| !t.is_empty()).unwrap_or("<none>")
            ));
        } else {
            return Err(unsupported("this kind of volume"));
        }
    }
    Ok(())
}

/// The template described as kubectl describes it.
pub fn describe(template: &Value) -> Result<String> {
    let spec = &template["spec"];
    for field in ["tolerations", "topologySpreadConstraints"] {
        if spec[field].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(unsupported(field));
        }
    }
    let mut out = String::from("Pod Template:\n");
    labels(&mut out, "  Labels", &template["metadata"]["labels"]);
    if template["metadata"]["annotations"]
        .as_object()
        .is_some_and(|a| !a.is_empty())
    {
        annotations(
            &mut out,
            "  Annotations",
            &template["metadata"]["annotations"],
        );
    }
    if let Some(sa) = spec["serviceAccountName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        out.push_str(&format!("  Service Account:\t{sa}\n"));
    }
    if spec["initContainers"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        containers(&mut out, "Init Containers", &spec["initContainers"])?;
    }
    containers(&mut out, "Containers", &spec["containers"])?;
    volumes(&mut out, &spec["volumes"])?;
    if let Some(p) = spec["priorityClassName"].as_str().filter(|s| !s.is_empty()) {
        out.push_str(&format!("  Priority Class Name:\t{p}\n"));
    }
    labels(&mut out, "  Node-Selectors", &spec["nodeSelector"]);
    out.push_str("  Tolerations:\t<none>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_is_described_as_kubectl_describes_it() {
        let t = json!({"metadata": {"labels": {"pod-template-hash": "abc", "app": "web"},
                                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:2",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]}],
                "volumes": [{"name": "data", "emptyDir": {}}]}});
        assert_eq!(
            describe(&t).unwrap(),
            "Pod Template:\n  Labels:\tapp=web\n\tpod-template-hash=abc\n  Annotations:\tkubectl.kubernetes.io/restartedAt: 2026-01-01T00:00:00Z\n  Containers:\n   nginx:\n    Image:\tnginx:2\n    Port:\t80/TCP\n    Host Port:\t0/TCP\n    Environment:\n      A:\t1\n    Mounts:\n      /data from data (ro)\n  Volumes:\n   data:\n    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t\n    SizeLimit:\t<unset>\n  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n"
        );
        let probed = json!({"spec": {"containers": [{"name": "a", "livenessProbe": {}}]}});
        assert!(describe(&probed).is_err());
    }
}
