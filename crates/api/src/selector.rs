//! Label selectors and field selectors, as the API server and kubectl see them.
//!
//! A [`LabelSelector`] comes either from the `?labelSelector=` string (`app=web,tier in
//! (a,b),!canary`), parsed by a port of apimachinery's `labels.Parse` lexer and parser, or from
//! a `metav1.LabelSelector` object (`matchLabels` / `matchExpressions`) in a workload's spec,
//! read the way `metav1.LabelSelectorAsSelector` reads it. Its [`Display`](fmt::Display) is
//! upstream's canonical `Selector.String()`, which clients compare and print (kubectl's SELECTOR
//! column).
//!
//! A [`FieldSelector`] comes from `?fieldSelector=`: only `=`, `==` and `!=`, with upstream's
//! backslash escaping of `\`, `,` and `=` in values. Which fields a kind may be selected on, and
//! how each field's value is spelled, comes from upstream's per-kind field label conversions and
//! the registry strategies' selectable field sets; [`field_value`] and [`check_field`] encode
//! that table (as of Kubernetes 1.32) for objects in their versioned JSON form.
//!
//! Error messages are upstream's, word for word where users see them (kubectl prints the
//! server's `Status` message), down to the `<nil>` field path the label parser puts before an
//! invalid key. Nothing here does I/O.

use std::fmt;

use serde_json::{Map, Value};

/// A selector that does not parse or validate, or a field a kind cannot be selected on.
///
/// The server answers every one of these with a 400 `BadRequest` `Status` whose message is this
/// error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string or `metav1.LabelSelector` that is not valid.
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// A field selector string that is not valid.
    #[error("{0}")]
    InvalidFieldSelector(String),
    /// A field selector names a field that the kind does not support.
    #[error("{message}")]
    UnsupportedField {
        /// The field as the client wrote it.
        field: String,
        /// Upstream's message for this kind, e.g. `field label not supported: spec.foo`.
        message: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// How a label requirement relates its key to its values (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (a,b)`: the label exists and has one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key=a`.
    Equals,
    /// `key==a`, the same as `=` but printed back as written.
    DoubleEquals,
    /// `key!=a`: the label is absent or has another value.
    NotEquals,
    /// `key`: the label exists.
    Exists,
    /// `!key`: the label does not exist.
    DoesNotExist,
    /// `key>1`: the label exists and is an integer greater than the value.
    GreaterThan,
    /// `key<1`: the label exists and is an integer less than the value.
    LessThan,
}

