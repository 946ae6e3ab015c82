//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
//! object's JSON form so that everything after the HTTP layer handles one representation.
//!
//! kubectl's typed-client commands (`create deployment|secret|...`, `autoscale`, `auth can-i`,
//! drain's evictions) send only protobuf and do not fall back to JSON after a 415, so the API
//! server has to read it. Responses can stay JSON.
//!
//! # Wire format
//!
//! The 4 bytes `k8s\0`, then a `runtime.Unknown` {1 typeMeta {1 apiVersion, 2 kind}, 2 raw,
//! 3 contentEncoding, 4 contentType}. `raw` is the object in the proto2 schema of the
//! `generated.proto` files. Like upstream's serializer, contentEncoding and contentType are
//! ignored.
//!
//! # Schema
//!
//! One static table per message: field number, JSON name, shape and type. The tables were
//! extracted mechanically from kubernetes/api and kubernetes/apimachinery v0.32.13 (the server
//! reports v1.32): `generated.proto` for numbers and types, `types.go` for JSON names (which
//! differ from the proto names in a few places, e.g. `uID` is `uid`), pointer-ness and inlined
//! structs (`Volume` inlines `VolumeSource`). They cover every message reachable from the kinds
//! in `schema::KINDS`, status included. Fields the tables do not know (newer than v1.32) are
//! skipped, as a v1.32 API server would drop them. A new kind's tables follow the same rules:
//! `ptr` where the Go field is a pointer, `inline` for an embedded struct without a JSON name.
//!
//! # Zero values
//!
//! gogo-protobuf writes every non-pointer field whether or not it is zero (`generateName: ""`,
//! `hostPort: 0`, an empty `creationTimestamp`), and a pointer field only when it is set. So
//! only pointer fields carry meaning by being present. The rule, from each field's Go type:
//!
//! - a non-pointer field (`opt` in the tables) is dropped when zero: `""`, `0`, `false`, quantity
//!   `"0"`, or an object left empty once its own zero fields are dropped;
//! - a pointer field (`ptr`) is kept whatever its value: `replicas: 0`, `emptyDir: {}`,
//!   `privileged: false`;
//! - lists and maps are dropped when empty (protobuf cannot tell nil from empty); their elements
//!   are always kept, zero or not;
//! - an empty `Time`, `MicroTime`, `RawExtension` or `FieldsV1` is Go's zero value, which Go's
//!   JSON writes as `null`, so it is dropped.
//!
//! The result is what the object would look like as JSON with `omitempty` everywhere except on
//! pointers, which the API server decodes and defaults exactly as it would the protobuf.

use serde_json::{Map, Value};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Nested messages deeper than this are refused. The schema itself nests less than 20 deep;
/// the cap keeps a hostile body from exhausting the stack if a recursive message is ever added.
const MAX_DEPTH: usize = 64;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body is not kubernetes protobuf: it does not start with the k8s\\0 prefix")]
    NotProtobuf,
    /// The envelope names a kind this module has no schema for.
    #[error("no protobuf schema for kind {kind:?} in {api_version:?}")]
    UnsupportedKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The bytes do not follow the protobuf encoding or the schema; the text names the field.
    #[error("malformed protobuf body: {0}")]
    Malformed(String),
}

/// Decodes `k8s\0` + runtime.Unknown{1 typeMeta{1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding,
/// 4 contentType}, then `raw` as the message of that apiVersion/kind, into JSON with
/// "apiVersion" and "kind" set.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtobufError::NotProtobuf)?;
    let envelope = Envelope::parse(rest).map_err(Fault::into_error)?;
    if envelope.kind.is_empty() {
        return Err(ProtobufError::Malformed(
            "typeMeta.kind: missing".to_owned(),
        ));
    }
    decode_object(&envelope.api_version, &envelope.kind, envelope.raw)
}

/// Decodes `raw`, the bare message of an object of the given apiVersion and kind (what the
/// envelope carries in `raw`), into JSON with "apiVersion" and "kind" set.
pub fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, ProtobufError> {
    let message = lookup(api_version, kind).ok_or_else(|| ProtobufError::UnsupportedKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })?;
    let mut object = Map::new();
    decode_into(message, raw, 0, &mut object).map_err(Fault::into_error)?;
    object.insert("apiVersion".to_owned(), Value::from(api_version));
    object.insert("kind".to_owned(), Value::from(kind));
    Ok(Value::Object(object))
}

/// Whether decode knows a kind.
pub fn supports(api_version: &str, kind: &str) -> bool {
    lookup(api_version, kind).is_some()
}

fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    // meta/v1 registers DeleteOptions into every group version, so a typed client encodes it
    // with the apiVersion of the resource it deletes.
    if kind == "DeleteOptions" {
        return Some(&schema::META_DELETE_OPTIONS);
    }
    schema::KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
}

/// A message's fields, in any order; field numbers are unique within a message.
struct Message(&'static [Field]);

struct Field {
    num: u32,
    /// The JSON name; empty for an inlined struct, whose fields land in the parent object.
    name: &'static str,
    shape: Shape,
}

#[derive(Clone, Copy)]
enum Shape {
    /// A non-pointer Go field: dropped when zero.
    Opt(Ty),
    /// A pointer Go field: kept when present, even if zero.
    Ptr(Ty),
    /// A list: repeated on the wire, each element kept.
    Rep(Ty),
    /// A `map<string, Ty>`: entries {1 key, 2 value}.
    Map(Ty),
    /// An embedded Go struct with no JSON name: its fields are the parent's.
    Inline(&'static Message),
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    I32,
    I64,
    /// Go `[]byte`, base64 in JSON.
    Bytes,
    Msg(&'static Message),
    /// intstr.IntOrString {1 type, 2 intVal, 3 strVal}: a JSON number or string.
    IntOrString,
    /// resource.Quantity {1 string}: a JSON string.
    Quantity,
    /// meta/v1 Time {1 seconds, 2 nanos}: RFC 3339 in whole seconds (Go drops the nanos).
    Time,
    /// meta/v1 MicroTime: RFC 3339 with microseconds.
    MicroTime,
    /// runtime.RawExtension or meta/v1 FieldsV1 {1 raw}: `raw` holds JSON.
    Json,
    /// A named `[]string` that protobuf wraps as {1 repeated items} (authorization ExtraValue).
    StrList,
}

impl Ty {
    fn is_varint(self) -> bool {
        matches!(self, Ty::Bool | Ty::I32 | Ty::I64)
    }
}

const fn opt(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        shape: Shape::Opt(ty),
    }
}

const fn ptr(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        shape: Shape::Ptr(ty),
    }
}

const fn rep(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        shape: Shape::Rep(ty),
    }
}

const fn map(num: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        shape: Shape::Map(ty),
    }
}

const fn inline(num: u32, message: &'static Message) -> Field {
    Field {
        num,
        name: "",
        shape: Shape::Inline(message),
    }
}

/// A decoding failure, with the JSON path collected while unwinding.
#[derive(Debug)]
struct Fault {
    /// Innermost first.
    path: Vec<&'static str>,
    reason: String,
}

impl Fault {
    fn new(reason: impl Into<String>) -> Self {
        Fault {
            path: Vec::new(),
            reason: reason.into(),
        }
    }

    fn at(mut self, name: &'static str) -> Self {
        if !name.is_empty() {
            self.path.push(name);
        }
        self
    }

    fn into_error(self) -> ProtobufError {
        if self.path.is_empty() {
            return ProtobufError::Malformed(self.reason);
        }
        let path: Vec<&str> = self.path.into_iter().rev().collect();
        ProtobufError::Malformed(format!("{}: {}", path.join("."), self.reason))
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// The largest field number protobuf allows.
const MAX_FIELD: u64 = (1 << 29) - 1;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next field's number and wire type, or None at the end of the message.
    fn key(&mut self) -> Result<Option<(u32, u8)>, Fault> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let num = key >> 3;
        if num == 0 || num > MAX_FIELD {
            return Err(Fault::new(format!("invalid field number {num}")));
        }
        // Both conversions are lossless: num <= MAX_FIELD and the wire type is 3 bits.
        Ok(Some((num as u32, (key & 7) as u8)))
    }

    fn varint(&mut self) -> Result<u64, Fault> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err(Fault::new("truncated varint"));
            };
            self.buf = rest;
            // Bits past the 64th are dropped, as Go's decoder does.
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Fault::new("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Fault> {
        if len > self.buf.len() {
            return Err(Fault::new(format!(
                "truncated: {len} bytes announced, {} left",
                self.buf.len()
            )));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], Fault> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| Fault::new("length out of range"))?;
        self.take(len)
    }

    fn skip(&mut self, wire: u8) -> Result<(), Fault> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP | END_GROUP => Err(Fault::new("groups are not used by kubernetes")),
            _ => Err(Fault::new(format!("invalid wire type {wire}"))),
        }
    }

    fn varint_field(&mut self, wire: u8) -> Result<u64, Fault> {
        expect_wire(wire, VARINT)?;
        self.varint()
    }

    fn bytes_field(&mut self, wire: u8) -> Result<&'a [u8], Fault> {
        expect_wire(wire, LEN)?;
        self.len_delimited()
    }

    fn string_field(&mut self, wire: u8) -> Result<String, Fault> {
        self.bytes_field(wire).map(lossy)
    }
}

fn expect_wire(wire: u8, want: u8) -> Result<(), Fault> {
    if wire == want {
        Ok(())
    } else {
        Err(Fault::new(format!(
            "wire type {wire} where the schema wants {want}"
        )))
    }
}

/// Go does not check UTF-8 when it decodes a protobuf string, and its JSON encoder replaces
/// invalid bytes with U+FFFD; this does the same in one step.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, Fault> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
        };
        let mut r = Reader::new(bytes);
        while let Some((num, wire)) = r.key()? {
            match num {
                1 => {
                    let type_meta = r.bytes_field(wire).map_err(|f| f.at("typeMeta"))?;
                    let mut t = Reader::new(type_meta);
                    while let Some((num, wire)) = t.key().map_err(|f| f.at("typeMeta"))? {
                        let result = match num {
                            1 => t.string_field(wire).map(|s| envelope.api_version = s),
                            2 => t.string_field(wire).map(|s| envelope.kind = s),
                            _ => t.skip(wire),
                        };
                        result.map_err(|f| f.at("typeMeta"))?;
                    }
                }
                2 => envelope.raw = r.bytes_field(wire).map_err(|f| f.at("raw"))?,
                _ => r.skip(wire)?,
            }
        }
        Ok(envelope)
    }
}

/// Decodes one message into `out`, merging with what is there: protobuf merges a message field
/// that appears twice, and inlined structs share their parent's object.
fn decode_into(
    message: &Message,
    bytes: &[u8],
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), Fault> {
    if depth > MAX_DEPTH {
        return Err(Fault::new(format!(
            "messages nested deeper than {MAX_DEPTH}"
        )));
    }
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match message.0.iter().find(|f| f.num == num) {
            Some(field) => {
                decode_field(field, wire, &mut r, depth, out).map_err(|f| f.at(field.name))?;
            }
            None => r.skip(wire)?,
        }
    }
    for field in message.0 {
        if let Shape::Opt(ty) = field.shape
            && out.get(field.name).is_some_and(|v| is_zero(ty, v))
        {
            out.remove(field.name);
        }
    }
    Ok(())
}

fn decode_field(
    field: &Field,
    wire: u8,
    r: &mut Reader<'_>,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), Fault> {
    let name = field.name;
    match field.shape {
        Shape::Inline(message) => decode_into(message, r.bytes_field(wire)?, depth + 1, out),
        Shape::Opt(Ty::Msg(message)) | Shape::Ptr(Ty::Msg(message)) => {
            let bytes = r.bytes_field(wire)?;
            let mut object = match out.remove(name) {
                Some(Value::Object(object)) => object,
                _ => Map::new(),
            };
            decode_into(message, bytes, depth + 1, &mut object)?;
            out.insert(name.to_owned(), Value::Object(object));
            Ok(())
        }
        Shape::Opt(ty) | Shape::Ptr(ty) => {
            match read_value(ty, wire, r, depth)? {
                Some(value) => out.insert(name.to_owned(), value),
                None => out.remove(name),
            };
            Ok(())
        }
        Shape::Rep(ty) => {
            let mut items = match out.remove(name) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            if ty.is_varint() && wire == LEN {
                // Packed encoding: Go writes proto2 lists unpacked, but decoders must accept both.
                let mut packed = Reader::new(r.len_delimited()?);
                while !packed.is_empty() {
                    items.push(varint_value(ty, packed.varint()?));
                }
            } else {
                items.push(read_value(ty, wire, r, depth)?.unwrap_or(Value::Null));
            }
            out.insert(name.to_owned(), Value::Array(items));
            Ok(())
        }
        Shape::Map(ty) => {
            let (key, value) = map_entry(ty, r.bytes_field(wire)?, depth)?;
            let mut entries = match out.remove(name) {
                Some(Value::Object(entries)) => entries,
                _ => Map::new(),
            };
            entries.insert(key, value);
            out.insert(name.to_owned(), Value::Object(entries));
            Ok(())
        }
    }
}

/// A value of `ty` from the wire; None where Go's JSON would write null.
fn read_value(ty: Ty, wire: u8, r: &mut Reader<'_>, depth: usize) -> Result<Option<Value>, Fault> {
    if ty.is_varint() {
        Ok(Some(varint_value(ty, r.varint_field(wire)?)))
    } else {
        len_value(ty, r.bytes_field(wire)?, depth)
    }
}

fn varint_value(ty: Ty, raw: u64) -> Value {
    match ty {
        Ty::Bool => Value::Bool(raw != 0),
        // Go's decoder keeps the low 32 bits, so a sign-extended negative int32 comes back.
        Ty::I32 => Value::from(raw as u32 as i32),
        _ => Value::from(raw as i64),
    }
}

fn len_value(ty: Ty, bytes: &[u8], depth: usize) -> Result<Option<Value>, Fault> {
    let value = match ty {
        Ty::Str => Value::String(lossy(bytes)),
        Ty::Bytes => Value::String(base64(bytes)),
        Ty::Msg(message) => {
            let mut object = Map::new();
            decode_into(message, bytes, depth + 1, &mut object)?;
            Value::Object(object)
        }
        Ty::IntOrString => int_or_string(bytes)?,
        Ty::Quantity => quantity(bytes)?,
        Ty::Time => return time(bytes, false),
        Ty::MicroTime => return time(bytes, true),
        Ty::Json => return raw_json(bytes),
        Ty::StrList => str_list(bytes)?,
        Ty::Bool | Ty::I32 | Ty::I64 => {
            return Err(Fault::new("a varint field encoded as length-delimited"));
        }
    };
    Ok(Some(value))
}

/// A map entry; a missing key or value is the zero value, as in Go.
fn map_entry(ty: Ty, bytes: &[u8], depth: usize) -> Result<(String, Value), Fault> {
    let mut key = String::new();
    let mut value = None;
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => key = r.string_field(wire)?,
            2 => value = Some(read_value(ty, wire, &mut r, depth)?.unwrap_or(Value::Null)),
            _ => r.skip(wire)?,
        }
    }
    let value = match value {
        Some(value) => value,
        None if ty.is_varint() => varint_value(ty, 0),
        None => len_value(ty, &[], depth)?.unwrap_or(Value::Null),
    };
    Ok((key, value))
}

fn is_zero(ty: Ty, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0) || n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || (matches!(ty, Ty::Quantity) && s == "0"),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

fn int_or_string(bytes: &[u8]) -> Result<Value, Fault> {
    let (mut kind, mut int, mut string) = (0u64, 0u64, String::new());
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => kind = r.varint_field(wire)?,
            2 => int = r.varint_field(wire)?,
            3 => string = r.string_field(wire)?,
            _ => r.skip(wire)?,
        }
    }
    match kind {
        0 => Ok(varint_value(Ty::I32, int)),
        1 => Ok(Value::String(string)),
        _ => Err(Fault::new(format!(
            "IntOrString type {kind} is neither 0 (int) nor 1 (string)"
        ))),
    }
}

