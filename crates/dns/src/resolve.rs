//! From a request's bytes to a reply: parse, decide between answering from the [`Index`] and
//! forwarding, build the answer, encode it within the transport's size limit. Pure and
//! synchronous: the server holds the index's read lock only around [`decide`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::index::{Index, Lookup, Records};

/// The UDP payload size we advertise in our own OPT record (the DNS flag day 2020 value).
const OUR_UDP_PAYLOAD: u16 = 1232;
/// How many CNAMEs inside the zone we follow for one answer.
const MAX_CHASE: usize = 8;

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Send this reply.
    Answer(Box<Message>),
    /// Not ours: pass the request's bytes to the upstreams.
    Forward,
}

/// The first look at a datagram or TCP frame.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A query to decide on.
    Query(Box<Message>),
    /// Not a query we can read; reply with these bytes (FORMERR).
    Reply(Vec<u8>),
    /// Not worth a reply: too short to have an id, or a response rather than a query.
    Ignore,
}

/// Parses `bytes` as a DNS request.
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    match Message::from_vec(bytes) {
        Ok(m) if m.metadata.message_type == MessageType::Query => Parsed::Query(Box::new(m)),
        Ok(_) => Parsed::Ignore,
        // An unreadable message gets FORMERR if its header says it is a query.
        Err(_) if bytes.len() >= 12 && bytes[2] & 0x80 == 0 => {
            Parsed::Reply(header_only(bytes, ResponseCode::FormErr))
        }
        Err(_) => Parsed::Ignore,
    }
}

/// Answers `request` from `index`, or says to forward it. `ready` is false until the informers
/// have listed once: cluster names then get SERVFAIL rather than a cacheable NXDOMAIN.
pub(crate) fn decide(index: &Index, ttl: u32, ready: bool, request: &Message) -> Decision {
    if request.metadata.op_code != OpCode::Query {
        return Decision::Answer(Box::new(response(request, ResponseCode::NotImp)));
    }
    let [query] = request.queries.as_slice() else {
        return Decision::Answer(Box::new(response(request, ResponseCode::FormErr)));
    };
    let Some(name) = key(query.name()) else {
        // Labels with dots or non-ASCII bytes name nothing of ours; only the zone check is
        // left to make, label by label.
        if in_zone(query.name(), index) {
            return Decision::Answer(Box::new(nxdomain(index, ttl, request)));
        }
        return Decision::Forward;
    };
    let lookup = index.lookup(&name);
    if lookup == Lookup::OutOfZone {
        return reverse(index, ttl, request, query, &name);
    }
    if !ready {
        return Decision::Answer(Box::new(response(request, ResponseCode::ServFail)));
    }
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY)
        || matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR)
    {
        return Decision::Answer(Box::new(response(request, ResponseCode::Refused)));
    }
    let mut reply = response(request, ResponseCode::NoError);
    reply.metadata.authoritative = true;
    let owner = query.name().clone();
    let qtype = query.query_type();
    match lookup {
        Lookup::OutOfZone => return Decision::Forward,
        Lookup::NxDomain => return Decision::Answer(Box::new(nxdomain(index, ttl, request))),
        Lookup::Apex => {
            let zone = index.zone();
            if matches!(qtype, RecordType::SOA | RecordType::ANY) {
                reply.answers.push(soa(index, ttl));
            }
            if matches!(qtype, RecordType::NS | RecordType::ANY) {
                let ns = RData::NS(NS(zone.mname.clone()));
                reply.answers.push(Record::from_rdata(owner, ttl, ns));
            }
        }
        Lookup::Empty => {}
        Lookup::Pod(ip) => {
            if let Some(data) = address(ip, qtype) {
                reply.answers.push(Record::from_rdata(owner, ttl, data));
            }
        }
        Lookup::Records(records) => answer(index, ttl, &mut reply, owner, records, qtype, 0),
    }
    if reply.answers.is_empty() {
        reply.authorities.push(soa(index, ttl));
    }
    Decision::Answer(Box::new(reply))
}

