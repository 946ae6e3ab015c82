//! Services (upstream's `describeService`), their endpoints read from EndpointSlices.

use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::tabwriter::Writer;
use super::text;

pub fn describe(svc: &Service, slices: &[EndpointSlice], events: Option<Vec<Event>>) -> String {
    let mut w = Writer::new();
    let meta = &svc.metadata;
    let spec = svc.spec.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    w.write(
        0,
        &format!(
            "Namespace:\t{}\n",
            meta.namespace.as_deref().unwrap_or_default()
        ),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    let selector = text::format_labels(spec.selector.as_ref());
    w.write(0, &format!("Selector:\t{selector}\n"));
    w.write(
        0,
        &format!("Type:\t{}\n", spec.type_.as_deref().unwrap_or_default()),
    );
    if let Some(p) = &spec.ip_family_policy {
        w.write(0, &format!("IP Family Policy:\t{p}\n"));
    }
    match spec.ip_families.as_ref().filter(|f| !f.is_empty()) {
        Some(f) => w.write(0, &format!("IP Families:\t{}\n", f.join(","))),
        None => w.write(0, "IP Families:\t<none>\n"),
    }
    w.write(
        0,
        &format!("IP:\t{}\n", spec.cluster_ip.as_deref().unwrap_or_default()),
    );
    match spec.cluster_ips.as_ref().filter(|f| !f.is_empty()) {
        Some(ips) => w.write(0, &format!("IPs:\t{}\n", ips.join(","))),
        None => w.write(0, "IPs:\t<none>\n"),
    }
    if let Some(ips) = spec.external_ips.as_ref().filter(|f| !f.is_empty()) {
        w.write(0, &format!("External IPs:\t{}\n", ips.join(",")));
    }
    if let Some(ip) = spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("Desired LoadBalancer IP:\t{ip}\n"));
    }
    if let Some(n) = spec.external_name.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("External Name:\t{n}\n"));
    }
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.clone())
        .unwrap_or_default();
    if !ingress.is_empty() {
        let list: Vec<String> = ingress
            .iter()
            .map(|i| match i.ip.as_deref().filter(|s| !s.is_empty()) {
                Some(ip) => match &i.ip_mode {
                    Some(mode) => format!("{ip} ({mode})"),
                    None => ip.to_owned(),
                },
                None => i.hostname.clone().unwrap_or_default(),
            })
            .collect();
        w.write(0, &format!("LoadBalancer Ingress:\t{}\n", list.join(", ")));
    }
    for p in spec.ports.iter().flatten() {
        let name = p
            .name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("<unset>");
        let proto = p.protocol.as_deref().unwrap_or_default();
        w.write(0, &format!("Port:\t{name}\t{}/{proto}\n", p.port));
        let target = match &p.target_port {
            Some(IntOrString::Int(i)) => i.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => "0".to_owned(),
        };
        w.write(0, &format!("TargetPort:\t{target}/{proto}\n"));
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            w.write(0, &format!("NodePort:\t{name}\t{np}/{proto}\n"));
        }
        let port_name = p.name.clone().unwrap_or_default();
        w.write(
            0,
            &format!("Endpoints:\t{}\n", endpoints(slices, &port_name)),
        );
    }
    w.write(
        0,
        &format!(
            "Session Affinity:\t{}\n",
            spec.session_affinity.as_deref().unwrap_or_default()
        ),
    );
    if let Some(p) = spec
        .external_traffic_policy
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(0, &format!("External Traffic Policy:\t{p}\n"));
    }
    if let Some(p) = &spec.internal_traffic_policy {
        w.write(0, &format!("Internal Traffic Policy:\t{p}\n"));
    }
    if let Some(p) = spec.health_check_node_port.filter(|p| *p != 0) {
        w.write(0, &format!("HealthCheck NodePort:\t{p}\n"));
    }
    if let Some(r) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        w.write(
            0,
            &format!("LoadBalancer Source Ranges:\t{}\n", r.join(",")),
        );
    }
    text::events(&mut w, events);
    w.finish()
}

/// `formatEndpointSlices` for one port name: the ready endpoints' `address:port`, the first
/// three and how many more.
fn endpoints(slices: &[EndpointSlice], port: &str) -> String {
    if slices.is_empty() {
        return "<none>".to_owned();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    let ready = |e: &k8s_openapi::api::discovery::v1::Endpoint| {
        e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
    };
    for s in slices {
        let ports = s.ports.clone().unwrap_or_default();
        if ports.is_empty() {
            for e in &s.endpoints {
                if list.len() == MAX {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                if !more {
                    list.push(e.addresses.first().cloned().unwrap_or_default());
                }
                count += 1;
            }
            continue;
        }
        for p in &ports {
            if p.name.as_deref().unwrap_or_default() != port {
                continue;
            }
            for e in &s.endpoints {
                if list.len() == MAX {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                if !more {
                    let addr = e.addresses.first().cloned().unwrap_or_default();
                    let number = p.port.unwrap_or_default();
                    list.push(if addr.contains(':') {
                        format!("[{addr}]:{number}")
                    } else {
                        format!("{addr}:{number}")
                    });
                }
                count += 1;
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_show_three_ready_addresses_and_how_many_more() {
        let slice: EndpointSlice = serde_json::from_value(json!({"addressType": "IPv4",
            "metadata": {"name": "web-x"},
            "ports": [{"name": "", "port": 80}],
            "endpoints": [
                {"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.4"]}, {"addresses": ["10.0.0.5"]},
                {"addresses": ["10.0.0.6"]}]}))
        .unwrap();
        assert_eq!(
            endpoints(std::slice::from_ref(&slice), ""),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.4:80 + 2 more..."
        );
        assert_eq!(endpoints(&[], ""), "<none>");
        assert_eq!(endpoints(&[slice], "http"), "");
    }
}