/// Go's zero Quantity prints as "0"; an absent string is that zero value.
fn quantity(bytes: &[u8]) -> Result<Value, Fault> {
    let mut string = String::new();
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => string = r.string_field(wire)?,
            _ => r.skip(wire)?,
        }
    }
    if string.is_empty() {
        string.push('0');
    }
    Ok(Value::String(string))
}

fn time(bytes: &[u8], micro: bool) -> Result<Option<Value>, Fault> {
    // Go writes a zero Time as an empty message and reads it back as the zero Time (JSON null).
    if bytes.is_empty() {
        return Ok(None);
    }
    let (mut seconds, mut nanos) = (0i64, 0i64);
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => seconds = r.varint_field(wire)? as i64,
            2 => nanos = i64::from(r.varint_field(wire)? as u32 as i32),
            _ => r.skip(wire)?,
        }
    }
    let micros = if micro {
        // time.Unix(seconds, nanos truncated to µs) carries nanos outside [0, 1e9) into seconds.
        let nanos = nanos - nanos % 1000;
        seconds = seconds
            .checked_add(nanos.div_euclid(1_000_000_000))
            .ok_or_else(|| Fault::new("time out of range"))?;
        Some(nanos.rem_euclid(1_000_000_000) / 1000)
    } else {
        None
    };
    rfc3339(seconds, micros).map(|s| Some(Value::String(s)))
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range RFC 3339 can write, and the one
/// meta/v1 Timestamp documents.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

fn rfc3339(seconds: i64, micros: Option<i64>) -> Result<String, Fault> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(Fault::new(format!(
            "time {seconds}s from the epoch is out of range"
        )));
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let fraction = micros.map(|m| format!(".{m:06}")).unwrap_or_default();
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
    ))
}

/// Year, month and day of a day counted from 1970-01-01, in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`). The caller keeps `days` within years 1..=9999.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RawExtension and FieldsV1 carry JSON text in field 1; Go's JSON copies it through.
fn raw_json(bytes: &[u8]) -> Result<Option<Value>, Fault> {
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => raw = r.bytes_field(wire)?,
            _ => r.skip(wire)?,
        }
    }
    if raw.is_empty() {
        return Ok(None);
    }
    // serde_json caps its own nesting at 128, so this cannot exhaust the stack.
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| Fault::new(format!("raw is not JSON: {e}")))
}