impl Operator {
    /// Upstream's name for the operator, as its error messages spell it.
    fn name(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One condition of a label selector: a key, an operator and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, validating it as upstream's `labels.NewRequirement` does: the key is
    /// a qualified name, `in`/`notin` have values, exact matches and `>`/`<` have exactly one
    /// (an integer for `>`/`<`), `exists`/`!` have none, and every value is a valid label value.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        let mut errs = Vec::new();
        if let Some(detail) = label_key_errors(&key) {
            errs.push(invalid("key", &crate::go::quote(&key), &detail));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(invalid(
                "values",
                &go_string_slice(&values),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                errs.push(invalid(
                    "values",
                    &go_string_slice(&values),
                    "exact-match compatibility requires one single value",
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(invalid(
                "values",
                &go_string_slice(&values),
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, value) in values.iter().enumerate() {
                    if value.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            &crate::go::quote(value),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, value) in values.iter().enumerate() {
            if let Some(detail) = label_value_errors(value) {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &crate::go::quote(value),
                    &detail,
                ));
            }
        }
        match aggregate(errs) {
            Some(message) => Err(SelectorError::InvalidLabelSelector(message)),
            None => Ok(Requirement {
                key,
                operator,
                values,
            }),
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order given (sorted and de-duplicated when parsed from a string).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn matches<'a>(&self, lookup: &impl Fn(&str) -> Option<&'a str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                lookup(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => !lookup(&self.key).is_some_and(has),
            Operator::Exists => lookup(&self.key).is_some(),
            Operator::DoesNotExist => lookup(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                // Upstream quietly fails the match, rather than the request, when either side is
                // not an integer.
                let Some(Ok(actual)) = lookup(&self.key).map(str::parse::<i64>) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in (",
            Operator::NotIn => " notin (",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        // Sorting only the output keeps the canonical form independent of the order a
        // `matchExpressions` list happened to give, without changing the requirement.
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if matches!(self.operator, Operator::In | Operator::NotIn) {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: requirements that must all hold (upstream's `labels.Selector`).
///
/// The default (and the empty string, and `{}`) selects everything. A separate "nothing"
/// selector, which [`LabelSelector::from_json`] returns for `null` as upstream's
/// `LabelSelectorAsSelector` does for a nil selector, selects no object at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (upstream's `labels.Nothing()`).
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector requiring each of these labels to have exactly the given value, without
    /// validating them (upstream's `SelectorFromSet`, used for a Service's or
    /// ReplicationController's `spec.selector` map). An empty set selects everything.
    pub fn from_set<'a>(set: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut requirements: Vec<Requirement> = set
            .into_iter()
            .map(|(k, v)| Requirement {
                key: k.to_owned(),
                operator: Operator::Equals,
                values: vec![v.to_owned()],
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Parses the string form used in `?labelSelector=`: comma-separated requirements `a=b`,
    /// `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, with blanks allowed
    /// around tokens. The empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser::new(s);
        let mut requirements = parser
            .parse()
            .map_err(SelectorError::InvalidLabelSelector)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Reads a `metav1.LabelSelector` object (`{matchLabels: {k: v}, matchExpressions: [{key,
    /// operator: In|NotIn|Exists|DoesNotExist, values}]}`).
    ///
    /// As upstream's `LabelSelectorAsSelector`: `null` gives [`LabelSelector::nothing`] (check
    /// with [`LabelSelector::matches_nothing`]), an object with no requirements (`{}`) gives
    /// [`LabelSelector::everything`]. A caller whose field means "everything" when unset should
    /// not pass `null` for an absent field.
    pub fn from_json(v: &Value) -> Result<Self, SelectorError> {
        let obj = match v {
            Value::Null => return Ok(Self::nothing()),
            Value::Object(obj) => obj,
            other => {
                return Err(shape_error(format!(
                    "label selector must be an object, not {}",
                    json_type(other)
                )));
            }
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(shape_error(format!(
                    "matchLabels must be an object, not {}",
                    json_type(other)
                )));
            }
        };
        let expressions = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(other) => {
                return Err(shape_error(format!(
                    "matchExpressions must be a list, not {}",
                    json_type(other)
                )));
            }
        };

        let mut requirements = Vec::new();
        for (key, value) in match_labels.into_iter().flatten() {
            let Value::String(value) = value else {
                return Err(shape_error(format!(
                    "matchLabels[{}] must be a string, not {}",
                    crate::go::quote(key),
                    json_type(value)
                )));
            };
            requirements.push(Requirement::new(
                key.clone(),
                Operator::Equals,
                vec![value.clone()],
            )?);
        }
        for (i, expr) in expressions.iter().enumerate() {
            requirements.push(expression_requirement(i, expr)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Whether an object with these labels (`metadata.labels`; `None` for none) is selected.
    /// A label whose value is not a string counts as absent.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let lookup = |key: &str| labels.and_then(|m| m.get(key)).and_then(Value::as_str);
        self.matches_with(lookup)
    }

    /// Whether an object is selected, given a lookup from label key to value.
    pub fn matches_with<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(&lookup))
    }

    /// Whether the selector selects everything (no requirements, and not the nothing selector).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is the selector that selects nothing.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The value the selector requires `key` to have exactly, if it has an `=`, `==` or
    /// single-valued `in` requirement on it (upstream's `RequiresExactMatch`).
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn expression_requirement(i: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let Value::Object(expr) = expr else {
        return Err(shape_error(format!(
            "matchExpressions[{i}] must be an object, not {}",
            json_type(expr)
        )));
    };
    let string_field = |name: &str| match expr.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(shape_error(format!(
            "matchExpressions[{i}].{name} must be a string, not {}",
            json_type(other)
        ))),
    };
    let key = string_field("key")?;
    let operator = string_field("operator")?;
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(shape_error(format!(
                    "matchExpressions[{i}].values must hold strings, not {}",
                    json_type(other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(shape_error(format!(
                "matchExpressions[{i}].values must be a list, not {}",
                json_type(other)
            )));
        }
    };
    let operator = match operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        _ => {
            return Err(SelectorError::InvalidLabelSelector(format!(
                "{} is not a valid label selector operator",
                crate::go::quote(&operator)
            )));
        }
    };
    Requirement::new(key, operator, values)
}

fn shape_error(message: String) -> SelectorError {
    SelectorError::InvalidLabelSelector(message)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

// The lexer and parser follow apimachinery's labels package closely, token for token, so that
// every input is accepted or refused exactly as upstream does, with the same message.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    /// The next byte, or 0 at the end. Upstream uses the same sentinel, so a NUL byte in the
    /// input ends a token as the end of the string does.
    fn read(&mut self) -> u8 {
        match self.src.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    // Tokens only ever end at ASCII bytes or at the end, so the slices below fall on character
    // boundaries; `get` keeps that from ever becoming a panic.
    fn slice(&self, start: usize, end: usize) -> String {
        self.src.get(start..end).unwrap_or_default().to_owned()
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut end = start;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            end = self.pos;
        }
        let lit = self.slice(start, end);
        (keyword(&lit).unwrap_or(Token::Identifier), lit)
    }

    /// The longest operator starting here: `!=` rather than `!`, `==` rather than `=`.
    fn scan_special_symbol(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut last: Option<(Token, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special(ch) {
                self.unread();
                break;
            }
            match keyword(self.src.get(start..self.pos).unwrap_or_default()) {
                Some(token) => last = Some((token, self.pos)),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        match last {
            Some((token, end)) => (token, self.slice(start, end)),
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    self.slice(start, self.pos)
                ),
            ),
        }
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::End, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }
}

/// Whether `in` and `notin` are operators here or plain words (`x in (in)` is valid).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Self {
        let mut lexer = Lexer { src: s, pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::End;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        let (mut token, lit) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Token::End, String::new()));
        if context == Context::Values && matches!(token, Token::In | Token::NotIn) {
            token = Token::Identifier;
        }
        (token, lit)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, lit) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (token, lit) = self.consume(Context::Values);
                    match token {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let (next, lit) = self.lookahead(Context::Values);
                            if !matches!(next, Token::Identifier | Token::DoesNotExist) {
                                return Err(format!(
                                    "found '{lit}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{lit}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Token::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(operator) = operator {
            return Requirement::new(key, operator, Vec::new()).map_err(|e| e.to_string());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(key, operator, values).map_err(|e| e.to_string())
    }

    /// The key, and `exists` or `!` when no operator follows it.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut token, mut lit) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (token, lit) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        if let Some(detail) = label_key_errors(&lit) {
            // Upstream validates the key here with a nil field path, which prints as `<nil>`.
            return Err(invalid("<nil>", &crate::go::quote(&lit), &detail));
        }
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::End | Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (token, lit) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                let expected: Vec<&str> = [
                    Operator::In,
                    Operator::NotIn,
                    Operator::Equals,
                    Operator::DoubleEquals,
                    Operator::NotEquals,
                    Operator::GreaterThan,
                    Operator::LessThan,
                ]
                .iter()
                .map(|op| op.name())
                .collect();
                return Err(format!("found '{lit}', expected: {}", expected.join(", ")));
            }
        })
    }

    /// `(a,b,c)`: a set, so the values come back sorted and de-duplicated; an empty item (as in
    /// `()` or `(a,,b)`) is the empty string.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (token, lit) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (token, lit) = self.lookahead(Context::Values);
        let mut set = match token {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (token, _) = self.consume(Context::Values);
                if token != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                set
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                vec![String::new()]
            }
            _ => return Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        };
        set.sort_unstable();
        set.dedup();
        Ok(set)
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set = Vec::new();
        loop {
            let (token, lit) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    set.push(lit);
                    let (next, lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.push(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        set.push(String::new());
                        return Ok(set);
                    }
                    if next == Token::Comma {
                        set.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; nothing at all is the empty string.
    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (token, _) = self.lookahead(Context::Values);
        if matches!(token, Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (token, lit) = self.consume(Context::Values);
        if token == Token::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

// ---------------------------------------------------------------------------------------------
// Label key and value validation
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and \
                                  must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
                               characters, '-', '_' or '.', and must start and end with an \
                               alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
                                     alphanumeric characters, '-' or '.', and must start and end \
                                     with an alphanumeric character";

/// Upstream's `validation.RegexError`, double space after each example's comma included.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A lowercase RFC 1123 subdomain: dot-separated labels of `[a-z0-9-]` that start and end with
/// an alphanumeric character.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                (first.is_ascii_lowercase() || first.is_ascii_digit())
                    && (last.is_ascii_lowercase() || last.is_ascii_digit())
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            }
            _ => false,
        }
    })
}

/// Why `key` is not a valid label key (upstream's `IsQualifiedName`), or `None` if it is.
fn label_key_errors(key: &str) -> Option<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                if prefix.len() > 253 {
                    errs.push("prefix part must be no more than 253 characters".to_owned());
                }
                if !is_dns1123_subdomain(prefix) {
                    errs.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_MSG,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            name
        }
        _ => {
            return Some(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_owned());
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// Why `value` is not a valid label value (upstream's `IsValidLabelValue`), or `None` if it is.
fn label_value_errors(value: &str) -> Option<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// Validates a label key as upstream does for `metadata.labels` and selectors.
pub fn validate_label_key(key: &str) -> Result<(), SelectorError> {
    match label_key_errors(key) {
        Some(detail) => Err(SelectorError::InvalidLabelSelector(detail)),
        None => Ok(()),
    }
}

/// Validates a label value (at most 63 characters, possibly empty) as upstream does.
pub fn validate_label_value(value: &str) -> Result<(), SelectorError> {
    match label_value_errors(value) {
        Some(detail) => Err(SelectorError::InvalidLabelSelector(detail)),
        None => Ok(()),
    }
}

/// One `field.Invalid` error as upstream prints it.
fn invalid(path: &str, bad_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad_value}: {detail}")
}

/// Upstream's `utilerrors.NewAggregate(...).Error()`: one message alone, several de-duplicated
/// in brackets.
fn aggregate(errs: Vec<String>) -> Option<String> {
    if errs.len() <= 1 {
        return errs.into_iter().next();
    }
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        return seen.pop();
    }
    Some(format!("[{}]", seen.join(", ")))
}

/// A `[]string` as Go's `%#v` prints it; upstream validation passes a nil slice when a
/// selector expression has no values.
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_owned();
    }
    let quoted: Vec<String> = values.iter().map(|v| crate::go::quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

/// A field selector: `field=value` and `field!=value` terms that must all hold (upstream's
/// `fields.Selector`). The default, like the empty string, selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the string form used in `?fieldSelector=`: comma-separated `field=value`,
    /// `field==value` or `field!=value`, where a value writes `\`, `,` and `=` as `\\`, `\,` and
    /// `\=`. Blanks are not trimmed: they are part of the field or the value, as upstream.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(s);
        // Upstream sorts the raw terms, which fixes the order errors are found and terms printed.
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, equal, raw)) = split_term(part) else {
                return Err(SelectorError::InvalidFieldSelector(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let value = unescape_value(raw)?;
            // A term with neither field nor value (`=`) selects everything upstream.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(FieldTerm {
                field: field.to_owned(),
                equal,
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// The field names the selector uses, in order, so the server can check the kind supports
    /// each of them (see [`check_field`]).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Whether an object is selected; `value_of(field)` gives the object's value for a field,
    /// `None` counting as the empty string as upstream's `fields.Set` does.
    pub fn matches(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let actual = value_of(&t.field).unwrap_or_default();
            (actual == t.value) == t.equal
        })
    }

    /// Whether an object of the given kind is selected, reading its fields with
    /// [`field_value`]. Fails if the selector uses a field the kind does not support.
    pub fn matches_object(
        &self,
        group: &str,
        kind: &str,
        object: &Value,
    ) -> Result<bool, SelectorError> {
        for t in &self.terms {
            let actual = field_value(group, kind, object, &t.field)?;
            if (actual == t.value) != t.equal {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks every field the selector uses is supported for the kind.
    pub fn check_supported(&self, group: &str, kind: &str) -> Result<(), SelectorError> {
        self.fields().try_for_each(|f| check_field(group, kind, f))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value the selector requires `field` to equal, if it has an `=` term on it (upstream's
    /// `RequiresExactMatch`, which watch caches use to index, e.g. pods by `spec.nodeName`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.equal && t.field == field)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.equal { "=" } else { "!=" };
            write!(f, "{}{op}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// Escapes a literal value for a field selector (upstream's `fields.EscapeValue`).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits at commas not escaped by a backslash; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator; fields cannot be escaped, so the first `!=`, `==` or `=`
/// is it. Returns the field, whether the operator is an equality, and the raw value.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], equal, value));
            }
        }
    }
    None
}

/// Undoes [`escape_value`], refusing unknown escapes and unescaped `,` or `=`.
fn unescape_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidFieldSelector(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Upstream prints the rune with %v, that is as its code point number.
            ',' | '=' => {
                return Err(SelectorError::InvalidFieldSelector(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::InvalidFieldSelector(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Selectable fields per kind
// ---------------------------------------------------------------------------------------------

/// How to read one selectable field from an object's JSON, and how upstream prints it.
#[derive(Debug, Clone, Copy)]
enum Extract<'a> {
    /// A string at a dotted path; absent is "".
    Str(&'a str),
    /// A bool at a dotted path, as Go prints it ("true"/"false"); absent is false.
    Bool(&'static str),
    /// An integer at a dotted path, in decimal; absent is 0.
    Int(&'static str),
    /// The string at the first path, or at the second when the first is empty.
    StrOr(&'static str, &'static str),
    /// A pod's primary IP: `status.podIPs[0].ip`, else `status.podIP`.
    PodIp,
    /// A field upstream accepts but never fills in (a pod's `status.podIPs`), so it is always "".
    Empty,
}

/// How a kind refuses a field it does not support; upstream's wording differs per kind.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// The core and events.k8s.io conversions: `field label not supported: f`.
    NotSupported,
    /// `field label "f" not supported for batchv1.Job`.
    Job,
    /// `field label not supported for resource.k8s.io/v1beta1, Kind=ResourceSlice: f`.
    ResourceSlice,
    /// Kinds with no conversion of their own:
    /// `"f" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    Default,
}

fn refuse(refusal: Refusal, field: &str) -> SelectorError {
    let message = match refusal {
        Refusal::NotSupported => format!("field label not supported: {field}"),
        Refusal::Job => format!(
            "field label {} not supported for batchv1.Job",
            crate::go::quote(field)
        ),
        Refusal::ResourceSlice => format!(
            "field label not supported for resource.k8s.io/v1beta1, Kind=ResourceSlice: {field}"
        ),
        Refusal::Default => format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            crate::go::quote(field)
        ),
    };
    SelectorError::UnsupportedField {
        field: field.to_owned(),
        message,
    }
}

/// Where a field of a kind is read from, or why the kind refuses it. The accepted fields are
/// upstream's field label conversions (which decide what the server accepts, not the strategies'
/// field sets, which sometimes hold more); the extraction follows the strategies' `GetAttrs`.
fn resolve<'a>(group: &str, kind: &str, field: &'a str) -> Result<Extract<'a>, SelectorError> {
    use Extract::{Bool, Empty, Int, PodIp, Str, StrOr};
    let (extract, refusal) = match (group, kind) {
        ("", "Pod") => (
            match field {
                "metadata.name"
                | "metadata.namespace"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "status.phase"
                | "status.nominatedNodeName" => Some(Str(field)),
                // `spec.host` is what v1 clients from before `spec.nodeName` still send.
                "spec.nodeName" | "spec.host" => Some(Str("spec.nodeName")),
                "spec.hostNetwork" => Some(Bool("spec.hostNetwork")),
                "status.podIP" => Some(PodIp),
                "status.podIPs" => Some(Empty),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        // Nodes and namespaces are cluster-scoped, and their conversions refuse
        // `metadata.namespace`.
        ("", "Node") => (
            match field {
                "metadata.name" => Some(Str("metadata.name")),
                "spec.unschedulable" => Some(Bool("spec.unschedulable")),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("", "Namespace") => (
            match field {
                "metadata.name" | "status.phase" => Some(Str(field)),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("", "ReplicationController") => (
            match field {
                "metadata.name" | "metadata.namespace" => Some(Str(field)),
                "status.replicas" => Some(Int("status.replicas")),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("", "Secret") => (
            match field {
                "metadata.name" | "metadata.namespace" | "type" => Some(Str(field)),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("", "Service") => (
            match field {
                "metadata.name" | "metadata.namespace" | "spec.clusterIP" | "spec.type" => {
                    Some(Str(field))
                }
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("", "Event") => (
            match field {
                "metadata.name"
                | "metadata.namespace"
                | "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "type" => Some(Str(field)),
                // Named `source` but holding `source.component`, falling back to the reporting
                // controller for events written through events.k8s.io.
                "source" => Some(StrOr("source.component", "reportingComponent")),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        // events.k8s.io shares the core Event storage; its conversion maps its own field names
        // onto the core ones, and refuses the core spellings (`involvedObject.name`).
        ("events.k8s.io", "Event") => (
            match field {
                "metadata.name"
                | "metadata.namespace"
                | "regarding.kind"
                | "regarding.namespace"
                | "regarding.name"
                | "regarding.uid"
                | "regarding.apiVersion"
                | "regarding.resourceVersion"
                | "regarding.fieldPath"
                | "reason"
                | "reportingController"
                | "type" => Some(Str(field)),
                "source" => Some(StrOr("deprecatedSource.component", "reportingController")),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("batch", "Job") => (
            match field {
                "metadata.name" | "metadata.namespace" => Some(Str(field)),
                "status.successful" => Some(Int("status.succeeded")),
                _ => None,
            },
            Refusal::Job,
        ),
        ("certificates.k8s.io", "CertificateSigningRequest" | "ClusterTrustBundle") => (
            match field {
                "metadata.name" | "spec.signerName" => Some(Str(field)),
                _ => None,
            },
            Refusal::NotSupported,
        ),
        ("resource.k8s.io", "ResourceSlice") => (
            match field {
                "metadata.name" | "spec.nodeName" | "spec.driver" => Some(Str(field)),
                _ => None,
            },
            Refusal::ResourceSlice,
        ),
        // Everything else, ReplicaSets included: apps/v1 registers no conversion, so upstream
        // refuses `status.replicas` there although its strategy computes it.
        _ => (
            match field {
                "metadata.name" | "metadata.namespace" => Some(Str(field)),
                _ => None,
            },
            Refusal::Default,
        ),
    };
    extract.ok_or_else(|| refuse(refusal, field))
}

/// Checks `field` may be used in a field selector on objects of `kind` in `group` ("" for core),
/// with upstream's message when it may not.
pub fn check_field(group: &str, kind: &str, field: &str) -> Result<(), SelectorError> {
    resolve(group, kind, field).map(|_| ())
}

/// The value of a selectable field of an object of the given kind (group "" for core), read from
/// the object's JSON in that group's versioned form and formatted as upstream does: strings as
/// they are, absent strings as "", bools as "true"/"false", integers in decimal. Fails with
/// upstream's message if the kind does not support the field.
///
/// Upstream accepts a pod's `status.podIPs` but never fills it in, so it is always "" here too.
pub fn field_value(
    group: &str,
    kind: &str,
    object: &Value,
    field: &str,
) -> Result<String, SelectorError> {
    let text = |path: &str| {
        lookup_path(object, path)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    Ok(match resolve(group, kind, field)? {
        Extract::Str(path) => text(path).to_owned(),
        Extract::Bool(path) => {
            let b = lookup_path(object, path)
                .and_then(Value::as_bool)
                .unwrap_or(false);
            b.to_string()
        }
        Extract::Int(path) => match lookup_path(object, path) {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|i| i.to_string())
                .or_else(|| n.as_u64().map(|u| u.to_string()))
                // A float that is really an integer (`3.0`) prints as one, as Go's int would.
                .unwrap_or_else(|| (n.as_f64().unwrap_or(0.0).trunc() as i64).to_string()),
            _ => "0".to_owned(),
        },
        Extract::StrOr(first, second) => {
            let v = text(first);
            if v.is_empty() { text(second) } else { v }.to_owned()
        }
        Extract::PodIp => {
            let primary = lookup_path(object, "status.podIPs")
                .and_then(Value::as_array)
                .and_then(|ips| ips.first())
                .and_then(|ip| ip.get("ip"))
                .and_then(Value::as_str);
            primary.unwrap_or_else(|| text("status.podIP")).to_owned()
        }
        Extract::Empty => String::new(),
    })
}

/// The dotted paths of an object that `field`'s value is read from (see [`field_value`]).
pub fn field_paths<'a>(
    group: &str,
    kind: &str,
    field: &'a str,
) -> Result<Vec<&'a str>, SelectorError> {
    Ok(match resolve(group, kind, field)? {
        Extract::Str(p) => vec![p],
        Extract::Bool(p) | Extract::Int(p) => vec![p],
        Extract::StrOr(a, b) => vec![a, b],
        Extract::PodIp => vec!["status.podIPs", "status.podIP"],
        Extract::Empty => Vec::new(),
    })
}

/// Which parts of an object to keep: a tree of keys, each a whole value at a leaf.
#[derive(Debug, Default, Clone)]
pub struct Paths {
    children: std::collections::BTreeMap<String, Paths>,
    whole: bool,
}

impl Paths {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut root = Paths::default();
        for path in paths {
            let mut node = &mut root;
            for key in path.split('.') {
                node = node.children.entry(key.to_owned()).or_default();
            }
            node.whole = true;
        }
        root
    }
}

/// The parts of a JSON document at `paths` (the rest skipped without being built): what a
/// selector reads of a stored object, without decoding all of it.
pub fn partial_json(json: &[u8], paths: &Paths) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = serde::de::DeserializeSeed::deserialize(Pick(paths), &mut de)?;
    de.end()?;
    Ok(value)
}

struct Pick<'p>(&'p Paths);

impl<'de> serde::de::DeserializeSeed<'de> for Pick<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pick<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0.children.get(&key) {
                Some(child) => {
                    let v = map.next_value_seed(Pick(child))?;
                    out.insert(key, v);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    // Anything but an object where the paths go deeper holds none of them.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

fn lookup_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_documents_keep_only_the_selected_paths() {
        let doc = br#"{"metadata":{"name":"web","labels":{"app":"web"},"managedFields":[{"a":1}]},
            "spec":{"nodeName":"n1","containers":[{"name":"c"}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}"#;
        let paths = Paths::new([
            "metadata.labels",
            "spec.nodeName",
            "status.podIPs",
            "status.podIP",
        ]);
        let v = partial_json(doc, &paths).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"metadata": {"labels": {"app": "web"}},
                "spec": {"nodeName": "n1"}, "status": {"podIP": "10.0.0.1"}})
        );
        // A path through something that is not an object keeps nothing there.
        let odd = partial_json(br#"{"spec":[1,2],"metadata":"x"}"#, &paths).unwrap();
        assert_eq!(odd, serde_json::json!({"spec": null, "metadata": null}));
        assert!(partial_json(b"{", &paths).is_err());
        assert_eq!(
            field_paths("", "Pod", "status.podIP").unwrap(),
            ["status.podIPs", "status.podIP"]
        );
    }
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("labels must be an object"),
        }
    }

    fn parse_err(s: &str) -> String {
        LabelSelector::parse(s).expect_err(s).to_string()
    }

    fn matches(selector: &str, ls: Value) -> bool {
        LabelSelector::parse(selector)
            .unwrap()
            .matches(Some(&labels(ls)))
    }

    const NAME_REGEX_DETAIL: &str = "name part must consist of alphanumeric characters, '-', '_' \
        or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or \
        'my.name',  or '123-abc', regex used for validation is \
        '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    const VALUE_REGEX_DETAIL: &str = "a valid label must be an empty string or consist of \
        alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
        character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
        '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn good_strings_round_trip_without_blanks() {
        // Upstream's TestSelectorParse: the canonical form is the input without its spaces.
        for s in [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
        ] {
            let sel = LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(sel.to_string(), s.replace(' ', ""), "{s}");
        }
    }

    #[test]
    fn bad_strings_are_refused() {
        for s in [
            "x=a||y=b", "x==a==b", "!x=a", "x<a", "x in", "x in (", "a,", ",a", "a b", "(a)",
        ] {
            assert!(LabelSelector::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn canonical_form_sorts_keys_and_values() {
        let sel =
            LabelSelector::parse("  z notin (c, a),app = web ,x in (b,a,b),!gone, has ").unwrap();
        assert_eq!(
            sel.to_string(),
            "app=web,!gone,has,x in (a,b),z notin (a,c)"
        );
        assert_eq!(
            LabelSelector::parse("x=a,a=x").unwrap().to_string(),
            LabelSelector::parse("a=x,x=a").unwrap().to_string()
        );
        assert_eq!(LabelSelector::parse("a==b").unwrap().to_string(), "a==b");
        assert_eq!(
            LabelSelector::parse("x in ()").unwrap().to_string(),
            "x in ()"
        );
        assert_eq!(
            LabelSelector::parse("x in (,a)").unwrap().to_string(),
            "x in (,a)"
        );
        assert_eq!(
            LabelSelector::parse("x in (a,,b)").unwrap().to_string(),
            "x in (,a,b)"
        );
        assert_eq!(
            LabelSelector::parse("x in (a,,)").unwrap().to_string(),
            "x in (,a)"
        );
        assert_eq!(
            LabelSelector::parse("x\tin\n(a)\r").unwrap().to_string(),
            "x in (a)"
        );
    }

    #[test]
    fn in_and_notin_are_words_where_values_go() {
        let sel = LabelSelector::parse("in in (in, notin),notin=in").unwrap();
        assert_eq!(sel.to_string(), "in in (in,notin),notin=in");
        assert!(matches("notin=in", json!({"notin": "in"})));
    }

    #[test]
    fn matching_follows_upstream() {
        assert!(matches("", json!({"x": "y"})));
        assert!(matches("x=y", json!({"x": "y"})));
        assert!(matches("x=y,z=w", json!({"x": "y", "z": "w"})));
        assert!(matches("x!=y,z!=w", json!({"x": "z", "z": "a"})));
        assert!(matches("x", json!({"x": "z"})));
        assert!(matches("!x", json!({"y": "z"})));
        assert!(matches("x>1", json!({"x": "2"})));
        assert!(matches("x<1", json!({"x": "0"})));
        assert!(matches("x<1", json!({"x": "-5"})));
        assert!(matches("x in (a,b)", json!({"x": "b"})));
        assert!(matches("x notin (a,b)", json!({"x": "c"})));
        assert!(matches("x notin (a,b)", json!({})));
        assert!(matches("x!=a", json!({})));
        assert!(matches("x=", json!({"x": ""})));
        assert!(!matches("x=z", json!({})));
        assert!(!matches("x=y", json!({"x": "z"})));
        assert!(!matches("x=y,z=w", json!({"x": "w", "z": "w"})));
        assert!(!matches("x!=y,z!=w", json!({"x": "z", "z": "w"})));
        assert!(!matches("x", json!({"y": "z"})));
        assert!(!matches("!x", json!({"x": "z"})));
        assert!(!matches("x>1", json!({"x": "0"})));
        assert!(!matches("x<1", json!({"x": "2"})));
        assert!(!matches("x>1", json!({})));
        assert!(!matches("x>1", json!({"x": "big"})));
        assert!(!matches("x in (a,b)", json!({})));
        assert!(!matches("x notin (a,b)", json!({"x": "a"})));
        assert!(!matches("x=", json!({})));
        // A non-string label value counts as absent.
        assert!(!matches("x", json!({"x": 1})));

        let sel = LabelSelector::parse("app=web").unwrap();
        assert!(!sel.matches(None));
        assert!(LabelSelector::parse("!app").unwrap().matches(None));
        assert!(LabelSelector::everything().matches(None));
    }

    #[test]
    fn parse_errors_are_worded_as_upstream() {
        assert_eq!(parse_err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            parse_err("a,,b"),
            "found ',', expected: identifier after ','"
        );
        assert_eq!(
            parse_err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            parse_err("x==a==b"),
            "found '==', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse_err("!x=a"),
            "found '=', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse_err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            parse_err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            parse_err("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            parse_err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            parse_err("a in (b,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(
            parse_err("a=("),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            parse_err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            parse_err("x<a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' \
             operators, the value must be an integer"
        );
        assert_eq!(
            parse_err("a=-b"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": \
                 {VALUE_REGEX_DETAIL}"
            )
        );
        // `>` with a negative number fails the label value rule, as upstream.
        assert!(parse_err("a>-1").starts_with("unable to parse requirement: values[0][a]:"));
    }

    #[test]
    fn invalid_keys_carry_upstreams_nil_path() {
        assert_eq!(
            parse_err("-a=b"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"-a\": {NAME_REGEX_DETAIL}"
            )
        );
        let long = "a".repeat(64);
        assert_eq!(
            parse_err(&long),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be \
                 no more than 63 characters"
            )
        );
        assert_eq!(
            parse_err("Example.com/a"),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a \
             lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
             or '.', and must start and end with an alphanumeric character (e.g. 'example.com', \
             regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            parse_err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be \
             non-empty"
        );
        assert_eq!(
            parse_err("a/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be \
                 non-empty; {NAME_REGEX_DETAIL}"
            )
        );
        assert!(parse_err("a/b/c").contains(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
             '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') \
             with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
        assert!(parse_err("é").contains("Invalid value: \"é\""));
        assert!(LabelSelector::parse("app.kubernetes.io/name=web,A_b.c-9").is_ok());
    }

    #[test]
    fn label_key_and_value_rules() {
        assert!(validate_label_key("kubernetes.io/hostname").is_ok());
        assert!(validate_label_key(&format!("{}/{}", "a".repeat(253), "b".repeat(63))).is_ok());
        assert!(validate_label_key(&format!("{}/b", "a".repeat(254))).is_err());
        assert!(validate_label_key("a..b/c").is_err());
        assert!(validate_label_key("a-/c").is_err());
        assert!(validate_label_key("").is_err());
        assert!(validate_label_key("a_").is_err());
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("My_value-1.2").is_ok());
        assert!(validate_label_value(&"v".repeat(63)).is_ok());
        assert_eq!(
            validate_label_value(&"v".repeat(64))
                .unwrap_err()
                .to_string(),
            "must be no more than 63 characters"
        );
        assert_eq!(
            validate_label_value(".a").unwrap_err().to_string(),
            VALUE_REGEX_DETAIL
        );
    }

    #[test]
    fn lexer_takes_the_longest_operator() {
        let tokens = |s: &str| {
            let p = Parser::new(s);
            p.items.into_iter().map(|(t, _)| t).collect::<Vec<_>>()
        };
        assert_eq!(
            tokens("== != (), = notin"),
            [
                Token::DoubleEquals,
                Token::NotEquals,
                Token::OpenPar,
                Token::ClosedPar,
                Token::Comma,
                Token::Equals,
                Token::NotIn,
                Token::End
            ]
        );
        assert_eq!(
            tokens("key>2"),
            [
                Token::Identifier,
                Token::GreaterThan,
                Token::Identifier,
                Token::End
            ]
        );
        assert_eq!(tokens("a!==b")[1..3], [Token::NotEquals, Token::Equals]);
        assert_eq!(
            tokens("~ ||"),
            [Token::Identifier, Token::Identifier, Token::End]
        );
    }

    #[test]
    fn from_json_reads_match_labels_and_expressions() {
        let sel = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "app", "operator": "Exists", "values": null}
            ]
        }))
        .unwrap();
        assert_eq!(
            sel.to_string(),
            "app=web,app,!canary,env notin (prod),tier in (a,b)"
        );
        // The requirement keeps the given order; only the printed form sorts.
        assert_eq!(sel.requirements()[4].values(), ["b", "a"]);
        assert!(sel.matches(Some(&labels(json!({"app": "web", "tier": "a"})))));
        assert!(!sel.matches(Some(&labels(json!({"app": "web", "tier": "c"})))));
        assert!(!sel.matches(Some(&labels(
            json!({"app": "web", "tier": "a", "canary": "1"})
        ))));
        assert!(!sel.matches(Some(&labels(
            json!({"app": "web", "tier": "a", "env": "prod"})
        ))));
        assert_eq!(sel.requires_exact_match("app"), Some("web"));
        assert_eq!(sel.requires_exact_match("tier"), None);
    }

    #[test]
    fn from_json_empty_is_everything_and_null_is_nothing() {
        for v in [
            json!({}),
            json!({"matchLabels": {}}),
            json!({"matchLabels": null, "matchExpressions": []}),
        ] {
            let sel = LabelSelector::from_json(&v).unwrap();
            assert!(sel.is_empty() && !sel.matches_nothing(), "{v}");
            assert!(sel.matches(None));
            assert_eq!(sel.to_string(), "");
        }
        let nothing = LabelSelector::from_json(&Value::Null).unwrap();
        assert!(nothing.matches_nothing());
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(None));
        assert!(!nothing.matches(Some(&labels(json!({"a": "b"})))));
        assert_eq!(nothing.to_string(), "");
        assert_eq!(nothing, LabelSelector::nothing());
        assert_eq!(LabelSelector::default(), LabelSelector::everything());
    }

    #[test]
    fn from_json_errors_are_worded_as_upstream() {
        let err = |v: Value| LabelSelector::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't \
             be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [
                {"key": "a", "operator": "Exists", "values": ["x", "y"]}
            ]})),
            "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists \
             and does not exist"
        );
        assert_eq!(
            err(json!({"matchLabels": {"a b": "c d"}})),
            format!(
                "[key: Invalid value: \"a b\": {NAME_REGEX_DETAIL}, values[0][a b]: Invalid value: \
                 \"c d\": {VALUE_REGEX_DETAIL}]"
            )
        );
        assert_eq!(
            err(json!({"matchLabels": {"a": 1}})),
            "matchLabels[\"a\"] must be a string, not a number"
        );
        assert_eq!(
            err(json!("app=web")),
            "label selector must be an object, not a string"
        );
        assert_eq!(
            err(json!({"matchExpressions": {}})),
            "matchExpressions must be a list, not an object"
        );
    }

    #[test]
    fn requirement_constructor_validates() {
        let req = |op, vals: &[&str]| {
            Requirement::new("x", op, vals.iter().map(|s| s.to_string()).collect())
        };
        assert!(req(Operator::In, &["foo"]).is_ok());
        assert!(req(Operator::Exists, &[]).is_ok());
        assert!(req(Operator::GreaterThan, &["1"]).is_ok());
        assert_eq!(
            req(Operator::Equals, &["foo", "bar"])
                .unwrap_err()
                .to_string(),
            "values: Invalid value: []string{\"foo\", \"bar\"}: exact-match compatibility \
             requires one single value"
        );
        assert_eq!(
            req(Operator::GreaterThan, &[]).unwrap_err().to_string(),
            "values: Invalid value: []string(nil): for 'Gt', 'Lt' operators, exactly one value is \
             required"
        );
        assert_eq!(
            Requirement::new("x16", Operator::Equals, vec!["a\"\n".into()])
                .unwrap_err()
                .to_string(),
            format!("values[0][x16]: Invalid value: \"a\\\"\\n\": {VALUE_REGEX_DETAIL}")
        );
    }

    #[test]
    fn from_set_selects_exact_labels() {
        let sel = LabelSelector::from_set([("tier", "web"), ("app", "shop")]);
        assert_eq!(sel.to_string(), "app=shop,tier=web");
        assert!(sel.matches(Some(&labels(
            json!({"app": "shop", "tier": "web", "x": "y"})
        ))));
        assert!(!sel.matches(Some(&labels(json!({"app": "shop"})))));
        assert!(LabelSelector::from_set([]).is_empty());
    }

    #[test]
    fn field_selector_parses_and_prints() {
        let sel = FieldSelector::parse("status.phase!=Running,spec.nodeName==node-1").unwrap();
        // Terms are sorted as raw strings; `==` prints as `=`.
        assert_eq!(
            sel.to_string(),
            "spec.nodeName=node-1,status.phase!=Running"
        );
        assert_eq!(
            sel.fields().collect::<Vec<_>>(),
            ["spec.nodeName", "status.phase"]
        );
        assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("node-1"));
        assert_eq!(sel.requires_exact_match("status.phase"), None);
        assert!(!sel.is_empty());
        for s in ["", ",", "=", "=,"] {
            let sel = FieldSelector::parse(s).unwrap();
            assert!(sel.is_empty(), "{s:?}");
            assert!(sel.matches(|_| None));
        }
        // Blanks belong to the field or value.
        let sel = FieldSelector::parse("a = b").unwrap();
        assert_eq!(sel.fields().collect::<Vec<_>>(), ["a "]);
        assert!(sel.matches(|f| (f == "a ").then(|| " b".to_owned())));
        assert_eq!(FieldSelector::parse("a=").unwrap().to_string(), "a=");
    }

    #[test]
    fn field_selector_escaping() {
        let sel = FieldSelector::parse(r"metadata.name=a\,b\=c\\d,x!=\\").unwrap();
        assert!(sel.matches(|f| Some(if f == "x" { "y" } else { r"a,b=c\d" }.to_owned())));
        assert_eq!(sel.to_string(), r"metadata.name=a\,b\=c\\d,x!=\\");
        assert_eq!(escape_value(r"a\b,c=d"), r"a\\b\,c\=d");
        let err = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
        assert_eq!(
            err(r"a=b\n"),
            r"invalid field selector: invalid escape sequence: \n"
        );
        assert_eq!(
            err(r"a=b\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            err("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("a=b,c"),
            "invalid selector: 'a=b,c'; can't understand 'c'"
        );
        assert_eq!(
            err("abc"),
            "invalid selector: 'abc'; can't understand 'abc'"
        );
        assert_eq!(
            err("x in (a)"),
            "invalid selector: 'x in (a)'; can't understand 'x in (a)'"
        );
    }

    #[test]
    fn field_selector_matching() {
        let sel = FieldSelector::parse("a=1,b!=2").unwrap();
        fn obj(
            a: Option<&'static str>,
            b: Option<&'static str>,
        ) -> impl Fn(&str) -> Option<String> {
            move |f: &str| match f {
                "a" => a.map(str::to_owned),
                "b" => b.map(str::to_owned),
                _ => None,
            }
        }
        assert!(sel.matches(obj(Some("1"), None)));
        assert!(sel.matches(obj(Some("1"), Some("3"))));
        assert!(!sel.matches(obj(Some("1"), Some("2"))));
        assert!(!sel.matches(obj(None, None)));
        // An absent field equals the empty string.
        assert!(FieldSelector::parse("a=").unwrap().matches(|_| None));
        assert!(!FieldSelector::parse("a!=").unwrap().matches(|_| None));
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {
                "nodeName": "node-1",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "serviceAccountName": "default",
                "hostNetwork": true
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.9",
                "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
                "nominatedNodeName": "node-2"
            }
        })
    }

    #[test]
    fn pod_fields() {
        let p = pod();
        let v = |f: &str| field_value("", "Pod", &p, f).unwrap();
        assert_eq!(v("metadata.name"), "web-1");
        assert_eq!(v("metadata.namespace"), "shop");
        assert_eq!(v("spec.nodeName"), "node-1");
        assert_eq!(v("spec.host"), "node-1");
        assert_eq!(v("spec.restartPolicy"), "Always");
        assert_eq!(v("spec.schedulerName"), "default-scheduler");
        assert_eq!(v("spec.serviceAccountName"), "default");
        assert_eq!(v("spec.hostNetwork"), "true");
        assert_eq!(v("status.phase"), "Running");
        assert_eq!(v("status.podIP"), "10.0.0.7");
        assert_eq!(v("status.podIPs"), "");
        assert_eq!(v("status.nominatedNodeName"), "node-2");

        let bare = json!({"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}});
        let v = |f: &str| field_value("", "Pod", &bare, f).unwrap();
        assert_eq!(v("spec.nodeName"), "");
        assert_eq!(v("spec.hostNetwork"), "false");
        assert_eq!(v("status.podIP"), "10.1.1.1");
        assert_eq!(
            field_value("", "Pod", &json!({}), "status.podIP").unwrap(),
            ""
        );

        assert_eq!(
            field_value("", "Pod", &p, "spec.foo").unwrap_err(),
            SelectorError::UnsupportedField {
                field: "spec.foo".into(),
                message: "field label not supported: spec.foo".into()
            }
        );
        assert_eq!(
            field_value("", "Pod", &p, "status.hostIP")
                .unwrap_err()
                .to_string(),
            "field label not supported: status.hostIP"
        );

        let sel = FieldSelector::parse("spec.nodeName=node-1,status.phase!=Pending").unwrap();
        assert!(sel.check_supported("", "Pod").is_ok());
        assert!(sel.matches_object("", "Pod", &p).unwrap());
        assert!(sel.matches(|f| field_value("", "Pod", &p, f).ok()));
        let sel = FieldSelector::parse("spec.nodeName=node-2").unwrap();
        assert!(!sel.matches_object("", "Pod", &p).unwrap());
        let sel = FieldSelector::parse("spec.bogus=1").unwrap();
        assert!(sel.check_supported("", "Pod").is_err());
        assert!(sel.matches_object("", "Pod", &p).is_err());
    }

    #[test]
    fn event_fields() {
        let core = json!({
            "metadata": {"name": "web-1.17", "namespace": "shop"},
            "involvedObject": {
                "kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "u-1",
                "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{web}"
            },
            "reason": "BackOff",
            "type": "Warning",
            "source": {"component": "kubelet", "host": "node-1"},
            "reportingComponent": "kubelet"
        });
        let v = |f: &str| field_value("", "Event", &core, f).unwrap();
        assert_eq!(v("involvedObject.kind"), "Pod");
        assert_eq!(v("involvedObject.namespace"), "shop");
        assert_eq!(v("involvedObject.name"), "web-1");
        assert_eq!(v("involvedObject.uid"), "u-1");
        assert_eq!(v("involvedObject.apiVersion"), "v1");
        assert_eq!(v("involvedObject.resourceVersion"), "42");
        assert_eq!(v("involvedObject.fieldPath"), "spec.containers{web}");
        assert_eq!(v("reason"), "BackOff");
        assert_eq!(v("type"), "Warning");
        assert_eq!(v("source"), "kubelet");
        assert_eq!(v("reportingComponent"), "kubelet");
        assert_eq!(v("metadata.namespace"), "shop");
        let no_source = json!({"reportingComponent": "scheduler"});
        assert_eq!(
            field_value("", "Event", &no_source, "source").unwrap(),
            "scheduler"
        );
        assert!(check_field("", "Event", "regarding.name").is_err());

        let new = json!({
            "metadata": {"name": "e", "namespace": "shop"},
            "regarding": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
            "reason": "Scheduled",
            "type": "Normal",
            "reportingController": "default-scheduler"
        });
        let v = |f: &str| field_value("events.k8s.io", "Event", &new, f).unwrap();
        assert_eq!(v("regarding.kind"), "Pod");
        assert_eq!(v("regarding.name"), "web-1");
        assert_eq!(v("regarding.uid"), "");
        assert_eq!(v("reportingController"), "default-scheduler");
        assert_eq!(v("source"), "default-scheduler");
        assert_eq!(v("type"), "Normal");
        assert_eq!(
            check_field("events.k8s.io", "Event", "involvedObject.name")
                .unwrap_err()
                .to_string(),
            "field label not supported: involvedObject.name"
        );
    }

    #[test]
    fn node_and_namespace_fields() {
        let node = json!({"metadata": {"name": "node-1"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value("", "Node", &node, "spec.unschedulable").unwrap(),
            "true"
        );
        assert_eq!(
            field_value("", "Node", &node, "metadata.name").unwrap(),
            "node-1"
        );
        let fresh = json!({"metadata": {"name": "node-2"}, "spec": {}});
        assert_eq!(
            field_value("", "Node", &fresh, "spec.unschedulable").unwrap(),
            "false"
        );
        assert_eq!(
            check_field("", "Node", "metadata.namespace")
                .unwrap_err()
                .to_string(),
            "field label not supported: metadata.namespace"
        );
        let ns = json!({"metadata": {"name": "shop"}, "status": {"phase": "Terminating"}});
        assert_eq!(
            field_value("", "Namespace", &ns, "status.phase").unwrap(),
            "Terminating"
        );
        assert!(check_field("", "Namespace", "metadata.namespace").is_err());
    }

    #[test]
    fn other_kinds() {
        let secret =
            json!({"metadata": {"name": "s", "namespace": "n"}, "type": "kubernetes.io/tls"});
        assert_eq!(
            field_value("", "Secret", &secret, "type").unwrap(),
            "kubernetes.io/tls"
        );
        let rc = json!({"status": {"replicas": 3}});
        assert_eq!(
            field_value("", "ReplicationController", &rc, "status.replicas").unwrap(),
            "3"
        );
        assert_eq!(
            field_value("", "ReplicationController", &json!({}), "status.replicas").unwrap(),
            "0"
        );
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.10"}});
        assert_eq!(
            field_value("", "Service", &svc, "spec.type").unwrap(),
            "NodePort"
        );
        assert_eq!(
            field_value("", "Service", &svc, "spec.clusterIP").unwrap(),
            "10.96.0.10"
        );
        let job = json!({"status": {"succeeded": 2}});
        assert_eq!(
            field_value("batch", "Job", &job, "status.successful").unwrap(),
            "2"
        );
        assert_eq!(
            check_field("batch", "Job", "status.succeeded")
                .unwrap_err()
                .to_string(),
            "field label \"status.succeeded\" not supported for batchv1.Job"
        );
        let csr = json!({"spec": {"signerName": "kubernetes.io/kubelet-serving"}});
        assert_eq!(
            field_value(
                "certificates.k8s.io",
                "CertificateSigningRequest",
                &csr,
                "spec.signerName"
            )
            .unwrap(),
            "kubernetes.io/kubelet-serving"
        );
        assert!(check_field("resource.k8s.io", "ResourceSlice", "spec.driver").is_ok());
        assert!(check_field("resource.k8s.io", "ResourceSlice", "spec.pool").is_err());
    }

    #[test]
    fn kinds_without_a_conversion_take_only_name_and_namespace() {
        let rs = json!({
            "metadata": {"name": "web-abc", "namespace": "shop"},
            "status": {"replicas": 3}
        });
        assert_eq!(
            field_value("apps", "ReplicaSet", &rs, "metadata.name").unwrap(),
            "web-abc"
        );
        assert_eq!(
            field_value("apps", "ReplicaSet", &rs, "metadata.namespace").unwrap(),
            "shop"
        );
        assert_eq!(
            field_value("apps", "ReplicaSet", &rs, "status.replicas")
                .unwrap_err()
                .to_string(),
            "\"status.replicas\" is not a known field selector: only \"metadata.name\", \
             \"metadata.namespace\""
        );
        let cm = json!({"metadata": {"name": "c"}});
        assert_eq!(
            field_value("", "ConfigMap", &cm, "metadata.namespace").unwrap(),
            ""
        );
        assert!(check_field("", "PersistentVolume", "spec.storageClassName").is_err());
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            crate::go::quote("a\"b\\c\n\t\u{1}é"),
            "\"a\\\"b\\\\c\\n\\t\\x01é\""
        );
        assert_eq!(go_string_slice(&[]), "[]string(nil)");
        assert_eq!(
            go_string_slice(&["a".into(), "b".into()]),
            "[]string{\"a\", \"b\"}"
        );
        assert_eq!(aggregate(vec!["x".into(), "x".into()]), Some("x".into()));
        assert_eq!(
            aggregate(vec!["x".into(), "y".into()]),
            Some("[x, y]".into())
        );
        assert_eq!(aggregate(vec![]), None);
    }
}