/// PTR queries for addresses the cluster knows are ours; every other name outside the zone is
/// forwarded.
fn reverse(index: &Index, ttl: u32, request: &Message, query: &Query, name: &str) -> Decision {
    if !matches!(query.query_type(), RecordType::PTR | RecordType::ANY) {
        return Decision::Forward;
    }
    let Some(ip) = arpa_ip(name) else {
        return Decision::Forward;
    };
    let mut reply = response(request, ResponseCode::NoError);
    for target in index.reverse(&ip) {
        let ptr = RData::PTR(PTR(target.clone()));
        reply
            .answers
            .push(Record::from_rdata(query.name().clone(), ttl, ptr));
    }
    if reply.answers.is_empty() {
        return Decision::Forward;
    }
    reply.metadata.authoritative = true;
    Decision::Answer(Box::new(reply))
}

/// Adds the records of `records` for `qtype` under `owner`, following a CNAME inside the zone.
fn answer(
    index: &Index,
    ttl: u32,
    reply: &mut Message,
    owner: Name,
    records: &Records,
    qtype: RecordType,
    depth: usize,
) {
    if let Some(target) = &records.cname
        && qtype != RecordType::CNAME
    {
        let cname = RData::CNAME(CNAME(target.clone()));
        reply.answers.push(Record::from_rdata(owner, ttl, cname));
        if depth < MAX_CHASE
            && let Some(key) = key(target)
            && let Lookup::Records(next) = index.lookup(&key)
        {
            answer(index, ttl, reply, target.clone(), next, qtype, depth + 1);
        }
        return;
    }
    let any = qtype == RecordType::ANY;
    if qtype == RecordType::A || any {
        for ip in &records.a {
            reply
                .answers
                .push(Record::from_rdata(owner.clone(), ttl, RData::A(A(*ip))));
        }
    }
    if qtype == RecordType::AAAA || any {
        for ip in &records.aaaa {
            reply.answers.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::AAAA(AAAA(*ip)),
            ));
        }
    }
    if qtype == RecordType::CNAME
        && let Some(target) = &records.cname
    {
        let cname = RData::CNAME(CNAME(target.clone()));
        reply
            .answers
            .push(Record::from_rdata(owner.clone(), ttl, cname));
    }
    if (qtype == RecordType::SRV || any) && !records.srv.is_empty() {
        // As CoreDNS: all answers have priority 0 and share a weight of 100 (at least 1 each).
        let count = u16::try_from(records.srv.len()).unwrap_or(u16::MAX);
        let weight = (100 / count).max(1);
        let mut targets: Vec<&str> = Vec::new();
        for srv in &records.srv {
            let data = RData::SRV(SRV::new(0, weight, srv.port, srv.target.clone()));
            reply
                .answers
                .push(Record::from_rdata(owner.clone(), ttl, data));
            if targets.contains(&srv.key.as_str()) {
                continue;
            }
            targets.push(&srv.key);
            if let Lookup::Records(target) = index.lookup(&srv.key) {
                for ip in &target.a {
                    let a = Record::from_rdata(srv.target.clone(), ttl, RData::A(A(*ip)));
                    reply.additionals.push(a);
                }
                for ip in &target.aaaa {
                    let aaaa = Record::from_rdata(srv.target.clone(), ttl, RData::AAAA(AAAA(*ip)));
                    reply.additionals.push(aaaa);
                }
            }
        }
    }
}

fn address(ip: IpAddr, qtype: RecordType) -> Option<RData> {
    match (ip, qtype) {
        (IpAddr::V4(ip), RecordType::A | RecordType::ANY) => Some(RData::A(A(ip))),
        (IpAddr::V6(ip), RecordType::AAAA | RecordType::ANY) => Some(RData::AAAA(AAAA(ip))),
        _ => None,
    }
}