fn str_list(bytes: &[u8]) -> Result<Value, Fault> {
    let mut items = Vec::new();
    let mut r = Reader::new(bytes);
    while let Some((num, wire)) = r.key()? {
        match num {
            1 => items.push(Value::String(r.string_field(wire)?)),
            _ => r.skip(wire)?,
        }
    }
    Ok(Value::Array(items))
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The message tables (see the module docs for where they come from and the zero-value rule).
mod schema {
    use super::Ty::{
        Bool, Bytes, I32, I64, IntOrString, Json, MicroTime, Msg, Quantity, Str, StrList, Time,
    };
    use super::{Message, inline, map, opt, ptr, rep};

    // k8s.io.apimachinery.pkg.apis.meta.v1

    pub(super) static META_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "observedGeneration", I64),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ]);

    pub(super) static META_DELETE_OPTIONS: Message = Message(&[
        ptr(1, "gracePeriodSeconds", I64),
        ptr(2, "preconditions", Msg(&META_PRECONDITIONS)),
        ptr(3, "orphanDependents", Bool),
        ptr(4, "propagationPolicy", Str),
        rep(5, "dryRun", Str),
        ptr(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
    ]);

    pub(super) static META_FIELD_SELECTOR_REQUIREMENT: Message = Message(&[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ]);

    pub(super) static META_LABEL_SELECTOR: Message = Message(&[
        map(1, "matchLabels", Str),
        rep(2, "matchExpressions", Msg(&META_LABEL_SELECTOR_REQUIREMENT)),
    ]);

    pub(super) static META_LABEL_SELECTOR_REQUIREMENT: Message = Message(&[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ]);

    pub(super) static META_MANAGED_FIELDS_ENTRY: Message = Message(&[
        opt(1, "manager", Str),
        opt(2, "operation", Str),
        opt(3, "apiVersion", Str),
        ptr(4, "time", Time),
        opt(6, "fieldsType", Str),
        ptr(7, "fieldsV1", Json),
        opt(8, "subresource", Str),
    ]);

    pub(super) static META_OBJECT_META: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "generateName", Str),
        opt(3, "namespace", Str),
        opt(4, "selfLink", Str),
        opt(5, "uid", Str),
        opt(6, "resourceVersion", Str),
        opt(7, "generation", I64),
        opt(8, "creationTimestamp", Time),
        ptr(9, "deletionTimestamp", Time),
        ptr(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", Str),
        map(12, "annotations", Str),
        rep(13, "ownerReferences", Msg(&META_OWNER_REFERENCE)),
        rep(14, "finalizers", Str),
        rep(17, "managedFields", Msg(&META_MANAGED_FIELDS_ENTRY)),
    ]);

    pub(super) static META_OWNER_REFERENCE: Message = Message(&[
        opt(5, "apiVersion", Str),
        opt(1, "kind", Str),
        opt(3, "name", Str),
        opt(4, "uid", Str),
        ptr(6, "controller", Bool),
        ptr(7, "blockOwnerDeletion", Bool),
    ]);

    pub(super) static META_PRECONDITIONS: Message =
        Message(&[ptr(1, "uid", Str), ptr(2, "resourceVersion", Str)]);

    // k8s.io.api.core.v1

    pub(super) static CORE_AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE: Message = Message(&[
        opt(1, "volumeID", Str),
        opt(2, "fsType", Str),
        opt(3, "partition", I32),
        opt(4, "readOnly", Bool),
    ]);

    pub(super) static CORE_AFFINITY: Message = Message(&[
        ptr(1, "nodeAffinity", Msg(&CORE_NODE_AFFINITY)),
        ptr(2, "podAffinity", Msg(&CORE_POD_AFFINITY)),
        ptr(3, "podAntiAffinity", Msg(&CORE_POD_ANTI_AFFINITY)),
    ]);

    pub(super) static CORE_APP_ARMOR_PROFILE: Message =
        Message(&[opt(1, "type", Str), ptr(2, "localhostProfile", Str)]);

    pub(super) static CORE_AZURE_DISK_VOLUME_SOURCE: Message = Message(&[
        opt(1, "diskName", Str),
        opt(2, "diskURI", Str),
        ptr(3, "cachingMode", Str),
        ptr(4, "fsType", Str),
        ptr(5, "readOnly", Bool),
        ptr(6, "kind", Str),
    ]);

    pub(super) static CORE_AZURE_FILE_VOLUME_SOURCE: Message = Message(&[
        opt(1, "secretName", Str),
        opt(2, "shareName", Str),
        opt(3, "readOnly", Bool),
    ]);

    pub(super) static CORE_CSI_VOLUME_SOURCE: Message = Message(&[
        opt(1, "driver", Str),
        ptr(2, "readOnly", Bool),
        ptr(3, "fsType", Str),
        map(4, "volumeAttributes", Str),
        ptr(5, "nodePublishSecretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
    ]);

    pub(super) static CORE_CAPABILITIES: Message =
        Message(&[rep(1, "add", Str), rep(2, "drop", Str)]);

    pub(super) static CORE_CEPH_FS_VOLUME_SOURCE: Message = Message(&[
        rep(1, "monitors", Str),
        opt(2, "path", Str),
        opt(3, "user", Str),
        opt(4, "secretFile", Str),
        ptr(5, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        opt(6, "readOnly", Bool),
    ]);

    pub(super) static CORE_CINDER_VOLUME_SOURCE: Message = Message(&[
        opt(1, "volumeID", Str),
        opt(2, "fsType", Str),
        opt(3, "readOnly", Bool),
        ptr(4, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
    ]);

    pub(super) static CORE_CLIENT_IP_CONFIG: Message = Message(&[ptr(1, "timeoutSeconds", I32)]);

    pub(super) static CORE_CLUSTER_TRUST_BUNDLE_PROJECTION: Message = Message(&[
        ptr(1, "name", Str),
        ptr(2, "signerName", Str),
        ptr(3, "labelSelector", Msg(&META_LABEL_SELECTOR)),
        ptr(5, "optional", Bool),
        opt(4, "path", Str),
    ]);

    pub(super) static CORE_CONFIG_MAP: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        ptr(4, "immutable", Bool),
        map(2, "data", Str),
        map(3, "binaryData", Bytes),
    ]);

    pub(super) static CORE_CONFIG_MAP_ENV_SOURCE: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        ptr(2, "optional", Bool),
    ]);

    pub(super) static CORE_CONFIG_MAP_KEY_SELECTOR: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        opt(2, "key", Str),
        ptr(3, "optional", Bool),
    ]);

    pub(super) static CORE_CONFIG_MAP_PROJECTION: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&CORE_KEY_TO_PATH)),
        ptr(4, "optional", Bool),
    ]);

    pub(super) static CORE_CONFIG_MAP_VOLUME_SOURCE: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&CORE_KEY_TO_PATH)),
        ptr(3, "defaultMode", I32),
        ptr(4, "optional", Bool),
    ]);

    pub(super) static CORE_CONTAINER: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        opt(5, "workingDir", Str),
        rep(6, "ports", Msg(&CORE_CONTAINER_PORT)),
        rep(19, "envFrom", Msg(&CORE_ENV_FROM_SOURCE)),
        rep(7, "env", Msg(&CORE_ENV_VAR)),
        opt(8, "resources", Msg(&CORE_RESOURCE_REQUIREMENTS)),
        rep(23, "resizePolicy", Msg(&CORE_CONTAINER_RESIZE_POLICY)),
        ptr(24, "restartPolicy", Str),
        rep(9, "volumeMounts", Msg(&CORE_VOLUME_MOUNT)),
        rep(21, "volumeDevices", Msg(&CORE_VOLUME_DEVICE)),
        ptr(10, "livenessProbe", Msg(&CORE_PROBE)),
        ptr(11, "readinessProbe", Msg(&CORE_PROBE)),
        ptr(22, "startupProbe", Msg(&CORE_PROBE)),
        ptr(12, "lifecycle", Msg(&CORE_LIFECYCLE)),
        opt(13, "terminationMessagePath", Str),
        opt(20, "terminationMessagePolicy", Str),
        opt(14, "imagePullPolicy", Str),
        ptr(15, "securityContext", Msg(&CORE_SECURITY_CONTEXT)),
        opt(16, "stdin", Bool),
        opt(17, "stdinOnce", Bool),
        opt(18, "tty", Bool),
    ]);

    pub(super) static CORE_CONTAINER_PORT: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "hostPort", I32),
        opt(3, "containerPort", I32),
        opt(4, "protocol", Str),
        opt(5, "hostIP", Str),
    ]);

    pub(super) static CORE_CONTAINER_RESIZE_POLICY: Message =
        Message(&[opt(1, "resourceName", Str), opt(2, "restartPolicy", Str)]);

    pub(super) static CORE_CONTAINER_STATE: Message = Message(&[
        ptr(1, "waiting", Msg(&CORE_CONTAINER_STATE_WAITING)),
        ptr(2, "running", Msg(&CORE_CONTAINER_STATE_RUNNING)),
        ptr(3, "terminated", Msg(&CORE_CONTAINER_STATE_TERMINATED)),
    ]);

    pub(super) static CORE_CONTAINER_STATE_RUNNING: Message = Message(&[opt(1, "startedAt", Time)]);

    pub(super) static CORE_CONTAINER_STATE_TERMINATED: Message = Message(&[
        opt(1, "exitCode", I32),
        opt(2, "signal", I32),
        opt(3, "reason", Str),
        opt(4, "message", Str),
        opt(5, "startedAt", Time),
        opt(6, "finishedAt", Time),
        opt(7, "containerID", Str),
    ]);

    pub(super) static CORE_CONTAINER_STATE_WAITING: Message =
        Message(&[opt(1, "reason", Str), opt(2, "message", Str)]);

    pub(super) static CORE_CONTAINER_STATUS: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "state", Msg(&CORE_CONTAINER_STATE)),
        opt(3, "lastState", Msg(&CORE_CONTAINER_STATE)),
        opt(4, "ready", Bool),
        opt(5, "restartCount", I32),
        opt(6, "image", Str),
        opt(7, "imageID", Str),
        opt(8, "containerID", Str),
        ptr(9, "started", Bool),
        map(10, "allocatedResources", Quantity),
        ptr(11, "resources", Msg(&CORE_RESOURCE_REQUIREMENTS)),
        rep(12, "volumeMounts", Msg(&CORE_VOLUME_MOUNT_STATUS)),
        ptr(13, "user", Msg(&CORE_CONTAINER_USER)),
        rep(14, "allocatedResourcesStatus", Msg(&CORE_RESOURCE_STATUS)),
    ]);

    pub(super) static CORE_CONTAINER_USER: Message =
        Message(&[ptr(1, "linux", Msg(&CORE_LINUX_CONTAINER_USER))]);

    pub(super) static CORE_DOWNWARD_API_PROJECTION: Message =
        Message(&[rep(1, "items", Msg(&CORE_DOWNWARD_API_VOLUME_FILE))]);

    pub(super) static CORE_DOWNWARD_API_VOLUME_FILE: Message = Message(&[
        opt(1, "path", Str),
        ptr(2, "fieldRef", Msg(&CORE_OBJECT_FIELD_SELECTOR)),
        ptr(3, "resourceFieldRef", Msg(&CORE_RESOURCE_FIELD_SELECTOR)),
        ptr(4, "mode", I32),
    ]);

    pub(super) static CORE_DOWNWARD_API_VOLUME_SOURCE: Message = Message(&[
        rep(1, "items", Msg(&CORE_DOWNWARD_API_VOLUME_FILE)),
        ptr(2, "defaultMode", I32),
    ]);

    pub(super) static CORE_EMPTY_DIR_VOLUME_SOURCE: Message =
        Message(&[opt(1, "medium", Str), ptr(2, "sizeLimit", Quantity)]);

    pub(super) static CORE_ENV_FROM_SOURCE: Message = Message(&[
        opt(1, "prefix", Str),
        ptr(2, "configMapRef", Msg(&CORE_CONFIG_MAP_ENV_SOURCE)),
        ptr(3, "secretRef", Msg(&CORE_SECRET_ENV_SOURCE)),
    ]);

    pub(super) static CORE_ENV_VAR: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "value", Str),
        ptr(3, "valueFrom", Msg(&CORE_ENV_VAR_SOURCE)),
    ]);

    pub(super) static CORE_ENV_VAR_SOURCE: Message = Message(&[
        ptr(1, "fieldRef", Msg(&CORE_OBJECT_FIELD_SELECTOR)),
        ptr(2, "resourceFieldRef", Msg(&CORE_RESOURCE_FIELD_SELECTOR)),
        ptr(3, "configMapKeyRef", Msg(&CORE_CONFIG_MAP_KEY_SELECTOR)),
        ptr(4, "secretKeyRef", Msg(&CORE_SECRET_KEY_SELECTOR)),
    ]);

    pub(super) static CORE_EPHEMERAL_CONTAINER: Message = Message(&[
        inline(1, &CORE_EPHEMERAL_CONTAINER_COMMON),
        opt(2, "targetContainerName", Str),
    ]);

    pub(super) static CORE_EPHEMERAL_CONTAINER_COMMON: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        opt(5, "workingDir", Str),
        rep(6, "ports", Msg(&CORE_CONTAINER_PORT)),
        rep(19, "envFrom", Msg(&CORE_ENV_FROM_SOURCE)),
        rep(7, "env", Msg(&CORE_ENV_VAR)),
        opt(8, "resources", Msg(&CORE_RESOURCE_REQUIREMENTS)),
        rep(23, "resizePolicy", Msg(&CORE_CONTAINER_RESIZE_POLICY)),
        ptr(24, "restartPolicy", Str),
        rep(9, "volumeMounts", Msg(&CORE_VOLUME_MOUNT)),
        rep(21, "volumeDevices", Msg(&CORE_VOLUME_DEVICE)),
        ptr(10, "livenessProbe", Msg(&CORE_PROBE)),
        ptr(11, "readinessProbe", Msg(&CORE_PROBE)),
        ptr(22, "startupProbe", Msg(&CORE_PROBE)),
        ptr(12, "lifecycle", Msg(&CORE_LIFECYCLE)),
        opt(13, "terminationMessagePath", Str),
        opt(20, "terminationMessagePolicy", Str),
        opt(14, "imagePullPolicy", Str),
        ptr(15, "securityContext", Msg(&CORE_SECURITY_CONTEXT)),
        opt(16, "stdin", Bool),
        opt(17, "stdinOnce", Bool),
        opt(18, "tty", Bool),
    ]);

    pub(super) static CORE_EPHEMERAL_VOLUME_SOURCE: Message = Message(&[ptr(
        1,
        "volumeClaimTemplate",
        Msg(&CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    )]);

    pub(super) static CORE_EVENT: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "involvedObject", Msg(&CORE_OBJECT_REFERENCE)),
        opt(3, "reason", Str),
        opt(4, "message", Str),
        opt(5, "source", Msg(&CORE_EVENT_SOURCE)),
        opt(6, "firstTimestamp", Time),
        opt(7, "lastTimestamp", Time),
        opt(8, "count", I32),
        opt(9, "type", Str),
        opt(10, "eventTime", MicroTime),
        ptr(11, "series", Msg(&CORE_EVENT_SERIES)),
        opt(12, "action", Str),
        ptr(13, "related", Msg(&CORE_OBJECT_REFERENCE)),
        opt(14, "reportingComponent", Str),
        opt(15, "reportingInstance", Str),
    ]);

    pub(super) static CORE_EVENT_SERIES: Message =
        Message(&[opt(1, "count", I32), opt(2, "lastObservedTime", MicroTime)]);

    pub(super) static CORE_EVENT_SOURCE: Message =
        Message(&[opt(1, "component", Str), opt(2, "host", Str)]);

    pub(super) static CORE_EXEC_ACTION: Message = Message(&[rep(1, "command", Str)]);

    pub(super) static CORE_FC_VOLUME_SOURCE: Message = Message(&[
        rep(1, "targetWWNs", Str),
        ptr(2, "lun", I32),
        opt(3, "fsType", Str),
        opt(4, "readOnly", Bool),
        rep(5, "wwids", Str),
    ]);

    pub(super) static CORE_FLEX_VOLUME_SOURCE: Message = Message(&[
        opt(1, "driver", Str),
        opt(2, "fsType", Str),
        ptr(3, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        opt(4, "readOnly", Bool),
        map(5, "options", Str),
    ]);

    pub(super) static CORE_FLOCKER_VOLUME_SOURCE: Message =
        Message(&[opt(1, "datasetName", Str), opt(2, "datasetUUID", Str)]);

    pub(super) static CORE_GCE_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message(&[
        opt(1, "pdName", Str),
        opt(2, "fsType", Str),
        opt(3, "partition", I32),
        opt(4, "readOnly", Bool),
    ]);

    pub(super) static CORE_GRPC_ACTION: Message =
        Message(&[opt(1, "port", I32), ptr(2, "service", Str)]);

    pub(super) static CORE_GIT_REPO_VOLUME_SOURCE: Message = Message(&[
        opt(1, "repository", Str),
        opt(2, "revision", Str),
        opt(3, "directory", Str),
    ]);

    pub(super) static CORE_GLUSTERFS_VOLUME_SOURCE: Message = Message(&[
        opt(1, "endpoints", Str),
        opt(2, "path", Str),
        opt(3, "readOnly", Bool),
    ]);

    pub(super) static CORE_HTTP_GET_ACTION: Message = Message(&[
        opt(1, "path", Str),
        opt(2, "port", IntOrString),
        opt(3, "host", Str),
        opt(4, "scheme", Str),
        rep(5, "httpHeaders", Msg(&CORE_HTTP_HEADER)),
    ]);

    pub(super) static CORE_HTTP_HEADER: Message =
        Message(&[opt(1, "name", Str), opt(2, "value", Str)]);

    pub(super) static CORE_HOST_ALIAS: Message =
        Message(&[opt(1, "ip", Str), rep(2, "hostnames", Str)]);

    pub(super) static CORE_HOST_IP: Message = Message(&[opt(1, "ip", Str)]);

    pub(super) static CORE_HOST_PATH_VOLUME_SOURCE: Message =
        Message(&[opt(1, "path", Str), ptr(2, "type", Str)]);

    pub(super) static CORE_ISCSI_VOLUME_SOURCE: Message = Message(&[
        opt(1, "targetPortal", Str),
        opt(2, "iqn", Str),
        opt(3, "lun", I32),
        opt(4, "iscsiInterface", Str),
        opt(5, "fsType", Str),
        opt(6, "readOnly", Bool),
        rep(7, "portals", Str),
        opt(8, "chapAuthDiscovery", Bool),
        opt(11, "chapAuthSession", Bool),
        ptr(10, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        ptr(12, "initiatorName", Str),
    ]);

    pub(super) static CORE_IMAGE_VOLUME_SOURCE: Message =
        Message(&[opt(1, "reference", Str), opt(2, "pullPolicy", Str)]);

    pub(super) static CORE_KEY_TO_PATH: Message =
        Message(&[opt(1, "key", Str), opt(2, "path", Str), ptr(3, "mode", I32)]);

    pub(super) static CORE_LIFECYCLE: Message = Message(&[
        ptr(1, "postStart", Msg(&CORE_LIFECYCLE_HANDLER)),
        ptr(2, "preStop", Msg(&CORE_LIFECYCLE_HANDLER)),
    ]);

    pub(super) static CORE_LIFECYCLE_HANDLER: Message = Message(&[
        ptr(1, "exec", Msg(&CORE_EXEC_ACTION)),
        ptr(2, "httpGet", Msg(&CORE_HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", Msg(&CORE_TCP_SOCKET_ACTION)),
        ptr(4, "sleep", Msg(&CORE_SLEEP_ACTION)),
    ]);

    pub(super) static CORE_LIMIT_RANGE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_LIMIT_RANGE_SPEC)),
    ]);

    pub(super) static CORE_LIMIT_RANGE_ITEM: Message = Message(&[
        opt(1, "type", Str),
        map(2, "max", Quantity),
        map(3, "min", Quantity),
        map(4, "default", Quantity),
        map(5, "defaultRequest", Quantity),
        map(6, "maxLimitRequestRatio", Quantity),
    ]);

    pub(super) static CORE_LIMIT_RANGE_SPEC: Message =
        Message(&[rep(1, "limits", Msg(&CORE_LIMIT_RANGE_ITEM))]);

    pub(super) static CORE_LINUX_CONTAINER_USER: Message = Message(&[
        opt(1, "uid", I64),
        opt(2, "gid", I64),
        rep(3, "supplementalGroups", I64),
    ]);

    pub(super) static CORE_LOAD_BALANCER_INGRESS: Message = Message(&[
        opt(1, "ip", Str),
        opt(2, "hostname", Str),
        ptr(3, "ipMode", Str),
        rep(4, "ports", Msg(&CORE_PORT_STATUS)),
    ]);

    pub(super) static CORE_LOAD_BALANCER_STATUS: Message =
        Message(&[rep(1, "ingress", Msg(&CORE_LOAD_BALANCER_INGRESS))]);

    pub(super) static CORE_LOCAL_OBJECT_REFERENCE: Message = Message(&[opt(1, "name", Str)]);

    pub(super) static CORE_MODIFY_VOLUME_STATUS: Message = Message(&[
        opt(1, "targetVolumeAttributesClassName", Str),
        opt(2, "status", Str),
    ]);

    pub(super) static CORE_NFS_VOLUME_SOURCE: Message = Message(&[
        opt(1, "server", Str),
        opt(2, "path", Str),
        opt(3, "readOnly", Bool),
    ]);

    pub(super) static CORE_NAMESPACE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_NAMESPACE_SPEC)),
        opt(3, "status", Msg(&CORE_NAMESPACE_STATUS)),
    ]);

    pub(super) static CORE_NAMESPACE_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ]);

    pub(super) static CORE_NAMESPACE_SPEC: Message = Message(&[rep(1, "finalizers", Str)]);

    pub(super) static CORE_NAMESPACE_STATUS: Message = Message(&[
        opt(1, "phase", Str),
        rep(2, "conditions", Msg(&CORE_NAMESPACE_CONDITION)),
    ]);

    pub(super) static CORE_NODE_AFFINITY: Message = Message(&[
        ptr(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_NODE_SELECTOR),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_PREFERRED_SCHEDULING_TERM),
        ),
    ]);

    pub(super) static CORE_NODE_SELECTOR: Message =
        Message(&[rep(1, "nodeSelectorTerms", Msg(&CORE_NODE_SELECTOR_TERM))]);

    pub(super) static CORE_NODE_SELECTOR_REQUIREMENT: Message = Message(&[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ]);

    pub(super) static CORE_NODE_SELECTOR_TERM: Message = Message(&[
        rep(1, "matchExpressions", Msg(&CORE_NODE_SELECTOR_REQUIREMENT)),
        rep(2, "matchFields", Msg(&CORE_NODE_SELECTOR_REQUIREMENT)),
    ]);

    pub(super) static CORE_OBJECT_FIELD_SELECTOR: Message =
        Message(&[opt(1, "apiVersion", Str), opt(2, "fieldPath", Str)]);

    pub(super) static CORE_OBJECT_REFERENCE: Message = Message(&[
        opt(1, "kind", Str),
        opt(2, "namespace", Str),
        opt(3, "name", Str),
        opt(4, "uid", Str),
        opt(5, "apiVersion", Str),
        opt(6, "resourceVersion", Str),
        opt(7, "fieldPath", Str),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_PERSISTENT_VOLUME_CLAIM_SPEC)),
        opt(3, "status", Msg(&CORE_PERSISTENT_VOLUME_CLAIM_STATUS)),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_SPEC: Message = Message(&[
        rep(1, "accessModes", Str),
        ptr(4, "selector", Msg(&META_LABEL_SELECTOR)),
        opt(2, "resources", Msg(&CORE_VOLUME_RESOURCE_REQUIREMENTS)),
        opt(3, "volumeName", Str),
        ptr(5, "storageClassName", Str),
        ptr(6, "volumeMode", Str),
        ptr(7, "dataSource", Msg(&CORE_TYPED_LOCAL_OBJECT_REFERENCE)),
        ptr(8, "dataSourceRef", Msg(&CORE_TYPED_OBJECT_REFERENCE)),
        ptr(9, "volumeAttributesClassName", Str),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_STATUS: Message = Message(&[
        opt(1, "phase", Str),
        rep(2, "accessModes", Str),
        map(3, "capacity", Quantity),
        rep(
            4,
            "conditions",
            Msg(&CORE_PERSISTENT_VOLUME_CLAIM_CONDITION),
        ),
        map(5, "allocatedResources", Quantity),
        map(7, "allocatedResourceStatuses", Str),
        ptr(8, "currentVolumeAttributesClassName", Str),
        ptr(9, "modifyVolumeStatus", Msg(&CORE_MODIFY_VOLUME_STATUS)),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_PERSISTENT_VOLUME_CLAIM_SPEC)),
    ]);

    pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message =
        Message(&[opt(1, "claimName", Str), opt(2, "readOnly", Bool)]);

    pub(super) static CORE_PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: Message =
        Message(&[opt(1, "pdID", Str), opt(2, "fsType", Str)]);

    pub(super) static CORE_POD: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_POD_SPEC)),
        opt(3, "status", Msg(&CORE_POD_STATUS)),
    ]);

    pub(super) static CORE_POD_AFFINITY: Message = Message(&[
        rep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_POD_AFFINITY_TERM),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_WEIGHTED_POD_AFFINITY_TERM),
        ),
    ]);

    pub(super) static CORE_POD_AFFINITY_TERM: Message = Message(&[
        ptr(1, "labelSelector", Msg(&META_LABEL_SELECTOR)),
        rep(2, "namespaces", Str),
        opt(3, "topologyKey", Str),
        ptr(4, "namespaceSelector", Msg(&META_LABEL_SELECTOR)),
        rep(5, "matchLabelKeys", Str),
        rep(6, "mismatchLabelKeys", Str),
    ]);

    pub(super) static CORE_POD_ANTI_AFFINITY: Message = Message(&[
        rep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_POD_AFFINITY_TERM),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&CORE_WEIGHTED_POD_AFFINITY_TERM),
        ),
    ]);

    pub(super) static CORE_POD_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ]);

    pub(super) static CORE_POD_DNS_CONFIG: Message = Message(&[
        rep(1, "nameservers", Str),
        rep(2, "searches", Str),
        rep(3, "options", Msg(&CORE_POD_DNS_CONFIG_OPTION)),
    ]);

    pub(super) static CORE_POD_DNS_CONFIG_OPTION: Message =
        Message(&[opt(1, "name", Str), ptr(2, "value", Str)]);

    pub(super) static CORE_POD_IP: Message = Message(&[opt(1, "ip", Str)]);

    pub(super) static CORE_POD_OS: Message = Message(&[opt(1, "name", Str)]);

    pub(super) static CORE_POD_READINESS_GATE: Message = Message(&[opt(1, "conditionType", Str)]);

    pub(super) static CORE_POD_RESOURCE_CLAIM: Message = Message(&[
        opt(1, "name", Str),
        ptr(3, "resourceClaimName", Str),
        ptr(4, "resourceClaimTemplateName", Str),
    ]);

    pub(super) static CORE_POD_RESOURCE_CLAIM_STATUS: Message =
        Message(&[opt(1, "name", Str), ptr(2, "resourceClaimName", Str)]);

    pub(super) static CORE_POD_SCHEDULING_GATE: Message = Message(&[opt(1, "name", Str)]);

    pub(super) static CORE_POD_SECURITY_CONTEXT: Message = Message(&[
        ptr(1, "seLinuxOptions", Msg(&CORE_SE_LINUX_OPTIONS)),
        ptr(
            8,
            "windowsOptions",
            Msg(&CORE_WINDOWS_SECURITY_CONTEXT_OPTIONS),
        ),
        ptr(2, "runAsUser", I64),
        ptr(6, "runAsGroup", I64),
        ptr(3, "runAsNonRoot", Bool),
        rep(4, "supplementalGroups", I64),
        ptr(12, "supplementalGroupsPolicy", Str),
        ptr(5, "fsGroup", I64),
        rep(7, "sysctls", Msg(&CORE_SYSCTL)),
        ptr(9, "fsGroupChangePolicy", Str),
        ptr(10, "seccompProfile", Msg(&CORE_SECCOMP_PROFILE)),
        ptr(11, "appArmorProfile", Msg(&CORE_APP_ARMOR_PROFILE)),
        ptr(13, "seLinuxChangePolicy", Str),
    ]);

    pub(super) static CORE_POD_SPEC: Message = Message(&[
        rep(1, "volumes", Msg(&CORE_VOLUME)),
        rep(20, "initContainers", Msg(&CORE_CONTAINER)),
        rep(2, "containers", Msg(&CORE_CONTAINER)),
        rep(34, "ephemeralContainers", Msg(&CORE_EPHEMERAL_CONTAINER)),
        opt(3, "restartPolicy", Str),
        ptr(4, "terminationGracePeriodSeconds", I64),
        ptr(5, "activeDeadlineSeconds", I64),
        opt(6, "dnsPolicy", Str),
        map(7, "nodeSelector", Str),
        opt(8, "serviceAccountName", Str),
        opt(9, "serviceAccount", Str),
        ptr(21, "automountServiceAccountToken", Bool),
        opt(10, "nodeName", Str),
        opt(11, "hostNetwork", Bool),
        opt(12, "hostPID", Bool),
        opt(13, "hostIPC", Bool),
        ptr(27, "shareProcessNamespace", Bool),
        ptr(14, "securityContext", Msg(&CORE_POD_SECURITY_CONTEXT)),
        rep(15, "imagePullSecrets", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        opt(16, "hostname", Str),
        opt(17, "subdomain", Str),
        ptr(18, "affinity", Msg(&CORE_AFFINITY)),
        opt(19, "schedulerName", Str),
        rep(22, "tolerations", Msg(&CORE_TOLERATION)),
        rep(23, "hostAliases", Msg(&CORE_HOST_ALIAS)),
        opt(24, "priorityClassName", Str),
        ptr(25, "priority", I32),
        ptr(26, "dnsConfig", Msg(&CORE_POD_DNS_CONFIG)),
        rep(28, "readinessGates", Msg(&CORE_POD_READINESS_GATE)),
        ptr(29, "runtimeClassName", Str),
        ptr(30, "enableServiceLinks", Bool),
        ptr(31, "preemptionPolicy", Str),
        map(32, "overhead", Quantity),
        rep(
            33,
            "topologySpreadConstraints",
            Msg(&CORE_TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        ptr(35, "setHostnameAsFQDN", Bool),
        ptr(36, "os", Msg(&CORE_POD_OS)),
        ptr(37, "hostUsers", Bool),
        rep(38, "schedulingGates", Msg(&CORE_POD_SCHEDULING_GATE)),
        rep(39, "resourceClaims", Msg(&CORE_POD_RESOURCE_CLAIM)),
        ptr(40, "resources", Msg(&CORE_RESOURCE_REQUIREMENTS)),
    ]);

    pub(super) static CORE_POD_STATUS: Message = Message(&[
        opt(1, "phase", Str),
        rep(2, "conditions", Msg(&CORE_POD_CONDITION)),
        opt(3, "message", Str),
        opt(4, "reason", Str),
        opt(11, "nominatedNodeName", Str),
        opt(5, "hostIP", Str),
        rep(16, "hostIPs", Msg(&CORE_HOST_IP)),
        opt(6, "podIP", Str),
        rep(12, "podIPs", Msg(&CORE_POD_IP)),
        ptr(7, "startTime", Time),
        rep(10, "initContainerStatuses", Msg(&CORE_CONTAINER_STATUS)),
        rep(8, "containerStatuses", Msg(&CORE_CONTAINER_STATUS)),
        opt(9, "qosClass", Str),
        rep(
            13,
            "ephemeralContainerStatuses",
            Msg(&CORE_CONTAINER_STATUS),
        ),
        opt(14, "resize", Str),
        rep(
            15,
            "resourceClaimStatuses",
            Msg(&CORE_POD_RESOURCE_CLAIM_STATUS),
        ),
    ]);

    pub(super) static CORE_POD_TEMPLATE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
    ]);

    pub(super) static CORE_POD_TEMPLATE_SPEC: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_POD_SPEC)),
    ]);

    pub(super) static CORE_PORT_STATUS: Message = Message(&[
        opt(1, "port", I32),
        opt(2, "protocol", Str),
        ptr(3, "error", Str),
    ]);

    pub(super) static CORE_PORTWORX_VOLUME_SOURCE: Message = Message(&[
        opt(1, "volumeID", Str),
        opt(2, "fsType", Str),
        opt(3, "readOnly", Bool),
    ]);

    pub(super) static CORE_PREFERRED_SCHEDULING_TERM: Message = Message(&[
        opt(1, "weight", I32),
        opt(2, "preference", Msg(&CORE_NODE_SELECTOR_TERM)),
    ]);

    pub(super) static CORE_PROBE: Message = Message(&[
        inline(1, &CORE_PROBE_HANDLER),
        opt(2, "initialDelaySeconds", I32),
        opt(3, "timeoutSeconds", I32),
        opt(4, "periodSeconds", I32),
        opt(5, "successThreshold", I32),
        opt(6, "failureThreshold", I32),
        ptr(7, "terminationGracePeriodSeconds", I64),
    ]);

    pub(super) static CORE_PROBE_HANDLER: Message = Message(&[
        ptr(1, "exec", Msg(&CORE_EXEC_ACTION)),
        ptr(2, "httpGet", Msg(&CORE_HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", Msg(&CORE_TCP_SOCKET_ACTION)),
        ptr(4, "grpc", Msg(&CORE_GRPC_ACTION)),
    ]);

    pub(super) static CORE_PROJECTED_VOLUME_SOURCE: Message = Message(&[
        rep(1, "sources", Msg(&CORE_VOLUME_PROJECTION)),
        ptr(2, "defaultMode", I32),
    ]);

    pub(super) static CORE_QUOBYTE_VOLUME_SOURCE: Message = Message(&[
        opt(1, "registry", Str),
        opt(2, "volume", Str),
        opt(3, "readOnly", Bool),
        opt(4, "user", Str),
        opt(5, "group", Str),
        opt(6, "tenant", Str),
    ]);

    pub(super) static CORE_RBD_VOLUME_SOURCE: Message = Message(&[
        rep(1, "monitors", Str),
        opt(2, "image", Str),
        opt(3, "fsType", Str),
        opt(4, "pool", Str),
        opt(5, "user", Str),
        opt(6, "keyring", Str),
        ptr(7, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        opt(8, "readOnly", Bool),
    ]);

    pub(super) static CORE_REPLICATION_CONTROLLER: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_REPLICATION_CONTROLLER_SPEC)),
        opt(3, "status", Msg(&CORE_REPLICATION_CONTROLLER_STATUS)),
    ]);

    pub(super) static CORE_REPLICATION_CONTROLLER_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static CORE_REPLICATION_CONTROLLER_SPEC: Message = Message(&[
        ptr(1, "replicas", I32),
        opt(4, "minReadySeconds", I32),
        map(2, "selector", Str),
        ptr(3, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
    ]);

    pub(super) static CORE_REPLICATION_CONTROLLER_STATUS: Message = Message(&[
        opt(1, "replicas", I32),
        opt(2, "fullyLabeledReplicas", I32),
        opt(4, "readyReplicas", I32),
        opt(5, "availableReplicas", I32),
        opt(3, "observedGeneration", I64),
        rep(6, "conditions", Msg(&CORE_REPLICATION_CONTROLLER_CONDITION)),
    ]);

    pub(super) static CORE_RESOURCE_CLAIM: Message =
        Message(&[opt(1, "name", Str), opt(2, "request", Str)]);

    pub(super) static CORE_RESOURCE_FIELD_SELECTOR: Message = Message(&[
        opt(1, "containerName", Str),
        opt(2, "resource", Str),
        opt(3, "divisor", Quantity),
    ]);

    pub(super) static CORE_RESOURCE_HEALTH: Message =
        Message(&[opt(1, "resourceID", Str), opt(2, "health", Str)]);

    pub(super) static CORE_RESOURCE_QUOTA: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_RESOURCE_QUOTA_SPEC)),
        opt(3, "status", Msg(&CORE_RESOURCE_QUOTA_STATUS)),
    ]);

    pub(super) static CORE_RESOURCE_QUOTA_SPEC: Message = Message(&[
        map(1, "hard", Quantity),
        rep(2, "scopes", Str),
        ptr(3, "scopeSelector", Msg(&CORE_SCOPE_SELECTOR)),
    ]);

    pub(super) static CORE_RESOURCE_QUOTA_STATUS: Message =
        Message(&[map(1, "hard", Quantity), map(2, "used", Quantity)]);

    pub(super) static CORE_RESOURCE_REQUIREMENTS: Message = Message(&[
        map(1, "limits", Quantity),
        map(2, "requests", Quantity),
        rep(3, "claims", Msg(&CORE_RESOURCE_CLAIM)),
    ]);

    pub(super) static CORE_RESOURCE_STATUS: Message = Message(&[
        opt(1, "name", Str),
        rep(2, "resources", Msg(&CORE_RESOURCE_HEALTH)),
    ]);

    pub(super) static CORE_SE_LINUX_OPTIONS: Message = Message(&[
        opt(1, "user", Str),
        opt(2, "role", Str),
        opt(3, "type", Str),
        opt(4, "level", Str),
    ]);

    pub(super) static CORE_SCALE_IO_VOLUME_SOURCE: Message = Message(&[
        opt(1, "gateway", Str),
        opt(2, "system", Str),
        ptr(3, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        opt(4, "sslEnabled", Bool),
        opt(5, "protectionDomain", Str),
        opt(6, "storagePool", Str),
        opt(7, "storageMode", Str),
        opt(8, "volumeName", Str),
        opt(9, "fsType", Str),
        opt(10, "readOnly", Bool),
    ]);

    pub(super) static CORE_SCOPE_SELECTOR: Message = Message(&[rep(
        1,
        "matchExpressions",
        Msg(&CORE_SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
    )]);

    pub(super) static CORE_SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Message = Message(&[
        opt(1, "scopeName", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ]);

    pub(super) static CORE_SECCOMP_PROFILE: Message =
        Message(&[opt(1, "type", Str), ptr(2, "localhostProfile", Str)]);

    pub(super) static CORE_SECRET: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        ptr(5, "immutable", Bool),
        map(2, "data", Bytes),
        map(4, "stringData", Str),
        opt(3, "type", Str),
    ]);

    pub(super) static CORE_SECRET_ENV_SOURCE: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        ptr(2, "optional", Bool),
    ]);

    pub(super) static CORE_SECRET_KEY_SELECTOR: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        opt(2, "key", Str),
        ptr(3, "optional", Bool),
    ]);

    pub(super) static CORE_SECRET_PROJECTION: Message = Message(&[
        inline(1, &CORE_LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&CORE_KEY_TO_PATH)),
        ptr(4, "optional", Bool),
    ]);

    pub(super) static CORE_SECRET_VOLUME_SOURCE: Message = Message(&[
        opt(1, "secretName", Str),
        rep(2, "items", Msg(&CORE_KEY_TO_PATH)),
        ptr(3, "defaultMode", I32),
        ptr(4, "optional", Bool),
    ]);

    pub(super) static CORE_SECURITY_CONTEXT: Message = Message(&[
        ptr(1, "capabilities", Msg(&CORE_CAPABILITIES)),
        ptr(2, "privileged", Bool),
        ptr(3, "seLinuxOptions", Msg(&CORE_SE_LINUX_OPTIONS)),
        ptr(
            10,
            "windowsOptions",
            Msg(&CORE_WINDOWS_SECURITY_CONTEXT_OPTIONS),
        ),
        ptr(4, "runAsUser", I64),
        ptr(8, "runAsGroup", I64),
        ptr(5, "runAsNonRoot", Bool),
        ptr(6, "readOnlyRootFilesystem", Bool),
        ptr(7, "allowPrivilegeEscalation", Bool),
        ptr(9, "procMount", Str),
        ptr(11, "seccompProfile", Msg(&CORE_SECCOMP_PROFILE)),
        ptr(12, "appArmorProfile", Msg(&CORE_APP_ARMOR_PROFILE)),
    ]);

    pub(super) static CORE_SERVICE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&CORE_SERVICE_SPEC)),
        opt(3, "status", Msg(&CORE_SERVICE_STATUS)),
    ]);

    pub(super) static CORE_SERVICE_ACCOUNT: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        rep(2, "secrets", Msg(&CORE_OBJECT_REFERENCE)),
        rep(3, "imagePullSecrets", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
        ptr(4, "automountServiceAccountToken", Bool),
    ]);

    pub(super) static CORE_SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message(&[
        opt(1, "audience", Str),
        ptr(2, "expirationSeconds", I64),
        opt(3, "path", Str),
    ]);

    pub(super) static CORE_SERVICE_PORT: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "protocol", Str),
        ptr(6, "appProtocol", Str),
        opt(3, "port", I32),
        opt(4, "targetPort", IntOrString),
        opt(5, "nodePort", I32),
    ]);

    pub(super) static CORE_SERVICE_SPEC: Message = Message(&[
        rep(1, "ports", Msg(&CORE_SERVICE_PORT)),
        map(2, "selector", Str),
        opt(3, "clusterIP", Str),
        rep(18, "clusterIPs", Str),
        opt(4, "type", Str),
        rep(5, "externalIPs", Str),
        opt(7, "sessionAffinity", Str),
        opt(8, "loadBalancerIP", Str),
        rep(9, "loadBalancerSourceRanges", Str),
        opt(10, "externalName", Str),
        opt(11, "externalTrafficPolicy", Str),
        opt(12, "healthCheckNodePort", I32),
        opt(13, "publishNotReadyAddresses", Bool),
        ptr(
            14,
            "sessionAffinityConfig",
            Msg(&CORE_SESSION_AFFINITY_CONFIG),
        ),
        rep(19, "ipFamilies", Str),
        ptr(17, "ipFamilyPolicy", Str),
        ptr(20, "allocateLoadBalancerNodePorts", Bool),
        ptr(21, "loadBalancerClass", Str),
        ptr(22, "internalTrafficPolicy", Str),
        ptr(23, "trafficDistribution", Str),
    ]);

    pub(super) static CORE_SERVICE_STATUS: Message = Message(&[
        opt(1, "loadBalancer", Msg(&CORE_LOAD_BALANCER_STATUS)),
        rep(2, "conditions", Msg(&META_CONDITION)),
    ]);

    pub(super) static CORE_SESSION_AFFINITY_CONFIG: Message =
        Message(&[ptr(1, "clientIP", Msg(&CORE_CLIENT_IP_CONFIG))]);

    pub(super) static CORE_SLEEP_ACTION: Message = Message(&[opt(1, "seconds", I64)]);

    pub(super) static CORE_STORAGE_OS_VOLUME_SOURCE: Message = Message(&[
        opt(1, "volumeName", Str),
        opt(2, "volumeNamespace", Str),
        opt(3, "fsType", Str),
        opt(4, "readOnly", Bool),
        ptr(5, "secretRef", Msg(&CORE_LOCAL_OBJECT_REFERENCE)),
    ]);

    pub(super) static CORE_SYSCTL: Message = Message(&[opt(1, "name", Str), opt(2, "value", Str)]);

    pub(super) static CORE_TCP_SOCKET_ACTION: Message =
        Message(&[opt(1, "port", IntOrString), opt(2, "host", Str)]);

    pub(super) static CORE_TOLERATION: Message = Message(&[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        opt(3, "value", Str),
        opt(4, "effect", Str),
        ptr(5, "tolerationSeconds", I64),
    ]);

    pub(super) static CORE_TOPOLOGY_SPREAD_CONSTRAINT: Message = Message(&[
        opt(1, "maxSkew", I32),
        opt(2, "topologyKey", Str),
        opt(3, "whenUnsatisfiable", Str),
        ptr(4, "labelSelector", Msg(&META_LABEL_SELECTOR)),
        ptr(5, "minDomains", I32),
        ptr(6, "nodeAffinityPolicy", Str),
        ptr(7, "nodeTaintsPolicy", Str),
        rep(8, "matchLabelKeys", Str),
    ]);

    pub(super) static CORE_TYPED_LOCAL_OBJECT_REFERENCE: Message = Message(&[
        ptr(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
    ]);

    pub(super) static CORE_TYPED_OBJECT_REFERENCE: Message = Message(&[
        ptr(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
        ptr(4, "namespace", Str),
    ]);

    pub(super) static CORE_VOLUME: Message =
        Message(&[opt(1, "name", Str), inline(2, &CORE_VOLUME_SOURCE)]);

    pub(super) static CORE_VOLUME_DEVICE: Message =
        Message(&[opt(1, "name", Str), opt(2, "devicePath", Str)]);

    pub(super) static CORE_VOLUME_MOUNT: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "readOnly", Bool),
        ptr(7, "recursiveReadOnly", Str),
        opt(3, "mountPath", Str),
        opt(4, "subPath", Str),
        ptr(5, "mountPropagation", Str),
        opt(6, "subPathExpr", Str),
    ]);

    pub(super) static CORE_VOLUME_MOUNT_STATUS: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "mountPath", Str),
        opt(3, "readOnly", Bool),
        ptr(4, "recursiveReadOnly", Str),
    ]);

    pub(super) static CORE_VOLUME_PROJECTION: Message = Message(&[
        ptr(1, "secret", Msg(&CORE_SECRET_PROJECTION)),
        ptr(2, "downwardAPI", Msg(&CORE_DOWNWARD_API_PROJECTION)),
        ptr(3, "configMap", Msg(&CORE_CONFIG_MAP_PROJECTION)),
        ptr(
            4,
            "serviceAccountToken",
            Msg(&CORE_SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        ptr(
            5,
            "clusterTrustBundle",
            Msg(&CORE_CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
    ]);

    pub(super) static CORE_VOLUME_RESOURCE_REQUIREMENTS: Message =
        Message(&[map(1, "limits", Quantity), map(2, "requests", Quantity)]);

    pub(super) static CORE_VOLUME_SOURCE: Message = Message(&[
        ptr(1, "hostPath", Msg(&CORE_HOST_PATH_VOLUME_SOURCE)),
        ptr(2, "emptyDir", Msg(&CORE_EMPTY_DIR_VOLUME_SOURCE)),
        ptr(
            3,
            "gcePersistentDisk",
            Msg(&CORE_GCE_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        ptr(
            4,
            "awsElasticBlockStore",
            Msg(&CORE_AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        ),
        ptr(5, "gitRepo", Msg(&CORE_GIT_REPO_VOLUME_SOURCE)),
        ptr(6, "secret", Msg(&CORE_SECRET_VOLUME_SOURCE)),
        ptr(7, "nfs", Msg(&CORE_NFS_VOLUME_SOURCE)),
        ptr(8, "iscsi", Msg(&CORE_ISCSI_VOLUME_SOURCE)),
        ptr(9, "glusterfs", Msg(&CORE_GLUSTERFS_VOLUME_SOURCE)),
        ptr(
            10,
            "persistentVolumeClaim",
            Msg(&CORE_PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
        ),
        ptr(11, "rbd", Msg(&CORE_RBD_VOLUME_SOURCE)),
        ptr(12, "flexVolume", Msg(&CORE_FLEX_VOLUME_SOURCE)),
        ptr(13, "cinder", Msg(&CORE_CINDER_VOLUME_SOURCE)),
        ptr(14, "cephfs", Msg(&CORE_CEPH_FS_VOLUME_SOURCE)),
        ptr(15, "flocker", Msg(&CORE_FLOCKER_VOLUME_SOURCE)),
        ptr(16, "downwardAPI", Msg(&CORE_DOWNWARD_API_VOLUME_SOURCE)),
        ptr(17, "fc", Msg(&CORE_FC_VOLUME_SOURCE)),
        ptr(18, "azureFile", Msg(&CORE_AZURE_FILE_VOLUME_SOURCE)),
        ptr(19, "configMap", Msg(&CORE_CONFIG_MAP_VOLUME_SOURCE)),
        ptr(
            20,
            "vsphereVolume",
            Msg(&CORE_VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        ),
        ptr(21, "quobyte", Msg(&CORE_QUOBYTE_VOLUME_SOURCE)),
        ptr(22, "azureDisk", Msg(&CORE_AZURE_DISK_VOLUME_SOURCE)),
        ptr(
            23,
            "photonPersistentDisk",
            Msg(&CORE_PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        ptr(26, "projected", Msg(&CORE_PROJECTED_VOLUME_SOURCE)),
        ptr(24, "portworxVolume", Msg(&CORE_PORTWORX_VOLUME_SOURCE)),
        ptr(25, "scaleIO", Msg(&CORE_SCALE_IO_VOLUME_SOURCE)),
        ptr(27, "storageos", Msg(&CORE_STORAGE_OS_VOLUME_SOURCE)),
        ptr(28, "csi", Msg(&CORE_CSI_VOLUME_SOURCE)),
        ptr(29, "ephemeral", Msg(&CORE_EPHEMERAL_VOLUME_SOURCE)),
        ptr(30, "image", Msg(&CORE_IMAGE_VOLUME_SOURCE)),
    ]);

    pub(super) static CORE_VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: Message = Message(&[
        opt(1, "volumePath", Str),
        opt(2, "fsType", Str),
        opt(3, "storagePolicyName", Str),
        opt(4, "storagePolicyID", Str),
    ]);

    pub(super) static CORE_WEIGHTED_POD_AFFINITY_TERM: Message = Message(&[
        opt(1, "weight", I32),
        opt(2, "podAffinityTerm", Msg(&CORE_POD_AFFINITY_TERM)),
    ]);

    pub(super) static CORE_WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message(&[
        ptr(1, "gmsaCredentialSpecName", Str),
        ptr(2, "gmsaCredentialSpec", Str),
        ptr(3, "runAsUserName", Str),
        ptr(4, "hostProcess", Bool),
    ]);

    // k8s.io.api.apps.v1

    pub(super) static APPS_DAEMON_SET: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&APPS_DAEMON_SET_SPEC)),
        opt(3, "status", Msg(&APPS_DAEMON_SET_STATUS)),
    ]);

    pub(super) static APPS_DAEMON_SET_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static APPS_DAEMON_SET_SPEC: Message = Message(&[
        ptr(1, "selector", Msg(&META_LABEL_SELECTOR)),
        opt(2, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
        opt(3, "updateStrategy", Msg(&APPS_DAEMON_SET_UPDATE_STRATEGY)),
        opt(4, "minReadySeconds", I32),
        ptr(6, "revisionHistoryLimit", I32),
    ]);

    pub(super) static APPS_DAEMON_SET_STATUS: Message = Message(&[
        opt(1, "currentNumberScheduled", I32),
        opt(2, "numberMisscheduled", I32),
        opt(3, "desiredNumberScheduled", I32),
        opt(4, "numberReady", I32),
        opt(5, "observedGeneration", I64),
        opt(6, "updatedNumberScheduled", I32),
        opt(7, "numberAvailable", I32),
        opt(8, "numberUnavailable", I32),
        ptr(9, "collisionCount", I32),
        rep(10, "conditions", Msg(&APPS_DAEMON_SET_CONDITION)),
    ]);

    pub(super) static APPS_DAEMON_SET_UPDATE_STRATEGY: Message = Message(&[
        opt(1, "type", Str),
        ptr(2, "rollingUpdate", Msg(&APPS_ROLLING_UPDATE_DAEMON_SET)),
    ]);

    pub(super) static APPS_DEPLOYMENT: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&APPS_DEPLOYMENT_SPEC)),
        opt(3, "status", Msg(&APPS_DEPLOYMENT_STATUS)),
    ]);

    pub(super) static APPS_DEPLOYMENT_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(6, "lastUpdateTime", Time),
        opt(7, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static APPS_DEPLOYMENT_SPEC: Message = Message(&[
        ptr(1, "replicas", I32),
        ptr(2, "selector", Msg(&META_LABEL_SELECTOR)),
        opt(3, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
        opt(4, "strategy", Msg(&APPS_DEPLOYMENT_STRATEGY)),
        opt(5, "minReadySeconds", I32),
        ptr(6, "revisionHistoryLimit", I32),
        opt(7, "paused", Bool),
        ptr(9, "progressDeadlineSeconds", I32),
    ]);

    pub(super) static APPS_DEPLOYMENT_STATUS: Message = Message(&[
        opt(1, "observedGeneration", I64),
        opt(2, "replicas", I32),
        opt(3, "updatedReplicas", I32),
        opt(7, "readyReplicas", I32),
        opt(4, "availableReplicas", I32),
        opt(5, "unavailableReplicas", I32),
        rep(6, "conditions", Msg(&APPS_DEPLOYMENT_CONDITION)),
        ptr(8, "collisionCount", I32),
    ]);

    pub(super) static APPS_DEPLOYMENT_STRATEGY: Message = Message(&[
        opt(1, "type", Str),
        ptr(2, "rollingUpdate", Msg(&APPS_ROLLING_UPDATE_DEPLOYMENT)),
    ]);

    pub(super) static APPS_REPLICA_SET: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&APPS_REPLICA_SET_SPEC)),
        opt(3, "status", Msg(&APPS_REPLICA_SET_STATUS)),
    ]);

    pub(super) static APPS_REPLICA_SET_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static APPS_REPLICA_SET_SPEC: Message = Message(&[
        ptr(1, "replicas", I32),
        opt(4, "minReadySeconds", I32),
        ptr(2, "selector", Msg(&META_LABEL_SELECTOR)),
        opt(3, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
    ]);

    pub(super) static APPS_REPLICA_SET_STATUS: Message = Message(&[
        opt(1, "replicas", I32),
        opt(2, "fullyLabeledReplicas", I32),
        opt(4, "readyReplicas", I32),
        opt(5, "availableReplicas", I32),
        opt(3, "observedGeneration", I64),
        rep(6, "conditions", Msg(&APPS_REPLICA_SET_CONDITION)),
    ]);

    pub(super) static APPS_ROLLING_UPDATE_DAEMON_SET: Message = Message(&[
        ptr(1, "maxUnavailable", IntOrString),
        ptr(2, "maxSurge", IntOrString),
    ]);

    pub(super) static APPS_ROLLING_UPDATE_DEPLOYMENT: Message = Message(&[
        ptr(1, "maxUnavailable", IntOrString),
        ptr(2, "maxSurge", IntOrString),
    ]);

    pub(super) static APPS_ROLLING_UPDATE_STATEFUL_SET_STRATEGY: Message = Message(&[
        ptr(1, "partition", I32),
        ptr(2, "maxUnavailable", IntOrString),
    ]);

    pub(super) static APPS_STATEFUL_SET: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&APPS_STATEFUL_SET_SPEC)),
        opt(3, "status", Msg(&APPS_STATEFUL_SET_STATUS)),
    ]);

    pub(super) static APPS_STATEFUL_SET_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static APPS_STATEFUL_SET_ORDINALS: Message = Message(&[opt(1, "start", I32)]);

    pub(super) static APPS_STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY: Message =
        Message(&[opt(1, "whenDeleted", Str), opt(2, "whenScaled", Str)]);

    pub(super) static APPS_STATEFUL_SET_SPEC: Message = Message(&[
        ptr(1, "replicas", I32),
        ptr(2, "selector", Msg(&META_LABEL_SELECTOR)),
        opt(3, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
        rep(
            4,
            "volumeClaimTemplates",
            Msg(&CORE_PERSISTENT_VOLUME_CLAIM),
        ),
        opt(5, "serviceName", Str),
        opt(6, "podManagementPolicy", Str),
        opt(7, "updateStrategy", Msg(&APPS_STATEFUL_SET_UPDATE_STRATEGY)),
        ptr(8, "revisionHistoryLimit", I32),
        opt(9, "minReadySeconds", I32),
        ptr(
            10,
            "persistentVolumeClaimRetentionPolicy",
            Msg(&APPS_STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY),
        ),
        ptr(11, "ordinals", Msg(&APPS_STATEFUL_SET_ORDINALS)),
    ]);

    pub(super) static APPS_STATEFUL_SET_STATUS: Message = Message(&[
        opt(1, "observedGeneration", I64),
        opt(2, "replicas", I32),
        opt(3, "readyReplicas", I32),
        opt(4, "currentReplicas", I32),
        opt(5, "updatedReplicas", I32),
        opt(6, "currentRevision", Str),
        opt(7, "updateRevision", Str),
        ptr(9, "collisionCount", I32),
        rep(10, "conditions", Msg(&APPS_STATEFUL_SET_CONDITION)),
        opt(11, "availableReplicas", I32),
    ]);

    pub(super) static APPS_STATEFUL_SET_UPDATE_STRATEGY: Message = Message(&[
        opt(1, "type", Str),
        ptr(
            2,
            "rollingUpdate",
            Msg(&APPS_ROLLING_UPDATE_STATEFUL_SET_STRATEGY),
        ),
    ]);

    // k8s.io.api.batch.v1

    pub(super) static BATCH_CRON_JOB: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&BATCH_CRON_JOB_SPEC)),
        opt(3, "status", Msg(&BATCH_CRON_JOB_STATUS)),
    ]);

    pub(super) static BATCH_CRON_JOB_SPEC: Message = Message(&[
        opt(1, "schedule", Str),
        ptr(8, "timeZone", Str),
        ptr(2, "startingDeadlineSeconds", I64),
        opt(3, "concurrencyPolicy", Str),
        ptr(4, "suspend", Bool),
        opt(5, "jobTemplate", Msg(&BATCH_JOB_TEMPLATE_SPEC)),
        ptr(6, "successfulJobsHistoryLimit", I32),
        ptr(7, "failedJobsHistoryLimit", I32),
    ]);

    pub(super) static BATCH_CRON_JOB_STATUS: Message = Message(&[
        rep(1, "active", Msg(&CORE_OBJECT_REFERENCE)),
        ptr(4, "lastScheduleTime", Time),
        ptr(5, "lastSuccessfulTime", Time),
    ]);

    pub(super) static BATCH_JOB: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&BATCH_JOB_SPEC)),
        opt(3, "status", Msg(&BATCH_JOB_STATUS)),
    ]);

    pub(super) static BATCH_JOB_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ]);

    pub(super) static BATCH_JOB_SPEC: Message = Message(&[
        ptr(1, "parallelism", I32),
        ptr(2, "completions", I32),
        ptr(3, "activeDeadlineSeconds", I64),
        ptr(11, "podFailurePolicy", Msg(&BATCH_POD_FAILURE_POLICY)),
        ptr(16, "successPolicy", Msg(&BATCH_SUCCESS_POLICY)),
        ptr(7, "backoffLimit", I32),
        ptr(12, "backoffLimitPerIndex", I32),
        ptr(13, "maxFailedIndexes", I32),
        ptr(4, "selector", Msg(&META_LABEL_SELECTOR)),
        ptr(5, "manualSelector", Bool),
        opt(6, "template", Msg(&CORE_POD_TEMPLATE_SPEC)),
        ptr(8, "ttlSecondsAfterFinished", I32),
        ptr(9, "completionMode", Str),
        ptr(10, "suspend", Bool),
        ptr(14, "podReplacementPolicy", Str),
        ptr(15, "managedBy", Str),
    ]);

    pub(super) static BATCH_JOB_STATUS: Message = Message(&[
        rep(1, "conditions", Msg(&BATCH_JOB_CONDITION)),
        ptr(2, "startTime", Time),
        ptr(3, "completionTime", Time),
        opt(4, "active", I32),
        opt(5, "succeeded", I32),
        opt(6, "failed", I32),
        ptr(11, "terminating", I32),
        opt(7, "completedIndexes", Str),
        ptr(10, "failedIndexes", Str),
        ptr(
            8,
            "uncountedTerminatedPods",
            Msg(&BATCH_UNCOUNTED_TERMINATED_PODS),
        ),
        ptr(9, "ready", I32),
    ]);

    pub(super) static BATCH_JOB_TEMPLATE_SPEC: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&BATCH_JOB_SPEC)),
    ]);

    pub(super) static BATCH_POD_FAILURE_POLICY: Message =
        Message(&[rep(1, "rules", Msg(&BATCH_POD_FAILURE_POLICY_RULE))]);

    pub(super) static BATCH_POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Message = Message(&[
        ptr(1, "containerName", Str),
        opt(2, "operator", Str),
        rep(3, "values", I32),
    ]);

    pub(super) static BATCH_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Message =
        Message(&[opt(1, "type", Str), opt(2, "status", Str)]);

    pub(super) static BATCH_POD_FAILURE_POLICY_RULE: Message = Message(&[
        opt(1, "action", Str),
        ptr(
            2,
            "onExitCodes",
            Msg(&BATCH_POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
        ),
        rep(
            3,
            "onPodConditions",
            Msg(&BATCH_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN),
        ),
    ]);

    pub(super) static BATCH_SUCCESS_POLICY: Message =
        Message(&[rep(1, "rules", Msg(&BATCH_SUCCESS_POLICY_RULE))]);

    pub(super) static BATCH_SUCCESS_POLICY_RULE: Message = Message(&[
        ptr(1, "succeededIndexes", Str),
        ptr(2, "succeededCount", I32),
    ]);

    pub(super) static BATCH_UNCOUNTED_TERMINATED_PODS: Message =
        Message(&[rep(1, "succeeded", Str), rep(2, "failed", Str)]);

    // k8s.io.api.autoscaling.v1

    pub(super) static AS1_CROSS_VERSION_OBJECT_REFERENCE: Message = Message(&[
        opt(1, "kind", Str),
        opt(2, "name", Str),
        opt(3, "apiVersion", Str),
    ]);

    pub(super) static AS1_HORIZONTAL_POD_AUTOSCALER: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AS1_HORIZONTAL_POD_AUTOSCALER_SPEC)),
        opt(3, "status", Msg(&AS1_HORIZONTAL_POD_AUTOSCALER_STATUS)),
    ]);

    pub(super) static AS1_HORIZONTAL_POD_AUTOSCALER_SPEC: Message = Message(&[
        opt(
            1,
            "scaleTargetRef",
            Msg(&AS1_CROSS_VERSION_OBJECT_REFERENCE),
        ),
        ptr(2, "minReplicas", I32),
        opt(3, "maxReplicas", I32),
        ptr(4, "targetCPUUtilizationPercentage", I32),
    ]);

    pub(super) static AS1_HORIZONTAL_POD_AUTOSCALER_STATUS: Message = Message(&[
        ptr(1, "observedGeneration", I64),
        ptr(2, "lastScaleTime", Time),
        opt(3, "currentReplicas", I32),
        opt(4, "desiredReplicas", I32),
        ptr(5, "currentCPUUtilizationPercentage", I32),
    ]);

    pub(super) static AS1_SCALE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AS1_SCALE_SPEC)),
        opt(3, "status", Msg(&AS1_SCALE_STATUS)),
    ]);

    pub(super) static AS1_SCALE_SPEC: Message = Message(&[opt(1, "replicas", I32)]);

    pub(super) static AS1_SCALE_STATUS: Message =
        Message(&[opt(1, "replicas", I32), opt(2, "selector", Str)]);

    // k8s.io.api.autoscaling.v2

    pub(super) static AS2_CONTAINER_RESOURCE_METRIC_SOURCE: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "target", Msg(&AS2_METRIC_TARGET)),
        opt(3, "container", Str),
    ]);

    pub(super) static AS2_CONTAINER_RESOURCE_METRIC_STATUS: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "current", Msg(&AS2_METRIC_VALUE_STATUS)),
        opt(3, "container", Str),
    ]);

    pub(super) static AS2_CROSS_VERSION_OBJECT_REFERENCE: Message = Message(&[
        opt(1, "kind", Str),
        opt(2, "name", Str),
        opt(3, "apiVersion", Str),
    ]);

    pub(super) static AS2_EXTERNAL_METRIC_SOURCE: Message = Message(&[
        opt(1, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
        opt(2, "target", Msg(&AS2_METRIC_TARGET)),
    ]);

    pub(super) static AS2_EXTERNAL_METRIC_STATUS: Message = Message(&[
        opt(1, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&AS2_METRIC_VALUE_STATUS)),
    ]);

    pub(super) static AS2_HPA_SCALING_POLICY: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "value", I32),
        opt(3, "periodSeconds", I32),
    ]);

    pub(super) static AS2_HPA_SCALING_RULES: Message = Message(&[
        ptr(3, "stabilizationWindowSeconds", I32),
        ptr(1, "selectPolicy", Str),
        rep(2, "policies", Msg(&AS2_HPA_SCALING_POLICY)),
    ]);

    pub(super) static AS2_HORIZONTAL_POD_AUTOSCALER: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AS2_HORIZONTAL_POD_AUTOSCALER_SPEC)),
        opt(3, "status", Msg(&AS2_HORIZONTAL_POD_AUTOSCALER_STATUS)),
    ]);

    pub(super) static AS2_HORIZONTAL_POD_AUTOSCALER_BEHAVIOR: Message = Message(&[
        ptr(1, "scaleUp", Msg(&AS2_HPA_SCALING_RULES)),
        ptr(2, "scaleDown", Msg(&AS2_HPA_SCALING_RULES)),
    ]);

    pub(super) static AS2_HORIZONTAL_POD_AUTOSCALER_CONDITION: Message = Message(&[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        opt(4, "reason", Str),
        opt(5, "message", Str),
    ]);

    pub(super) static AS2_HORIZONTAL_POD_AUTOSCALER_SPEC: Message = Message(&[
        opt(
            1,
            "scaleTargetRef",
            Msg(&AS2_CROSS_VERSION_OBJECT_REFERENCE),
        ),
        ptr(2, "minReplicas", I32),
        opt(3, "maxReplicas", I32),
        rep(4, "metrics", Msg(&AS2_METRIC_SPEC)),
        ptr(5, "behavior", Msg(&AS2_HORIZONTAL_POD_AUTOSCALER_BEHAVIOR)),
    ]);

    pub(super) static AS2_HORIZONTAL_POD_AUTOSCALER_STATUS: Message = Message(&[
        ptr(1, "observedGeneration", I64),
        ptr(2, "lastScaleTime", Time),
        opt(3, "currentReplicas", I32),
        opt(4, "desiredReplicas", I32),
        rep(5, "currentMetrics", Msg(&AS2_METRIC_STATUS)),
        rep(
            6,
            "conditions",
            Msg(&AS2_HORIZONTAL_POD_AUTOSCALER_CONDITION),
        ),
    ]);

    pub(super) static AS2_METRIC_IDENTIFIER: Message = Message(&[
        opt(1, "name", Str),
        ptr(2, "selector", Msg(&META_LABEL_SELECTOR)),
    ]);

    pub(super) static AS2_METRIC_SPEC: Message = Message(&[
        opt(1, "type", Str),
        ptr(2, "object", Msg(&AS2_OBJECT_METRIC_SOURCE)),
        ptr(3, "pods", Msg(&AS2_PODS_METRIC_SOURCE)),
        ptr(4, "resource", Msg(&AS2_RESOURCE_METRIC_SOURCE)),
        ptr(
            7,
            "containerResource",
            Msg(&AS2_CONTAINER_RESOURCE_METRIC_SOURCE),
        ),
        ptr(5, "external", Msg(&AS2_EXTERNAL_METRIC_SOURCE)),
    ]);

    pub(super) static AS2_METRIC_STATUS: Message = Message(&[
        opt(1, "type", Str),
        ptr(2, "object", Msg(&AS2_OBJECT_METRIC_STATUS)),
        ptr(3, "pods", Msg(&AS2_PODS_METRIC_STATUS)),
        ptr(4, "resource", Msg(&AS2_RESOURCE_METRIC_STATUS)),
        ptr(
            7,
            "containerResource",
            Msg(&AS2_CONTAINER_RESOURCE_METRIC_STATUS),
        ),
        ptr(5, "external", Msg(&AS2_EXTERNAL_METRIC_STATUS)),
    ]);

    pub(super) static AS2_METRIC_TARGET: Message = Message(&[
        opt(1, "type", Str),
        ptr(2, "value", Quantity),
        ptr(3, "averageValue", Quantity),
        ptr(4, "averageUtilization", I32),
    ]);

    pub(super) static AS2_METRIC_VALUE_STATUS: Message = Message(&[
        ptr(1, "value", Quantity),
        ptr(2, "averageValue", Quantity),
        ptr(3, "averageUtilization", I32),
    ]);

    pub(super) static AS2_OBJECT_METRIC_SOURCE: Message = Message(&[
        opt(
            1,
            "describedObject",
            Msg(&AS2_CROSS_VERSION_OBJECT_REFERENCE),
        ),
        opt(2, "target", Msg(&AS2_METRIC_TARGET)),
        opt(3, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
    ]);

    pub(super) static AS2_OBJECT_METRIC_STATUS: Message = Message(&[
        opt(1, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&AS2_METRIC_VALUE_STATUS)),
        opt(
            3,
            "describedObject",
            Msg(&AS2_CROSS_VERSION_OBJECT_REFERENCE),
        ),
    ]);

    pub(super) static AS2_PODS_METRIC_SOURCE: Message = Message(&[
        opt(1, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
        opt(2, "target", Msg(&AS2_METRIC_TARGET)),
    ]);

    pub(super) static AS2_PODS_METRIC_STATUS: Message = Message(&[
        opt(1, "metric", Msg(&AS2_METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&AS2_METRIC_VALUE_STATUS)),
    ]);

    pub(super) static AS2_RESOURCE_METRIC_SOURCE: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "target", Msg(&AS2_METRIC_TARGET)),
    ]);

    pub(super) static AS2_RESOURCE_METRIC_STATUS: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "current", Msg(&AS2_METRIC_VALUE_STATUS)),
    ]);

    // k8s.io.api.authorization.v1

    pub(super) static AUTHZ_FIELD_SELECTOR_ATTRIBUTES: Message = Message(&[
        opt(1, "rawSelector", Str),
        rep(2, "requirements", Msg(&META_FIELD_SELECTOR_REQUIREMENT)),
    ]);

    pub(super) static AUTHZ_LABEL_SELECTOR_ATTRIBUTES: Message = Message(&[
        opt(1, "rawSelector", Str),
        rep(2, "requirements", Msg(&META_LABEL_SELECTOR_REQUIREMENT)),
    ]);

    pub(super) static AUTHZ_LOCAL_SUBJECT_ACCESS_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHZ_SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", Msg(&AUTHZ_SUBJECT_ACCESS_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHZ_NON_RESOURCE_ATTRIBUTES: Message =
        Message(&[opt(1, "path", Str), opt(2, "verb", Str)]);

    pub(super) static AUTHZ_NON_RESOURCE_RULE: Message =
        Message(&[rep(1, "verbs", Str), rep(2, "nonResourceURLs", Str)]);

    pub(super) static AUTHZ_RESOURCE_ATTRIBUTES: Message = Message(&[
        opt(1, "namespace", Str),
        opt(2, "verb", Str),
        opt(3, "group", Str),
        opt(4, "version", Str),
        opt(5, "resource", Str),
        opt(6, "subresource", Str),
        opt(7, "name", Str),
        ptr(8, "fieldSelector", Msg(&AUTHZ_FIELD_SELECTOR_ATTRIBUTES)),
        ptr(9, "labelSelector", Msg(&AUTHZ_LABEL_SELECTOR_ATTRIBUTES)),
    ]);

    pub(super) static AUTHZ_RESOURCE_RULE: Message = Message(&[
        rep(1, "verbs", Str),
        rep(2, "apiGroups", Str),
        rep(3, "resources", Str),
        rep(4, "resourceNames", Str),
    ]);

    pub(super) static AUTHZ_SELF_SUBJECT_ACCESS_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHZ_SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", Msg(&AUTHZ_SUBJECT_ACCESS_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHZ_SELF_SUBJECT_ACCESS_REVIEW_SPEC: Message = Message(&[
        ptr(1, "resourceAttributes", Msg(&AUTHZ_RESOURCE_ATTRIBUTES)),
        ptr(
            2,
            "nonResourceAttributes",
            Msg(&AUTHZ_NON_RESOURCE_ATTRIBUTES),
        ),
    ]);

    pub(super) static AUTHZ_SELF_SUBJECT_RULES_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHZ_SELF_SUBJECT_RULES_REVIEW_SPEC)),
        opt(3, "status", Msg(&AUTHZ_SUBJECT_RULES_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHZ_SELF_SUBJECT_RULES_REVIEW_SPEC: Message =
        Message(&[opt(1, "namespace", Str)]);

    pub(super) static AUTHZ_SUBJECT_ACCESS_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHZ_SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", Msg(&AUTHZ_SUBJECT_ACCESS_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHZ_SUBJECT_ACCESS_REVIEW_SPEC: Message = Message(&[
        ptr(1, "resourceAttributes", Msg(&AUTHZ_RESOURCE_ATTRIBUTES)),
        ptr(
            2,
            "nonResourceAttributes",
            Msg(&AUTHZ_NON_RESOURCE_ATTRIBUTES),
        ),
        opt(3, "user", Str),
        rep(4, "groups", Str),
        map(5, "extra", StrList),
        opt(6, "uid", Str),
    ]);

    pub(super) static AUTHZ_SUBJECT_ACCESS_REVIEW_STATUS: Message = Message(&[
        opt(1, "allowed", Bool),
        opt(4, "denied", Bool),
        opt(2, "reason", Str),
        opt(3, "evaluationError", Str),
    ]);

    pub(super) static AUTHZ_SUBJECT_RULES_REVIEW_STATUS: Message = Message(&[
        rep(1, "resourceRules", Msg(&AUTHZ_RESOURCE_RULE)),
        rep(2, "nonResourceRules", Msg(&AUTHZ_NON_RESOURCE_RULE)),
        opt(3, "incomplete", Bool),
        opt(4, "evaluationError", Str),
    ]);

    // k8s.io.api.authentication.v1

    pub(super) static AUTHN_BOUND_OBJECT_REFERENCE: Message = Message(&[
        opt(1, "kind", Str),
        opt(2, "apiVersion", Str),
        opt(3, "name", Str),
        opt(4, "uid", Str),
    ]);

    pub(super) static AUTHN_SELF_SUBJECT_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "status", Msg(&AUTHN_SELF_SUBJECT_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHN_SELF_SUBJECT_REVIEW_STATUS: Message =
        Message(&[opt(1, "userInfo", Msg(&AUTHN_USER_INFO))]);

    pub(super) static AUTHN_TOKEN_REQUEST: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHN_TOKEN_REQUEST_SPEC)),
        opt(3, "status", Msg(&AUTHN_TOKEN_REQUEST_STATUS)),
    ]);

    pub(super) static AUTHN_TOKEN_REQUEST_SPEC: Message = Message(&[
        rep(1, "audiences", Str),
        ptr(4, "expirationSeconds", I64),
        ptr(3, "boundObjectRef", Msg(&AUTHN_BOUND_OBJECT_REFERENCE)),
    ]);

    pub(super) static AUTHN_TOKEN_REQUEST_STATUS: Message =
        Message(&[opt(1, "token", Str), opt(2, "expirationTimestamp", Time)]);

    pub(super) static AUTHN_TOKEN_REVIEW: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&AUTHN_TOKEN_REVIEW_SPEC)),
        opt(3, "status", Msg(&AUTHN_TOKEN_REVIEW_STATUS)),
    ]);

    pub(super) static AUTHN_TOKEN_REVIEW_SPEC: Message =
        Message(&[opt(1, "token", Str), rep(2, "audiences", Str)]);

    pub(super) static AUTHN_TOKEN_REVIEW_STATUS: Message = Message(&[
        opt(1, "authenticated", Bool),
        opt(2, "user", Msg(&AUTHN_USER_INFO)),
        rep(4, "audiences", Str),
        opt(3, "error", Str),
    ]);

    pub(super) static AUTHN_USER_INFO: Message = Message(&[
        opt(1, "username", Str),
        opt(2, "uid", Str),
        rep(3, "groups", Str),
        map(4, "extra", StrList),
    ]);

    // k8s.io.api.rbac.v1

    pub(super) static RBAC_AGGREGATION_RULE: Message =
        Message(&[rep(1, "clusterRoleSelectors", Msg(&META_LABEL_SELECTOR))]);

    pub(super) static RBAC_CLUSTER_ROLE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        rep(2, "rules", Msg(&RBAC_POLICY_RULE)),
        ptr(3, "aggregationRule", Msg(&RBAC_AGGREGATION_RULE)),
    ]);

    pub(super) static RBAC_CLUSTER_ROLE_BINDING: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        rep(2, "subjects", Msg(&RBAC_SUBJECT)),
        opt(3, "roleRef", Msg(&RBAC_ROLE_REF)),
    ]);

    pub(super) static RBAC_POLICY_RULE: Message = Message(&[
        rep(1, "verbs", Str),
        rep(2, "apiGroups", Str),
        rep(3, "resources", Str),
        rep(4, "resourceNames", Str),
        rep(5, "nonResourceURLs", Str),
    ]);

    pub(super) static RBAC_ROLE: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        rep(2, "rules", Msg(&RBAC_POLICY_RULE)),
    ]);

    pub(super) static RBAC_ROLE_BINDING: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        rep(2, "subjects", Msg(&RBAC_SUBJECT)),
        opt(3, "roleRef", Msg(&RBAC_ROLE_REF)),
    ]);

    pub(super) static RBAC_ROLE_REF: Message = Message(&[
        opt(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
    ]);

    pub(super) static RBAC_SUBJECT: Message = Message(&[
        opt(1, "kind", Str),
        opt(2, "apiGroup", Str),
        opt(3, "name", Str),
        opt(4, "namespace", Str),
    ]);

    // k8s.io.api.policy.v1

    pub(super) static POLICY_EVICTION: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        ptr(2, "deleteOptions", Msg(&META_DELETE_OPTIONS)),
    ]);

    pub(super) static POLICY_POD_DISRUPTION_BUDGET: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&POLICY_POD_DISRUPTION_BUDGET_SPEC)),
        opt(3, "status", Msg(&POLICY_POD_DISRUPTION_BUDGET_STATUS)),
    ]);

    pub(super) static POLICY_POD_DISRUPTION_BUDGET_SPEC: Message = Message(&[
        ptr(1, "minAvailable", IntOrString),
        ptr(2, "selector", Msg(&META_LABEL_SELECTOR)),
        ptr(3, "maxUnavailable", IntOrString),
        ptr(4, "unhealthyPodEvictionPolicy", Str),
    ]);

    pub(super) static POLICY_POD_DISRUPTION_BUDGET_STATUS: Message = Message(&[
        opt(1, "observedGeneration", I64),
        map(2, "disruptedPods", Time),
        opt(3, "disruptionsAllowed", I32),
        opt(4, "currentHealthy", I32),
        opt(5, "desiredHealthy", I32),
        opt(6, "expectedPods", I32),
        rep(7, "conditions", Msg(&META_CONDITION)),
    ]);

    // k8s.io.api.scheduling.v1

    pub(super) static SCHED_PRIORITY_CLASS: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "value", I32),
        opt(3, "globalDefault", Bool),
        opt(4, "description", Str),
        ptr(5, "preemptionPolicy", Str),
    ]);

    // k8s.io.api.networking.v1

    pub(super) static NET_HTTP_INGRESS_PATH: Message = Message(&[
        opt(1, "path", Str),
        ptr(3, "pathType", Str),
        opt(2, "backend", Msg(&NET_INGRESS_BACKEND)),
    ]);

    pub(super) static NET_HTTP_INGRESS_RULE_VALUE: Message =
        Message(&[rep(1, "paths", Msg(&NET_HTTP_INGRESS_PATH))]);

    pub(super) static NET_IP_BLOCK: Message =
        Message(&[opt(1, "cidr", Str), rep(2, "except", Str)]);

    pub(super) static NET_INGRESS: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&NET_INGRESS_SPEC)),
        opt(3, "status", Msg(&NET_INGRESS_STATUS)),
    ]);

    pub(super) static NET_INGRESS_BACKEND: Message = Message(&[
        ptr(4, "service", Msg(&NET_INGRESS_SERVICE_BACKEND)),
        ptr(3, "resource", Msg(&CORE_TYPED_LOCAL_OBJECT_REFERENCE)),
    ]);

    pub(super) static NET_INGRESS_CLASS: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&NET_INGRESS_CLASS_SPEC)),
    ]);

    pub(super) static NET_INGRESS_CLASS_PARAMETERS_REFERENCE: Message = Message(&[
        ptr(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
        ptr(4, "scope", Str),
        ptr(5, "namespace", Str),
    ]);

    pub(super) static NET_INGRESS_CLASS_SPEC: Message = Message(&[
        opt(1, "controller", Str),
        ptr(
            2,
            "parameters",
            Msg(&NET_INGRESS_CLASS_PARAMETERS_REFERENCE),
        ),
    ]);

    pub(super) static NET_INGRESS_LOAD_BALANCER_INGRESS: Message = Message(&[
        opt(1, "ip", Str),
        opt(2, "hostname", Str),
        rep(4, "ports", Msg(&NET_INGRESS_PORT_STATUS)),
    ]);

    pub(super) static NET_INGRESS_LOAD_BALANCER_STATUS: Message =
        Message(&[rep(1, "ingress", Msg(&NET_INGRESS_LOAD_BALANCER_INGRESS))]);

    pub(super) static NET_INGRESS_PORT_STATUS: Message = Message(&[
        opt(1, "port", I32),
        opt(2, "protocol", Str),
        ptr(3, "error", Str),
    ]);

    pub(super) static NET_INGRESS_RULE: Message =
        Message(&[opt(1, "host", Str), inline(2, &NET_INGRESS_RULE_VALUE)]);

    pub(super) static NET_INGRESS_RULE_VALUE: Message =
        Message(&[ptr(1, "http", Msg(&NET_HTTP_INGRESS_RULE_VALUE))]);

    pub(super) static NET_INGRESS_SERVICE_BACKEND: Message = Message(&[
        opt(1, "name", Str),
        opt(2, "port", Msg(&NET_SERVICE_BACKEND_PORT)),
    ]);

    pub(super) static NET_INGRESS_SPEC: Message = Message(&[
        ptr(4, "ingressClassName", Str),
        ptr(1, "defaultBackend", Msg(&NET_INGRESS_BACKEND)),
        rep(2, "tls", Msg(&NET_INGRESS_TLS)),
        rep(3, "rules", Msg(&NET_INGRESS_RULE)),
    ]);

    pub(super) static NET_INGRESS_STATUS: Message = Message(&[opt(
        1,
        "loadBalancer",
        Msg(&NET_INGRESS_LOAD_BALANCER_STATUS),
    )]);

    pub(super) static NET_INGRESS_TLS: Message =
        Message(&[rep(1, "hosts", Str), opt(2, "secretName", Str)]);

    pub(super) static NET_NETWORK_POLICY: Message = Message(&[
        opt(1, "metadata", Msg(&META_OBJECT_META)),
        opt(2, "spec", Msg(&NET_NETWORK_POLICY_SPEC)),
    ]);

    pub(super) static NET_NETWORK_POLICY_EGRESS_RULE: Message = Message(&[
        rep(1, "ports", Msg(&NET_NETWORK_POLICY_PORT)),
        rep(2, "to", Msg(&NET_NETWORK_POLICY_PEER)),
    ]);

    pub(super) static NET_NETWORK_POLICY_INGRESS_RULE: Message = Message(&[
        rep(1, "ports", Msg(&NET_NETWORK_POLICY_PORT)),
        rep(2, "from", Msg(&NET_NETWORK_POLICY_PEER)),
    ]);

    pub(super) static NET_NETWORK_POLICY_PEER: Message = Message(&[
        ptr(1, "podSelector", Msg(&META_LABEL_SELECTOR)),
        ptr(2, "namespaceSelector", Msg(&META_LABEL_SELECTOR)),
        ptr(3, "ipBlock", Msg(&NET_IP_BLOCK)),
    ]);

    pub(super) static NET_NETWORK_POLICY_PORT: Message = Message(&[
        ptr(1, "protocol", Str),
        ptr(2, "port", IntOrString),
        ptr(3, "endPort", I32),
    ]);

    pub(super) static NET_NETWORK_POLICY_SPEC: Message = Message(&[
        opt(1, "podSelector", Msg(&META_LABEL_SELECTOR)),
        rep(2, "ingress", Msg(&NET_NETWORK_POLICY_INGRESS_RULE)),
        rep(3, "egress", Msg(&NET_NETWORK_POLICY_EGRESS_RULE)),
        rep(4, "policyTypes", Str),
    ]);

    pub(super) static NET_SERVICE_BACKEND_PORT: Message =
        Message(&[opt(1, "name", Str), opt(2, "number", I32)]);

    pub(super) static KINDS: &[(&str, &str, &Message)] = &[
        ("v1", "Namespace", &CORE_NAMESPACE),
        ("v1", "ConfigMap", &CORE_CONFIG_MAP),
        ("v1", "Secret", &CORE_SECRET),
        ("v1", "Service", &CORE_SERVICE),
        ("v1", "ServiceAccount", &CORE_SERVICE_ACCOUNT),
        ("v1", "ResourceQuota", &CORE_RESOURCE_QUOTA),
        ("v1", "LimitRange", &CORE_LIMIT_RANGE),
        ("v1", "Pod", &CORE_POD),
        ("v1", "PodTemplate", &CORE_POD_TEMPLATE),
        ("v1", "ReplicationController", &CORE_REPLICATION_CONTROLLER),
        ("v1", "PersistentVolumeClaim", &CORE_PERSISTENT_VOLUME_CLAIM),
        ("v1", "Event", &CORE_EVENT),
        ("apps/v1", "Deployment", &APPS_DEPLOYMENT),
        ("apps/v1", "StatefulSet", &APPS_STATEFUL_SET),
        ("apps/v1", "DaemonSet", &APPS_DAEMON_SET),
        ("apps/v1", "ReplicaSet", &APPS_REPLICA_SET),
        ("batch/v1", "Job", &BATCH_JOB),
        ("batch/v1", "CronJob", &BATCH_CRON_JOB),
        (
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            &AS1_HORIZONTAL_POD_AUTOSCALER,
        ),
        ("autoscaling/v1", "Scale", &AS1_SCALE),
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            &AS2_HORIZONTAL_POD_AUTOSCALER,
        ),
        (
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &AUTHZ_SELF_SUBJECT_ACCESS_REVIEW,
        ),
        (
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
            &AUTHZ_SELF_SUBJECT_RULES_REVIEW,
        ),
        (
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            &AUTHZ_SUBJECT_ACCESS_REVIEW,
        ),
        (
            "authorization.k8s.io/v1",
            "LocalSubjectAccessReview",
            &AUTHZ_LOCAL_SUBJECT_ACCESS_REVIEW,
        ),
        (
            "authentication.k8s.io/v1",
            "TokenRequest",
            &AUTHN_TOKEN_REQUEST,
        ),
        (
            "authentication.k8s.io/v1",
            "TokenReview",
            &AUTHN_TOKEN_REVIEW,
        ),
        (
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
            &AUTHN_SELF_SUBJECT_REVIEW,
        ),
        ("rbac.authorization.k8s.io/v1", "Role", &RBAC_ROLE),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            &RBAC_CLUSTER_ROLE,
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &RBAC_ROLE_BINDING,
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            &RBAC_CLUSTER_ROLE_BINDING,
        ),
        (
            "policy/v1",
            "PodDisruptionBudget",
            &POLICY_POD_DISRUPTION_BUDGET,
        ),
        ("policy/v1", "Eviction", &POLICY_EVICTION),
        (
            "scheduling.k8s.io/v1",
            "PriorityClass",
            &SCHED_PRIORITY_CLASS,
        ),
        ("networking.k8s.io/v1", "Ingress", &NET_INGRESS),
        ("networking.k8s.io/v1", "IngressClass", &NET_INGRESS_CLASS),
        ("networking.k8s.io/v1", "NetworkPolicy", &NET_NETWORK_POLICY),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A protobuf writer for building test bodies field by field, in the order Go writes them.
    #[derive(Default)]
    struct Enc(Vec<u8>);

    fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    impl Enc {
        fn new() -> Self {
            Enc::default()
        }

        fn key(mut self, num: u32, wire: u8) -> Self {
            put_varint(&mut self.0, (u64::from(num) << 3) | u64::from(wire));
            self
        }

        fn int(self, num: u32, v: i64) -> Self {
            let mut e = self.key(num, VARINT);
            put_varint(&mut e.0, v as u64);
            e
        }

        fn bool(self, num: u32, v: bool) -> Self {
            self.int(num, i64::from(v))
        }

        fn bytes(self, num: u32, b: &[u8]) -> Self {
            let mut e = self.key(num, LEN);
            put_varint(&mut e.0, b.len() as u64);
            e.0.extend_from_slice(b);
            e
        }

        fn str(self, num: u32, s: &str) -> Self {
            self.bytes(num, s.as_bytes())
        }

        fn msg(self, num: u32, m: Enc) -> Self {
            self.bytes(num, &m.0)
        }

        fn entry(self, num: u32, k: &str, v: &str) -> Self {
            self.msg(num, Enc::new().str(1, k).str(2, v))
        }
    }

    fn envelope(api_version: &str, kind: &str, raw: &Enc) -> Vec<u8> {
        let type_meta = Enc::new().str(1, api_version).str(2, kind);
        let unknown = Enc::new()
            .msg(1, type_meta)
            .bytes(2, &raw.0)
            .str(3, "")
            .str(4, "");
        [MAGIC.as_slice(), &unknown.0].concat()
    }

    /// ObjectMeta as Go writes it: every non-pointer field, zero or not.
    fn object_meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Enc {
        let mut m = Enc::new()
            .str(1, name)
            .str(2, "")
            .str(3, namespace)
            .str(4, "")
            .str(5, "")
            .str(6, "")
            .int(7, 0)
            .msg(8, Enc::new());
        for (k, v) in labels {
            m = m.entry(11, k, v);
        }
        m
    }

    /// What `kubectl create deployment web --image=nginx:1.27 --replicas=N --port=80` sends.
    fn kubectl_deployment(replicas: i64) -> Enc {
        let app = [("app", "web")];
        let port = Enc::new()
            .str(1, "")
            .int(2, 0)
            .int(3, 80)
            .str(4, "")
            .str(5, "");
        let container = Enc::new()
            .str(1, "nginx")
            .str(2, "nginx:1.27")
            .str(5, "")
            .msg(6, port)
            .msg(8, Enc::new())
            .str(13, "")
            .str(14, "")
            .bool(16, false)
            .bool(17, false)
            .bool(18, false)
            .str(20, "");
        let mut pod_spec = Enc::new().msg(2, container).str(3, "").str(6, "");
        for num in [8, 9, 10] {
            pod_spec = pod_spec.str(num, "");
        }
        for num in [11, 12, 13] {
            pod_spec = pod_spec.bool(num, false);
        }
        for num in [16, 17, 19, 24] {
            pod_spec = pod_spec.str(num, "");
        }
        let template = Enc::new()
            .msg(1, object_meta("", "", &app))
            .msg(2, pod_spec);
        let spec = Enc::new()
            .int(1, replicas)
            .msg(2, Enc::new().entry(1, "app", "web"))
            .msg(3, template)
            .msg(4, Enc::new().str(1, ""))
            .int(5, 0)
            .bool(7, false);
        let mut status = Enc::new();
        for num in [1, 2, 3, 4, 5, 7] {
            status = status.int(num, 0);
        }
        Enc::new()
            .msg(1, object_meta("web", "", &app))
            .msg(2, spec)
            .msg(3, status)
    }

    fn malformed(result: Result<Value, ProtobufError>) -> String {
        match result {
            Err(ProtobufError::Malformed(text)) => text,
            other => panic!("want Malformed, got {other:?}"),
        }
    }

    #[test]
    fn kubectl_create_deployment_has_the_captured_shape() {
        let body = envelope("apps/v1", "Deployment", &kubectl_deployment(2));
        // The capture: 223 bytes, `12 bd 01` announcing a 189-byte Deployment.
        assert_eq!(body.len(), 223);
        assert_eq!(&body[..6], b"k8s\0\x0a\x15");
        assert_eq!(&body[27..30], &[0x12, 0xbd, 0x01]);
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [
                            {
                                "name": "nginx",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 80}]
                            }
                        ]}
                    }
                }
            })
        );
    }

    #[test]
    fn pointer_fields_keep_zero() {
        let body = envelope("apps/v1", "Deployment", &kubectl_deployment(0));
        let object = decode(&body).unwrap();
        assert_eq!(object["spec"]["replicas"], json!(0));
    }

    #[test]
    fn secret_data_is_base64() {
        let secret = Enc::new()
            .msg(1, object_meta("creds", "default", &[]))
            .msg(2, Enc::new().str(1, "key").bytes(2, &[0, 1, 2, 255, 254]))
            .msg(2, Enc::new().str(1, "empty").bytes(2, b""))
            .msg(2, Enc::new().str(1, "text").bytes(2, b"abc"))
            .str(3, "Opaque");
        let object = decode(&envelope("v1", "Secret", &secret)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "default"},
                "data": {"key": "AAEC//4=", "empty": "", "text": "YWJj"},
                "type": "Opaque"
            })
        );
    }

    #[test]
    fn configmap() {
        let cm = Enc::new()
            .msg(1, object_meta("settings", "", &[]))
            .entry(2, "mode", "fast")
            .entry(2, "blank", "")
            .msg(3, Enc::new().str(1, "blob").bytes(2, b"ab"))
            .bool(4, true);
        let object = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
        assert_eq!(object["data"], json!({"mode": "fast", "blank": ""}));
        assert_eq!(object["binaryData"], json!({"blob": "YWI="}));
        assert_eq!(object["immutable"], json!(true));
    }

    #[test]
    fn service_target_port_int_and_string() {
        let port = |name: &str, port: i64, target: Enc| {
            Enc::new()
                .str(1, name)
                .str(2, "TCP")
                .int(3, port)
                .msg(4, target)
                .int(5, 0)
        };
        let spec = Enc::new()
            .msg(
                1,
                port("a", 80, Enc::new().int(1, 0).int(2, 8080).str(3, "")),
            )
            .msg(
                1,
                port("b", 443, Enc::new().int(1, 1).int(2, 0).str(3, "https")),
            )
            .msg(1, port("c", 53, Enc::new().int(1, 0).int(2, 0).str(3, "")))
            .entry(2, "app", "web")
            .str(3, "")
            .str(4, "ClusterIP")
            .str(7, "")
            .int(12, 0)
            .bool(13, false);
        let service = Enc::new()
            .msg(1, object_meta("web", "", &[]))
            .msg(2, spec)
            .msg(3, Enc::new().msg(1, Enc::new()));
        let object = decode(&envelope("v1", "Service", &service)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "ports": [
                        {"name": "a", "protocol": "TCP", "port": 80, "targetPort": 8080},
                        {"name": "b", "protocol": "TCP", "port": 443, "targetPort": "https"},
                        {"name": "c", "protocol": "TCP", "port": 53}
                    ],
                    "selector": {"app": "web"},
                    "type": "ClusterIP"
                }
            })
        );
    }

    #[test]
    fn self_subject_access_review() {
        // kubectl auth can-i create pods -n default
        let attributes = Enc::new()
            .str(1, "default")
            .str(2, "create")
            .str(3, "")
            .str(4, "")
            .str(5, "pods")
            .str(6, "")
            .str(7, "");
        let review = Enc::new()
            .msg(1, object_meta("", "", &[]))
            .msg(2, Enc::new().msg(1, attributes))
            .msg(
                3,
                Enc::new()
                    .bool(1, false)
                    .str(2, "")
                    .str(3, "")
                    .bool(4, false),
            );
        let body = envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &review,
        );
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {
                    "namespace": "default", "verb": "create", "resource": "pods"
                }}
            })
        );
    }

    #[test]
    fn pod_spec_details() {
        let http_get = Enc::new()
            .str(1, "/healthz")
            .msg(2, Enc::new().int(1, 1).str(3, "http"));
        let probe = Enc::new().msg(1, Enc::new().msg(2, http_get)).int(2, 5);
        let resources = Enc::new()
            .msg(
                1,
                Enc::new().str(1, "cpu").msg(2, Enc::new().str(1, "500m")),
            )
            .msg(2, Enc::new().str(1, "memory").msg(2, Enc::new()));
        let security = Enc::new()
            .msg(1, Enc::new().str(1, "NET_ADMIN"))
            .bool(2, false);
        let container = Enc::new()
            .str(1, "app")
            .str(3, "sh")
            .str(3, "")
            .msg(7, Enc::new().str(1, "MODE").str(2, ""))
            .msg(8, resources)
            .msg(10, probe)
            .msg(15, security);
        let volumes = [
            Enc::new()
                .str(1, "scratch")
                .msg(2, Enc::new().msg(2, Enc::new().str(1, ""))),
            Enc::new().str(1, "cfg").msg(
                2,
                Enc::new().msg(19, Enc::new().msg(1, Enc::new().str(1, "cm")).int(3, 420)),
            ),
        ];
        let mut spec = Enc::new();
        for volume in volumes {
            spec = spec.msg(1, volume);
        }
        // supplementalGroups packed, as a non-Go client may send it.
        let mut packed = Vec::new();
        put_varint(&mut packed, 1000);
        put_varint(&mut packed, 2000);
        spec = spec
            .msg(2, container)
            .int(4, 0)
            .msg(14, Enc::new().bytes(4, &packed));
        let meta = object_meta("p", "", &[])
            .msg(9, Enc::new().int(1, 1_795_600_619))
            .int(10, 0)
            .msg(
                17,
                Enc::new()
                    .str(1, "kubectl")
                    .msg(4, Enc::new().int(1, 1_795_600_619))
                    .str(6, "FieldsV1")
                    .msg(7, Enc::new().bytes(1, br#"{"f:metadata":{}}"#)),
            );
        let pod = Enc::new().msg(1, meta).msg(2, spec);
        let object = decode(&envelope("v1", "Pod", &pod)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "p",
                    "deletionTimestamp": "2026-11-25T09:56:59Z",
                    "deletionGracePeriodSeconds": 0,
                    "managedFields": [{
                        "manager": "kubectl",
                        "time": "2026-11-25T09:56:59Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {}}
                    }]
                },
                "spec": {
                    "volumes": [
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}
                    ],
                    "containers": [{
                        "name": "app",
                        "command": ["sh", ""],
                        "env": [{"name": "MODE"}],
                        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "0"}},
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "initialDelaySeconds": 5
                        },
                        "securityContext": {
                            "capabilities": {"add": ["NET_ADMIN"]},
                            "privileged": false
                        }
                    }],
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {"supplementalGroups": [1000, 2000]}
                }
            })
        );
    }

    #[test]
    fn autoscale_eviction_rbac_token() {
        let hpa = Enc::new().msg(1, object_meta("web", "", &[])).msg(
            2,
            Enc::new()
                .msg(
                    1,
                    Enc::new()
                        .str(1, "Deployment")
                        .str(2, "web")
                        .str(3, "apps/v1"),
                )
                .int(2, 2)
                .int(3, 5)
                .int(4, 80),
        );
        let object = decode(&envelope("autoscaling/v1", "HorizontalPodAutoscaler", &hpa)).unwrap();
        assert_eq!(
            object["spec"],
            json!({
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 80
            })
        );

        let eviction = Enc::new()
            .msg(1, object_meta("p", "default", &[]))
            .msg(2, Enc::new().int(1, 0).str(4, "Foreground"));
        let object = decode(&envelope("policy/v1", "Eviction", &eviction)).unwrap();
        assert_eq!(
            object["deleteOptions"],
            json!({"gracePeriodSeconds": 0, "propagationPolicy": "Foreground"})
        );

        let binding = Enc::new()
            .msg(1, object_meta("rb", "", &[]))
            .msg(
                2,
                Enc::new()
                    .str(1, "User")
                    .str(2, "rbac.authorization.k8s.io")
                    .str(3, "ann")
                    .str(4, ""),
            )
            .msg(
                3,
                Enc::new()
                    .str(1, "rbac.authorization.k8s.io")
                    .str(2, "ClusterRole")
                    .str(3, "view"),
            );
        let object = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &binding,
        ))
        .unwrap();
        assert_eq!(
            object["subjects"],
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ann"}])
        );
        assert_eq!(object["roleRef"]["name"], json!("view"));

        let token = Enc::new().msg(1, object_meta("sa", "", &[])).msg(
            2,
            Enc::new()
                .str(1, "api")
                .int(4, 3600)
                .msg(3, Enc::new().str(1, "Pod").str(4, "abc")),
        );
        let object = decode(&envelope(
            "authentication.k8s.io/v1",
            "TokenRequest",
            &token,
        ))
        .unwrap();
        assert_eq!(
            object["spec"],
            json!({
                "audiences": ["api"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "uid": "abc"}
            })
        );
    }

    #[test]
    fn delete_options_in_any_group_version() {
        assert!(supports("apps/v1", "DeleteOptions"));
        let options = Enc::new().int(1, 30).str(5, "All");
        let object = decode(&envelope("v1", "DeleteOptions", &options)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 30,
                "dryRun": ["All"]
            })
        );
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut meta = Enc::new().str(1, "x").int(99, 7).key(98, FIXED32);
        meta.0.extend_from_slice(&[1, 2, 3, 4]);
        let mut meta = meta.key(96, FIXED64);
        meta.0.extend_from_slice(&[0; 8]);
        let meta = meta.bytes(97, b"junk");
        let ns = Enc::new().msg(1, meta).msg(50, Enc::new().str(1, "future"));
        let object = decode(&envelope("v1", "Namespace", &ns)).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn repeated_message_fields_merge() {
        let meta = Enc::new()
            .msg(1, Enc::new().str(1, "a"))
            .msg(1, Enc::new().str(3, "ns"));
        let object = decode(&envelope("v1", "Namespace", &meta)).unwrap();
        assert_eq!(object["metadata"], json!({"name": "a", "namespace": "ns"}));
    }

    #[test]
    fn negative_int32_and_invalid_utf8() {
        let pc = Enc::new()
            .msg(1, Enc::new().bytes(1, b"bad\xffname"))
            .int(2, -1)
            .bool(3, false);
        let object = decode(&envelope("scheduling.k8s.io/v1", "PriorityClass", &pc)).unwrap();
        assert_eq!(object["value"], json!(-1));
        assert_eq!(object["metadata"]["name"], json!("bad\u{fffd}name"));
        assert!(object.get("globalDefault").is_none());
    }

    #[test]
    fn times() {
        assert_eq!(
            rfc3339(1_795_600_619, None).unwrap(),
            "2026-11-25T09:56:59Z"
        );
        assert_eq!(rfc3339(951_868_799, None).unwrap(), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(-1, None).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(MIN_SECONDS, None).unwrap(), "0001-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(MAX_SECONDS, Some(999_999)).unwrap(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert!(rfc3339(MAX_SECONDS + 1, None).is_err());
        // Time drops nanos; MicroTime truncates them to microseconds.
        let t = Enc::new().int(1, 0).int(2, 123_456_789);
        assert_eq!(
            time(&t.0, false).unwrap(),
            Some(json!("1970-01-01T00:00:00Z"))
        );
        assert_eq!(
            time(&t.0, true).unwrap(),
            Some(json!("1970-01-01T00:00:00.123456Z"))
        );
        let t = Enc::new().int(1, 10).int(2, -1_500);
        assert_eq!(
            time(&t.0, true).unwrap(),
            Some(json!("1970-01-01T00:00:09.999999Z"))
        );
        assert_eq!(time(&[], true).unwrap(), None);
        let t = Enc::new().int(1, i64::MAX).int(2, 2_000_000_000);
        assert!(time(&t.0, true).is_err());
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(&[0, 1, 2, 255, 254]), "AAEC//4=");
    }

    #[test]
    fn not_protobuf_and_unknown_kind() {
        assert!(matches!(
            decode(br#"{"kind":"Pod"}"#),
            Err(ProtobufError::NotProtobuf)
        ));
        assert!(matches!(decode(b"k8s"), Err(ProtobufError::NotProtobuf)));
        let err = decode(&envelope("example.com/v1", "Widget", &Enc::new())).unwrap_err();
        assert!(matches!(
            &err,
            ProtobufError::UnsupportedKind { api_version, kind }
                if api_version == "example.com/v1" && kind == "Widget"
        ));
        assert!(!supports("apps/v1", "Widget"));
        assert!(supports("apps/v1", "Deployment"));
        assert!(supports("autoscaling/v2", "HorizontalPodAutoscaler"));
        assert!(malformed(decode(b"k8s\0")).contains("kind"));
    }

    #[test]
    fn malformed_input_names_the_field() {
        // A string where DeploymentSpec.replicas wants a varint.
        let bad = Enc::new().msg(2, Enc::new().str(1, "two"));
        let text = malformed(decode(&envelope("apps/v1", "Deployment", &bad)));
        assert!(text.starts_with("spec.replicas: wire type 2"), "{text}");
        let bad = Enc::new().msg(
            2,
            Enc::new().msg(1, Enc::new().msg(4, Enc::new().int(1, 7))),
        );
        let text = malformed(decode(&envelope("v1", "Service", &bad)));
        assert!(
            text.starts_with("spec.ports.targetPort: IntOrString type 7"),
            "{text}"
        );
        let bad = Enc::new().msg(
            1,
            Enc::new().msg(17, Enc::new().msg(7, Enc::new().bytes(1, b"{"))),
        );
        let text = malformed(decode(&envelope("v1", "Pod", &bad)));
        assert!(
            text.starts_with("metadata.managedFields.fieldsV1: raw is not JSON"),
            "{text}"
        );
        // Field number 0, a group, an 11-byte varint, a bad wire type.
        for raw in [
            &[0x02, 0x00][..],
            &[0x0b],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x0e],
        ] {
            let mut body = MAGIC.to_vec();
            body.extend_from_slice(&Enc::new().msg(1, Enc::new().str(1, "v1").str(2, "Pod")).0);
            body.extend_from_slice(&Enc::new().bytes(2, raw).0);
            malformed(decode(&body));
        }
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let body = envelope("apps/v1", "Deployment", &kubectl_deployment(2));
        // Byte 27 starts `raw` and byte 219 ends it: cutting there leaves whole fields, any
        // other cut before 219 lands inside one and must be an error, never a panic.
        for cut in 0..body.len() {
            let result = decode(&body[..cut]);
            if cut != 27 && cut < 219 {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
        let raw = kubectl_deployment(2).0;
        for cut in 0..raw.len() {
            let _ = decode_object("apps/v1", "Deployment", &raw[..cut]);
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = kubectl_deployment(2).0;
        for round in 0..3000 {
            let mut raw = valid.clone();
            if round % 2 == 0 {
                // Flip a few bytes of a real body: reaches deep into the schema.
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % raw.len();
                    raw[at] = next() as u8;
                }
            } else {
                raw = (0..next() % 64).map(|_| next() as u8).collect();
            }
            for (api_version, kind) in [("apps/v1", "Deployment"), ("v1", "Pod"), ("v1", "Secret")]
            {
                let _ = decode_object(api_version, kind, &raw);
            }
        }
    }

    #[test]
    fn depth_is_capped() {
        static NODE: Message = Message(&[ptr(1, "child", Ty::Msg(&NODE))]);
        let mut nested = Enc::new();
        for _ in 0..200 {
            nested = Enc::new().msg(1, nested);
        }
        let mut out = Map::new();
        let fault = decode_into(&NODE, &nested.0, 0, &mut out).unwrap_err();
        assert!(fault.reason.contains("nested deeper"), "{}", fault.reason);
    }

    #[test]
    fn every_kind_decodes_an_empty_body() {
        for (api_version, kind, _) in schema::KINDS {
            let object = decode(&envelope(api_version, kind, &Enc::new())).unwrap();
            assert_eq!(object, json!({"apiVersion": api_version, "kind": kind}));
        }
    }

    #[test]
    fn field_numbers_are_unique() {
        fn check(message: &'static Message, seen: &mut Vec<*const Message>) {
            if seen.contains(&(message as *const Message)) {
                return;
            }
            seen.push(message);
            for (i, field) in message.0.iter().enumerate() {
                assert!(
                    message.0[i + 1..].iter().all(|f| f.num != field.num),
                    "{}",
                    field.name
                );
                let (Shape::Opt(ty) | Shape::Ptr(ty) | Shape::Rep(ty) | Shape::Map(ty)) =
                    field.shape
                else {
                    if let Shape::Inline(inner) = field.shape {
                        check(inner, seen);
                    }
                    continue;
                };
                if let Ty::Msg(inner) = ty {
                    check(inner, seen);
                }
            }
        }
        let mut seen = Vec::new();
        for (_, _, message) in schema::KINDS {
            check(message, &mut seen);
        }
        assert!(seen.len() > 250, "{}", seen.len());
    }
}