fn soa(index: &Index, ttl: u32) -> Record {
    let zone = index.zone();
    let soa = SOA::new(
        zone.mname.clone(),
        zone.rname.clone(),
        index.serial(),
        7200,
        1800,
        86400,
        ttl,
    );
    Record::from_rdata(zone.origin.clone(), ttl, RData::SOA(soa))
}

fn nxdomain(index: &Index, ttl: u32, request: &Message) -> Message {
    let mut reply = response(request, ResponseCode::NXDomain);
    reply.metadata.authoritative = true;
    reply.authorities.push(soa(index, ttl));
    reply
}

/// An empty reply to `request` with `code`: same id, question and RD bit, RA set (we
/// recurse through the upstreams), an OPT record if the request had one.
pub(crate) fn response(request: &Message, code: ResponseCode) -> Message {
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&request.metadata);
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = code;
    reply.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_UDP_PAYLOAD);
        reply.set_edns(edns);
    }
    reply
}

/// The largest reply a client can take over UDP: 512 bytes, or what its OPT record says.
pub(crate) fn udp_limit(request: &Message) -> usize {
    usize::from(request.max_payload())
}

/// Encodes `reply` in at most `limit` bytes: without the additional section if that makes it
/// fit, else with no records at all and the TC bit set so the client retries over TCP.
pub(crate) fn encode(reply: &mut Message, limit: usize) -> Vec<u8> {
    let mut attempt = 0;
    loop {
        let bytes = match reply.to_vec() {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::debug!(error = %e, "cannot encode a DNS reply");
                let mut failed = Message::response(reply.metadata.id, reply.metadata.op_code);
                failed.metadata.response_code = ResponseCode::ServFail;
                return failed.to_vec().unwrap_or_default();
            }
        };
        if bytes.len() <= limit {
            return bytes;
        }
        attempt += 1;
        match attempt {
            1 if !reply.additionals.is_empty() => reply.additionals.clear(),
            1 | 2 => {
                reply.additionals.clear();
                reply.answers.clear();
                reply.authorities.clear();
                reply.metadata.truncation = true;
            }
            // Even the question does not fit (a 512-byte limit with a huge name cannot
            // happen, but be sure to end).
            _ => return bytes[..bytes.len().min(12)].to_vec(),
        }
    }
}

/// A 12-byte reply to the request whose header begins `request`: same id, opcode and RD,
/// `code`, no sections. For requests we could not parse or answers we could not build.
pub(crate) fn header_only(request: &[u8], code: ResponseCode) -> Vec<u8> {
    let byte = |i: usize| request.get(i).copied().unwrap_or(0);
    let flags_hi = 0x80 | (byte(2) & 0x79); // QR, the opcode and RD of the request
    let flags_lo = 0x80 | (code.low() & 0x0f); // RA, the code
    vec![byte(0), byte(1), flags_hi, flags_lo, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// SERVFAIL for a request that could not be forwarded, with its question (glibc ignores
/// replies whose question does not match).
pub(crate) fn servfail(request: &[u8]) -> Vec<u8> {
    match Message::from_vec(request) {
        Ok(request) => response(&request, ResponseCode::ServFail)
            .to_vec()
            .unwrap_or_else(|_| {
                header_only(&request.metadata.id.to_be_bytes(), ResponseCode::ServFail)
            }),
        Err(_) => header_only(request, ResponseCode::ServFail),
    }
}

/// The index key of a name: lowercase, labels joined by dots, no trailing dot; `None` if a
/// label holds a byte no Kubernetes name has (a dot, a space, non-ASCII...), since such a
/// name cannot be in the index and must not be confused with one that is.
pub(crate) fn key(name: &Name) -> Option<String> {
    let mut key = String::with_capacity(name.len());
    for label in name.iter() {
        if !key.is_empty() {
            key.push('.');
        }
        for &b in label {
            if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*') {
                return None;
            }
            key.push(char::from(b.to_ascii_lowercase()));
        }
    }
    Some(key)
}

/// Whether `name` is inside the cluster domain, comparing labels.
fn in_zone(name: &Name, index: &Index) -> bool {
    let zone = index.zone().domain.split('.').rev();
    let labels: Vec<&[u8]> = name.iter().collect();
    let mut labels = labels.into_iter().rev();
    zone.into_iter().all(|z| {
        labels
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case(z.as_bytes()))
    })
}

/// The address of a full reverse name: `4.3.2.1.in-addr.arpa` or the 32 nibbles of
/// `ip6.arpa`; `None` for anything else (partial names, other zones).
pub(crate) fn arpa_ip(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut labels = rest.split('.');
        for octet in octets.iter_mut().rev() {
            let label = labels.next()?;
            if label.is_empty() || label.len() > 3 || (label.len() > 1 && label.starts_with('0')) {
                return None;
            }
            *octet = label.parse().ok()?;
        }
        return labels
            .next()
            .is_none()
            .then_some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let mut value: u128 = 0;
    let mut count = 0;
    for label in rest.split('.') {
        let [digit] = label.as_bytes() else {
            return None;
        };
        if count == 32 {
            return None;
        }
        let nibble = char::from(*digit).to_digit(16)?;
        value |= u128::from(nibble) << (4 * count);
        count += 1;
    }
    (count == 32).then_some(IpAddr::V6(Ipv6Addr::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::{external, headless, service, slice, zone};
    use crate::index::{Index, contribution};
    use barge_client::Key;
    use std::sync::Arc;

    const TTL: u32 = 5;

    fn index() -> Index {
        let zone = zone();
        let mut index = Index::new(zone.clone());
        let services = [
            service(
                "default",
                "web",
                &["10.96.0.10", "fd00::10"],
                &[("http", 80, "TCP")],
            ),
            headless("db", "pg", &[("pg", 5432, "TCP")]),
            external("default", "ext", "example.com"),
            external("default", "alias", "web.default.svc.cluster.local"),
        ];
        let pg = Arc::new(slice(
            "db",
            "pg-1",
            "pg",
            &[
                ("10.1.0.5", "pg-0", Some(true)),
                ("10.1.0.6", "", Some(true)),
                ("10.1.0.7", "pg-2", Some(false)),
            ],
            &[("pg", 5432, "TCP")],
        ));
        for s in &services {
            let slices = if s.metadata.name.as_deref() == Some("pg") {
                vec![pg.clone()]
            } else {
                vec![]
            };
            index.set(&Key::of(s), contribution(&zone, s, &slices));
        }
        index
    }

    fn ask(index: &Index, name: &str, qtype: RecordType) -> Decision {
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.metadata.recursion_desired = true;
        request.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        // Round-trip through bytes, as the server sees requests.
        let Parsed::Query(request) = parse(&request.to_vec().unwrap()) else {
            panic!("unparsable request")
        };
        decide(index, TTL, true, &request)
    }

    fn reply(index: &Index, name: &str, qtype: RecordType) -> Message {
        match ask(index, name, qtype) {
            Decision::Answer(m) => *m,
            Decision::Forward => panic!("{name} was forwarded"),
        }
    }

    fn rdata(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn a_and_aaaa_of_a_cluster_ip_service() {
        let index = index();
        let m = reply(&index, "web.default.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(
            m.metadata.authoritative
                && m.metadata.recursion_available
                && m.metadata.recursion_desired
        );
        assert_eq!(rdata(&m.answers), ["10.96.0.10"]);
        assert_eq!(m.answers[0].ttl, TTL);
        let m = reply(&index, "web.default.svc.cluster.local.", RecordType::AAAA);
        assert_eq!(rdata(&m.answers), ["fd00::10"]);
    }

    #[test]
    fn names_are_case_insensitive_and_keep_the_askers_case() {
        let index = index();
        let m = reply(&index, "WeB.Default.SVC.cluster.LOCAL.", RecordType::A);
        assert_eq!(rdata(&m.answers), ["10.96.0.10"]);
        assert_eq!(
            m.answers[0].name.to_ascii(),
            "WeB.Default.SVC.cluster.LOCAL."
        );
    }

    #[test]
    fn headless_answers_ready_endpoints_and_hostnames() {
        let index = index();
        let m = reply(&index, "pg.db.svc.cluster.local.", RecordType::A);
        assert_eq!(rdata(&m.answers), ["10.1.0.5", "10.1.0.6"]);
        let m = reply(&index, "pg-0.pg.db.svc.cluster.local.", RecordType::A);
        assert_eq!(rdata(&m.answers), ["10.1.0.5"]);
        let m = reply(&index, "pg-2.pg.db.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn srv_for_cluster_ip_points_at_the_service_with_glue() {
        let index = index();
        let m = reply(
            &index,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(
            rdata(&m.answers),
            ["0 100 80 web.default.svc.cluster.local."]
        );
        assert_eq!(rdata(&m.additionals), ["10.96.0.10", "fd00::10"]);
        assert_eq!(
            m.additionals[0].name.to_ascii(),
            "web.default.svc.cluster.local."
        );
    }

    #[test]
    fn srv_for_headless_has_one_answer_per_ready_endpoint() {
        let index = index();
        let m = reply(&index, "_pg._tcp.pg.db.svc.cluster.local.", RecordType::SRV);
        assert_eq!(
            rdata(&m.answers),
            [
                "0 50 5432 10-1-0-6.pg.db.svc.cluster.local.",
                "0 50 5432 pg-0.pg.db.svc.cluster.local."
            ]
        );
        assert_eq!(rdata(&m.additionals), ["10.1.0.6", "10.1.0.5"]);
        let m = reply(
            &index,
            "_nope._tcp.pg.db.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn external_name_is_a_cname_and_in_zone_targets_are_followed() {
        let index = index();
        let m = reply(&index, "ext.default.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
        assert_eq!(rdata(&m.answers), ["example.com."]);
        let m = reply(&index, "alias.default.svc.cluster.local.", RecordType::A);
        assert_eq!(
            rdata(&m.answers),
            ["web.default.svc.cluster.local.", "10.96.0.10"]
        );
    }

    #[test]
    fn pod_names_resolve_to_the_address_they_spell() {
        let index = index();
        let m = reply(
            &index,
            "10-244-3-9.anything.pod.cluster.local.",
            RecordType::A,
        );
        assert_eq!(rdata(&m.answers), ["10.244.3.9"]);
        let m = reply(
            &index,
            "10-244-3-9.anything.pod.cluster.local.",
            RecordType::AAAA,
        );
        assert!(m.answers.is_empty());
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    }

    #[test]
    fn ptr_for_service_and_endpoint_ips() {
        let index = index();
        let m = reply(&index, "10.0.96.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(rdata(&m.answers), ["web.default.svc.cluster.local."]);
        assert!(m.metadata.authoritative);
        let m = reply(&index, "5.0.1.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(rdata(&m.answers), ["pg-0.pg.db.svc.cluster.local."]);
        let v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        let m = reply(&index, v6, RecordType::PTR);
        assert_eq!(rdata(&m.answers), ["web.default.svc.cluster.local."]);
        // Unknown addresses and partial names belong to someone else.
        assert!(matches!(
            ask(&index, "1.2.3.4.in-addr.arpa.", RecordType::PTR),
            Decision::Forward
        ));
        assert!(matches!(
            ask(&index, "96.10.in-addr.arpa.", RecordType::PTR),
            Decision::Forward
        ));
    }

    #[test]
    fn nxdomain_and_nodata_carry_the_soa() {
        let index = index();
        let m = reply(&index, "missing.default.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
        let soa = m.authorities[0].data.to_string();
        assert!(
            soa.starts_with("ns.dns.cluster.local. hostmaster.cluster.local. "),
            "{soa}"
        );
        assert!(soa.ends_with(" 7200 1800 86400 5"), "{soa}");
        assert_eq!(m.authorities[0].name.to_ascii(), "cluster.local.");

        let m = reply(&index, "web.default.svc.cluster.local.", RecordType::MX);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);

        let m = reply(&index, "default.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        let m = reply(&index, "cluster.local.", RecordType::SOA);
        assert_eq!(m.answers[0].record_type(), RecordType::SOA);
        let m = reply(&index, "cluster.local.", RecordType::NS);
        assert_eq!(rdata(&m.answers), ["ns.dns.cluster.local."]);
    }

    #[test]
    fn search_path_junk_is_nxdomain_not_forwarded() {
        let index = index();
        for name in [
            "web.default.svc.cluster.local.default.svc.cluster.local.",
            "web.default.svc.cluster.local.svc.cluster.local.",
            "web.default.svc.cluster.local.cluster.local.",
            "google.com.default.svc.cluster.local.",
        ] {
            let m = reply(&index, name, RecordType::A);
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        }
    }

    #[test]
    fn outside_names_are_forwarded() {
        let index = index();
        assert!(matches!(
            ask(&index, "example.com.", RecordType::A),
            Decision::Forward
        ));
        assert!(matches!(
            ask(&index, "local.", RecordType::A),
            Decision::Forward
        ));
    }

    #[test]
    fn before_the_first_list_cluster_names_get_servfail() {
        let index = index();
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.add_query(Query::query(
            Name::from_ascii("web.default.svc.cluster.local.").unwrap(),
            RecordType::A,
        ));
        let Decision::Answer(m) = decide(&index, TTL, false, &request) else {
            panic!()
        };
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    }

    #[test]
    fn odd_requests() {
        let index = index();
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.add_query(Query::query(
            Name::from_ascii("a.cluster.local.").unwrap(),
            RecordType::A,
        ));
        request.add_query(Query::query(
            Name::from_ascii("b.cluster.local.").unwrap(),
            RecordType::A,
        ));
        let Decision::Answer(m) = decide(&index, TTL, true, &request) else {
            panic!()
        };
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.metadata.op_code = OpCode::Status;
        let Decision::Answer(m) = decide(&index, TTL, true, &request) else {
            panic!()
        };
        assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

        let m = reply(&index, "cluster.local.", RecordType::AXFR);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);

        // A label with a dot inside ("svc.cluster" as one label) is not our name.
        let name =
            Name::from_labels(["web".as_bytes(), b"default", b"svc.cluster", b"local"]).unwrap();
        assert_eq!(key(&name), None);
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.add_query(Query::query(name, RecordType::A));
        assert!(matches!(
            decide(&index, TTL, true, &request),
            Decision::Forward
        ));
        let name = Name::from_labels(["we b".as_bytes(), b"cluster", b"local"]).unwrap();
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.add_query(Query::query(name, RecordType::A));
        let Decision::Answer(m) = decide(&index, TTL, true, &request) else {
            panic!()
        };
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn garbage_gets_formerr_or_nothing() {
        assert!(matches!(parse(&[]), Parsed::Ignore));
        assert!(matches!(parse(&[1, 2, 3]), Parsed::Ignore));
        let Parsed::Reply(bytes) = parse(&[0xab, 0xcd, 0x01, 0, 0, 5, 0xff, 0xff, 0, 0, 0, 0, 9])
        else {
            panic!()
        };
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.metadata.id, 0xabcd);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(m.metadata.recursion_desired);
        // A response is never answered (no reflection loops).
        let response = response(
            &Message::new(0, MessageType::Query, OpCode::Query),
            ResponseCode::NoError,
        )
        .to_vec()
        .unwrap();
        assert!(matches!(parse(&response), Parsed::Ignore));
        // A pseudo-random sweep must not panic: random bytes, and real queries (cluster
        // names, SRV, reverse names) with bytes changed, so most get past the header.
        let index = index();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: Vec<Vec<u8>> = [
            ("web.default.svc.cluster.local.", RecordType::A),
            ("_pg._tcp.pg.db.svc.cluster.local.", RecordType::SRV),
            ("alias.default.svc.cluster.local.", RecordType::ANY),
            ("5.0.1.10.in-addr.arpa.", RecordType::PTR),
            (
                "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
                RecordType::PTR,
            ),
            ("10-1-2-3.x.pod.cluster.local.", RecordType::AAAA),
        ]
        .iter()
        .map(|(name, qtype)| {
            let mut m = Message::new(0, MessageType::Query, OpCode::Query);
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), *qtype));
            m.set_edns(Edns::new());
            m.to_vec().unwrap()
        })
        .collect();
        // BARGE_DNS_FUZZ=<n> runs a longer sweep by hand.
        let rounds = std::env::var("BARGE_DNS_FUZZ")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000usize);
        for i in 0..rounds {
            let bytes: Vec<u8> = if i % 4 == 0 {
                (0..i % 300).map(|_| next() as u8).collect()
            } else {
                let mut bytes = seeds[i % seeds.len()].clone();
                for _ in 0..1 + i % 3 {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
                bytes.truncate(bytes.len() - (i % 7).min(bytes.len()));
                bytes
            };
            if let Parsed::Query(m) = parse(&bytes)
                && let Decision::Answer(mut reply) = decide(&index, TTL, true, &m)
            {
                let _ = encode(&mut reply, udp_limit(&m));
            }
        }
        // A reverse name one nibble too long once overflowed a shift.
        let long = format!("0.{}", "0.".repeat(32));
        assert!(matches!(
            ask(&index, &format!("{long}ip6.arpa."), RecordType::PTR),
            Decision::Forward
        ));
    }

    #[test]
    fn big_udp_replies_are_truncated() {
        let zone = zone();
        let mut index = Index::new(zone.clone());
        let eps: Vec<(String, String)> = (0..100)
            .map(|i| (format!("10.2.{}.{}", i / 200, i % 200 + 1), format!("h{i}")))
            .collect();
        let eps: Vec<(&str, &str, Option<bool>)> = eps
            .iter()
            .map(|(ip, h)| (ip.as_str(), h.as_str(), None))
            .collect();
        let big = Arc::new(slice("ns", "big-1", "big", &eps, &[("p", 1, "TCP")]));
        let svc = headless("ns", "big", &[]);
        index.set(&Key::of(&svc), contribution(&zone, &svc, &[big]));

        let mut m = reply(&index, "big.ns.svc.cluster.local.", RecordType::A);
        assert_eq!(m.answers.len(), 100);
        let bytes = encode(&mut m.clone(), 512);
        let small = Message::from_vec(&bytes).unwrap();
        assert!(small.metadata.truncation && small.answers.is_empty());
        let bytes = encode(&mut m, 65535);
        assert_eq!(Message::from_vec(&bytes).unwrap().answers.len(), 100);

        // SRV: dropping the glue is enough when the answers fit.
        let mut m = reply(&index, "_p._tcp.big.ns.svc.cluster.local.", RecordType::SRV);
        assert_eq!(m.additionals.len(), 100);
        let full = m.to_vec().unwrap().len();
        let mut bare = m.clone();
        bare.additionals.clear();
        let answers_only = bare.to_vec().unwrap().len();
        assert!(answers_only < full);
        let bytes = encode(&mut m, answers_only);
        let fitted = Message::from_vec(&bytes).unwrap();
        assert!(!fitted.metadata.truncation);
        assert_eq!((fitted.answers.len(), fitted.additionals.len()), (100, 0));
        assert_eq!(
            fitted.answers[0].data.to_string(),
            "0 1 1 h0.big.ns.svc.cluster.local."
        );
    }

    #[test]
    fn reverse_names_parse_strictly() {
        assert_eq!(
            arpa_ip("4.3.2.1.in-addr.arpa"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(arpa_ip("04.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_ip("256.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_ip("5.4.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_ip("3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_ip("a.b.ip6.arpa"), None);
        let full = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(arpa_ip(full), Some("fd00::1".parse().unwrap()));
        assert_eq!(arpa_ip(&format!("0.{full}")), None);
    }
}
