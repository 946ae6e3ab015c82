//! kubectl's printers: server-side `Table`s decorated as kubectl's `HumanReadablePrinter`
//! does (namespace column, `kind/` name prefix, labels, wide columns) and aligned by a port of
//! Go's `text/tabwriter` with kubectl's settings; objects as Go's `encoding/json` writes them
//! (sorted keys, HTML-safe escapes) and as `sigs.k8s.io/yaml` (go-yaml v2) writes them; and
//! `-o jsonpath=` templates ([`jsonpath`]).

use serde_json::Value;

/// kubectl's tabwriter settings (`cli-runtime/pkg/printers/tabwriter.go`).
const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Go's `text/tabwriter` (liggitt's fork with `RememberWidths`, as kubectl uses it) with
/// minwidth 6, padding 3 and spaces: cells are tab-terminated, the last cell of a line is not
/// part of a column, and a line with fewer cells ends the column blocks to its right.
#[derive(Debug, Default)]
pub struct TabWriter {
    /// The widest each column depth has been (`RememberWidths`): later blocks, such as the
    /// rows a watch prints, never make a column narrower.
    remembered: Vec<usize>,
}

impl TabWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the remembered widths (`SetRememberedWidths(nil)`: a new table starts).
    pub fn reset(&mut self) {
        self.remembered.clear();
    }

    /// `text` aligned; lines end with `\n`.
    pub fn format(&mut self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text
            .split_terminator('\n')
            .map(|l| l.split('\t').collect())
            .collect();
        let mut out = String::new();
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    /// Go's `format`: lays out the lines `line0..line1` given the widths of the columns to the
    /// left (`widths`), recursing into each column block.
    fn block(
        &mut self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = MIN_WIDTH;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + PADDING);
                this += 1;
            }
            if self.remembered.len() <= column {
                self.remembered.resize(column + 1, 0);
            }
            width = width.max(self.remembered[column]);
            self.remembered[column] = width;
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

/// One column of a server-side `Table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub priority: i64,
}

/// One row: its cells and the object (metadata) it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub cells: Vec<Value>,
    pub object: Value,
}

/// A `meta.k8s.io` `Table`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub resource_version: String,
}

impl Table {
    pub fn from_json(v: &Value) -> Self {
        let columns = v["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Column {
                name: c["name"].as_str().unwrap_or_default().to_owned(),
                kind: c["type"].as_str().unwrap_or_default().to_owned(),
                format: c["format"].as_str().unwrap_or_default().to_owned(),
                priority: c["priority"].as_i64().unwrap_or(0),
            })
            .collect();
        let rows = v["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Row {
                cells: r["cells"].as_array().cloned().unwrap_or_default(),
                object: r["object"].clone(),
            })
            .collect();
        Self {
            columns,
            rows,
            resource_version: v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// How tables are decorated (`printers.PrintOptions`).
#[derive(Clone, Debug, Default)]
pub struct PrintOptions {
    pub no_headers: bool,
    pub wide: bool,
    /// `-A` on a namespaced resource: a NAMESPACE column first.
    pub with_namespace: bool,
    /// `--show-labels`: a LABELS column last.
    pub show_labels: bool,
    /// `-L`: a column per label key.
    pub label_columns: Vec<String>,
    /// `deployment.apps` when several kinds are printed: names read `deployment.apps/web`.
    pub kind: Option<String>,
}

/// kubectl's `HumanReadablePrinter` for tables: the header once per run of tables with the
/// same columns, then the rows, as tab-separated lines for a [`TabWriter`].
#[derive(Debug, Default)]
pub struct HumanPrinter {
    pub options: PrintOptions,
    last_columns: Vec<Column>,
    printed_headers: bool,
}

impl HumanPrinter {
    pub fn new(options: PrintOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// The table's lines (tab-separated, each ending in `\n`).
    pub fn print(&mut self, mut table: Table) -> String {
        let mut options = self.options.clone();
        if self.printed_headers && (table.columns.is_empty() || table.columns == self.last_columns)
        {
            options.no_headers = true;
        }
        if table.columns.is_empty() {
            table.columns = self.last_columns.clone();
        } else if table.columns != self.last_columns {
            self.last_columns = table.columns.clone();
            self.printed_headers = false;
        }
        if !table.rows.is_empty() {
            self.printed_headers = true;
        }
        decorate(&mut table, &options);
        print_table(&table, &options)
    }
}

fn column(name: &str) -> Column {
    Column {
        name: name.to_owned(),
        kind: "string".to_owned(),
        format: String::new(),
        priority: 0,
    }
}

/// `decorateTable`: the extra columns and the kind prefix.
fn decorate(table: &mut Table, options: &PrintOptions) {
    let name_column = options.kind.as_ref().and_then(|_| {
        table
            .columns
            .iter()
            .position(|c| c.format == "name" && c.kind == "string")
    });
    let mut columns = Vec::new();
    if options.with_namespace {
        columns.push(column("Namespace"));
    }
    columns.append(&mut table.columns);
    for label in &options.label_columns {
        let header = label.rsplit('/').next().unwrap_or(label).to_uppercase();
        columns.push(column(&header));
    }
    if options.show_labels {
        columns.push(column("Labels"));
    }
    table.columns = columns;
    for row in &mut table.rows {
        if let (Some(i), Some(kind)) = (name_column, &options.kind)
            && let Some(cell) = row.cells.get_mut(i)
        {
            *cell = Value::String(format!("{kind}/{}", cell_text(cell)));
        }
        let meta = &row.object["metadata"];
        if options.with_namespace {
            let ns = meta["namespace"].as_str().unwrap_or_default();
            row.cells.insert(0, Value::String(ns.to_owned()));
        }
        let labels = meta["labels"].as_object();
        for key in &options.label_columns {
            let v = labels.and_then(|l| l.get(key)).cloned();
            row.cells.push(v.unwrap_or(Value::String(String::new())));
        }
        if options.show_labels {
            row.cells.push(Value::String(format_labels(labels)));
        }
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when there are none.
pub fn format_labels(labels: Option<&serde_json::Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_owned();
    }
    pairs.sort();
    pairs.join(",")
}

/// A cell as Go's `fmt.Sprint` shows the decoded JSON value.
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// `printTable`: headers upper-cased (none without rows), priority columns only when wide,
/// strings cut at their first line break with `...`.
fn print_table(table: &Table, options: &PrintOptions) -> String {
    let mut out = String::new();
    let shown = |c: &Column| options.wide || c.priority == 0;
    if !options.no_headers {
        if table.rows.is_empty() {
            return out;
        }
        let headers: Vec<String> = table
            .columns
            .iter()
            .filter(|c| shown(c))
            .map(|c| c.name.to_uppercase())
            .collect();
        out.push_str(&headers.join("\t"));
        out.push('\n');
    }
    for row in &table.rows {
        let cells: Vec<String> = row
            .cells
            .iter()
            .zip(&table.columns)
            .filter(|(_, c)| shown(c))
            .map(|(cell, _)| {
                let text = cell_text(cell);
                match text.find(['\n', '\r', '\x0c']) {
                    Some(i) if cell.is_string() => format!("{}...", &text[..i]),
                    _ => text,
                }
            })
            .collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// A value as Go's `json.MarshalIndent(v, "", "    ")` writes it after decoding into
/// `map[string]interface{}`: keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn json_indent(v: &Value) -> String {
    json_indent_by(v, &|a, b| a.cmp(b))
}

/// As [`json_indent`], keys in the order `order` gives (a Go struct's field order).
pub fn json_indent_by(v: &Value, order: &dyn Fn(&str, &str) -> std::cmp::Ordering) -> String {
    let mut out = String::new();
    write_json(v, Some(0), order, &mut out);
    out
}

/// As [`json_indent`], compact (`json.Marshal`).
pub fn json_compact(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, None, &|a, b| a.cmp(b), &mut out);
    out
}

fn write_json(
    v: &Value,
    indent: Option<usize>,
    order: &dyn Fn(&str, &str) -> std::cmp::Ordering,
    out: &mut String,
) {
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 4));
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| order(a, b));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(d) = indent {
                    newline(out, d + 1);
                }
                barge_api::go::json_string(k, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(&m[k], indent.map(|d| d + 1), order, out);
            }
            if let Some(d) = indent {
                newline(out, d);
            }
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(d) = indent {
                    newline(out, d + 1);
                }
                write_json(item, indent.map(|d| d + 1), order, out);
            }
            if let Some(d) = indent {
                newline(out, d);
            }
            out.push(']');
        }
        Value::String(s) => barge_api::go::json_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

/// A decoded JSON value as Go's `fmt.Sprintf("%v")` shows it: `map[a:1 b:x]`, `[a b]`.
pub fn go_sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let pairs: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_sprint(&m[k])))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

/// YAML as kubectl writes it: JSON turned into YAML by `sigs.k8s.io/yaml`, i.e. go-yaml v2's
/// emitter: keys in go-yaml's order, sequences not indented under their key, strings plain
/// unless they would read back as something else (then double-quoted) or start with an
/// indicator (then single-quoted), multi-line strings as literal blocks, long lines folded at
/// spaces past column 80. serde-saphyr reads YAML everywhere; its writer quotes and folds
/// differently (`"10.0.0.1"`, `>` blocks), so kubectl's output is written here.
pub fn go_yaml(v: &Value) -> String {
    let mut e = Emitter::default();
    match v {
        Value::Object(m) if !m.is_empty() => e.map(m, 0),
        Value::Array(a) if !a.is_empty() => e.seq(a, 0),
        other => {
            e.inline(other, 0, false);
            e.newline();
        }
    }
    e.out
}

/// Where a line may break past this column (go-yaml's `best_width`).
const BEST_WIDTH: usize = 80;

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.out.push(c);
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
    }

    fn newline(&mut self) {
        self.put("\n");
    }

    fn indent(&mut self, n: usize) {
        self.put(&" ".repeat(n));
    }

    /// A block mapping whose keys sit at `indent`; the cursor is where the first key goes.
    fn map(&mut self, m: &serde_json::Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by(|a, b| go_key_order(a, b));
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            self.scalar(k, indent, true);
            self.put(":");
            self.value(&m[k], indent);
        }
    }

    /// A block sequence whose dashes sit at `indent`.
    fn seq(&mut self, a: &[Value], indent: usize) {
        for (i, item) in a.iter().enumerate() {
            if i > 0 {
                self.indent(indent);
            }
            self.put("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.map(m, indent + 2),
                Value::Array(a) if !a.is_empty() => self.seq(a, indent + 2),
                other => {
                    self.inline(other, indent + 2, false);
                    self.newline();
                }
            }
        }
    }

    /// The value after `key:`, the key at `indent`.
    fn value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.newline();
                self.indent(indent + 2);
                self.map(m, indent + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                self.newline();
                self.indent(indent);
                self.seq(a, indent);
            }
            other => {
                self.put(" ");
                self.inline(other, indent + 2, false);
                self.newline();
            }
        }
    }

    /// A scalar or empty collection; `indent` is where continuation lines start.
    fn inline(&mut self, v: &Value, indent: usize, key: bool) {
        match v {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(&b.to_string()),
            Value::Number(n) => self.put(&n.to_string()),
            Value::String(s) => self.scalar(s, indent, key),
            Value::Object(_) => self.put("{}"),
            Value::Array(_) => self.put("[]"),
        }
    }

    fn scalar(&mut self, s: &str, indent: usize, key: bool) {
        let a = analyze(s);
        let plain_ok = !resolves_to_non_string(s);
        let style = if s.contains('\n') {
            if a.block_allowed && !key {
                Style::Literal
            } else {
                Style::Double
            }
        } else if plain_ok && a.block_plain_allowed && !s.is_empty() {
            Style::Plain
        } else if plain_ok && a.single_allowed {
            Style::Single
        } else {
            Style::Double
        };
        let breaks = !key;
        match style {
            Style::Plain => self.plain(s, indent, breaks),
            Style::Single => self.single(s, indent, breaks),
            Style::Double => self.double(s, indent, breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.newline();
                    self.indent(indent);
                } else {
                    self.out.push(' ');
                    self.column += 1;
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
    }

    fn single(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_space
                {
                    self.newline();
                    self.indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put("'");
                }
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("'");
    }

    fn double(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !printable(c) || c == '"' || c == '\\' || c == '\u{feff}' {
                let escaped = match c {
                    '\0' => "\\0".to_owned(),
                    '\x07' => "\\a".to_owned(),
                    '\x08' => "\\b".to_owned(),
                    '\t' => "\\t".to_owned(),
                    '\n' => "\\n".to_owned(),
                    '\x0b' => "\\v".to_owned(),
                    '\x0c' => "\\f".to_owned(),
                    '\r' => "\\r".to_owned(),
                    '\x1b' => "\\e".to_owned(),
                    '"' => "\\\"".to_owned(),
                    '\\' => "\\\\".to_owned(),
                    '\u{85}' => "\\N".to_owned(),
                    '\u{a0}' => "\\_".to_owned(),
                    '\u{2028}' => "\\L".to_owned(),
                    '\u{2029}' => "\\P".to_owned(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.put(&escaped);
                spaces = false;
            } else if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
                    self.newline();
                    self.indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        if s.starts_with(' ') {
            self.put("2");
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match trailing {
            0 => self.put("-"),
            1 => {}
            _ => self.put("+"),
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.newline();
            if !line.is_empty() {
                self.indent(indent);
                self.put(line);
            }
        }
    }
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn printable(c: char) -> bool {
    let u = c as u32;
    c == '\n'
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || ((0xa0..=0xd7ff).contains(&u))
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
        || (0x10000..=0x10ffff).contains(&u)
}

#[derive(Debug)]
struct Analysis {
    block_plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

/// go-yaml's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    let blankz = |c: Option<&char>| matches!(c, None | Some(' ' | '\t' | '\n' | '\r' | '\0'));
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = blankz(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !printable(c) || c == '\u{feff}' {
            special = true;
        }
        let is_break = matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
        if is_break {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = blankz(Some(&c));
    }
    let mut a = Analysis {
        block_plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break || line_breaks {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a = Analysis {
            block_plain_allowed: false,
            single_allowed: false,
            block_allowed: false,
        };
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 would read the plain scalar as something other than a string (a bool,
/// null, number or timestamp); such strings are written double-quoted.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain = s.replace('_', "");
    let unsigned = plain.trim_start_matches(['+', '-']);
    let int = unsigned.parse::<u64>().is_ok()
        || unsigned
            .strip_prefix("0b")
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c == '0' || c == '1'))
        || unsigned
            .strip_prefix("0x")
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()));
    // Go's ParseFloat: digits, one point, an exponent; no hex floats or words here.
    let float = !unsigned.is_empty()
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && plain.parse::<f64>().is_ok();
    int || float || is_base60(s) || is_timestamp(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: go-yaml quotes these too.
fn is_base60(s: &str) -> bool {
    let s = s.trim_start_matches(['+', '-']);
    let (main, _) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|p| {
            !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()) && {
                p.len() == 1 || p.as_bytes()[0] <= b'5'
            }
        })
        && s.split_once('.')
            .is_none_or(|(_, f)| f.chars().all(|c| c.is_ascii_digit() || c == '_'))
}

/// go-yaml's timestamp formats: `2006-1-2`, optionally followed by `T`, `t` or a space and
/// `15:4:5` with fractions and a zone.
fn is_timestamp(s: &str) -> bool {
    let date_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(s.len());
    let date: Vec<&str> = s[..date_len].split('-').collect();
    let date_ok = date.len() == 3
        && date[0].len() == 4
        && (1..=2).contains(&date[1].len())
        && (1..=2).contains(&date[2].len())
        && date.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !date_ok {
        return false;
    }
    let rest = &s[date_len..];
    if rest.is_empty() {
        return true;
    }
    let Some(time) = rest.strip_prefix(['T', 't', ' ']) else {
        return false;
    };
    let mut fields = time.splitn(3, ':');
    let (Some(h), Some(m), Some(sec)) = (fields.next(), fields.next(), fields.next()) else {
        return false;
    };
    let digits = |x: &str| (1..=2).contains(&x.len()) && x.chars().all(|c| c.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return false;
    }
    let sec_len = sec.find(|c: char| !c.is_ascii_digit()).unwrap_or(sec.len());
    if !(1..=2).contains(&sec_len) {
        return false;
    }
    let mut tail = &sec[sec_len..];
    if let Some(f) = tail.strip_prefix('.') {
        let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        tail = &f[n..];
    }
    match tail {
        "" | "Z" => true,
        z => {
            let z = z.strip_prefix(['+', '-']).unwrap_or("x");
            let (zh, zm) = z.split_once(':').unwrap_or((z, "00"));
            digits(zh) && zm.len() == 2 && zm.chars().all(|c| c.is_ascii_digit())
        }
    }
}

/// go-yaml v2's map key order (`keyList.Less`) for string keys (JSON's are all strings): runs
/// of digits compared as numbers, non-letters before letters.
fn go_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let less = |a: &str, b: &str| -> bool {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        for i in 0..ar.len().min(br.len()) {
            if ar[i] == br[i] {
                continue;
            }
            let al = ar[i].is_alphabetic();
            let bl = br[i].is_alphabetic();
            if al && bl {
                return ar[i] < br[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if ar[i] == '0' || br[i] == '0' {
                let mut j = i;
                while j > 0 && ar[j - 1].is_ascii_digit() {
                    j -= 1;
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < ar.len() && ar[ai].is_ascii_digit() {
                an = an
                    .saturating_mul(10)
                    .saturating_add(ar[ai] as i64 - '0' as i64);
                ai += 1;
            }
            let mut bi = i;
            while bi < br.len() && br[bi].is_ascii_digit() {
                bn = bn
                    .saturating_mul(10)
                    .saturating_add(br[bi] as i64 - '0' as i64);
                bi += 1;
            }
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return ar[i] < br[i];
        }
        ar.len() < br.len()
    };
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// kubectl's `-o jsonpath=` templates (`k8s.io/client-go/util/jsonpath`), the parts people use:
/// text, `{.a.b}`, `{.a[0]}`, `{.a[*].b}`, `{.a[1:3]}`, `{..name}`, `{['a.b']}`, filters
/// (`[?(@.type=="Ready")]`, `[?(@.x)]`), `{range ...}{end}` and quoted literals (`{"\n"}`).
/// Missing keys print nothing, as kubectl allows them.
pub mod jsonpath {
    use serde_json::Value;

    use super::json_compact;

    #[derive(Clone, Debug, PartialEq)]
    enum Step {
        Field(String),
        AllFields,
        Recursive(String),
        Index(i64),
        Slice(Option<i64>, Option<i64>, Option<i64>),
        Wildcard,
        Filter(Box<Filter>),
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Filter {
        left: Operand,
        op: Option<String>,
        right: Operand,
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Operand {
        Path(Vec<Step>),
        Literal(Value),
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Node {
        Text(String),
        Path(Vec<Step>),
        Range(Vec<Step>, Vec<Node>),
    }

    /// A parsed template.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Template(Vec<Node>);

    impl Template {
        pub fn parse(text: &str) -> Result<Self, String> {
            let mut flat = Vec::new();
            let mut rest = text;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    flat.push(Flat::Node(Node::Text(rest[..open].to_owned())));
                }
                let close =
                    closing(&rest[open..]).ok_or_else(|| format!("unclosed action in {text:?}"))?;
                let action = rest[open + 1..open + close].trim();
                flat.push(action_of(action)?);
                rest = &rest[open + close + 1..];
            }
            if !rest.is_empty() {
                flat.push(Flat::Node(Node::Text(rest.to_owned())));
            }
            let mut iter = flat.into_iter();
            let nodes = nest(&mut iter, false)?;
            Ok(Self(nodes))
        }

        /// A custom-columns expression (`RelaxedJSONPathExpression`): `.a.b`, `a.b` or
        /// `{.a.b}`.
        pub fn relaxed(expr: &str) -> Result<Self, String> {
            let inner = expr.strip_prefix('{').unwrap_or(expr);
            let inner = inner.strip_suffix('}').unwrap_or(inner);
            if inner.contains(['{', '}']) {
                return Err("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'".to_owned());
            }
            let dotted = if inner.starts_with('.') {
                inner.to_owned()
            } else {
                format!(".{inner}")
            };
            Self::parse(&format!("{{{dotted}}}"))
        }

        /// Every value the template's paths select in `data`, in order.
        pub fn values<'a>(&self, data: &'a Value) -> Vec<&'a Value> {
            let mut out = Vec::new();
            for node in &self.0 {
                if let Node::Path(steps) = node {
                    out.extend(eval(steps, data, data));
                }
            }
            out
        }

        /// The template applied to `data`.
        pub fn execute(&self, data: &Value) -> String {
            let mut out = String::new();
            run(&self.0, data, data, &mut out);
            out
        }
    }

    enum Flat {
        Node(Node),
        Range(Vec<Step>),
        End,
    }

    fn nest(iter: &mut impl Iterator<Item = Flat>, in_range: bool) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::new();
        while let Some(f) = iter.next() {
            match f {
                Flat::Node(n) => nodes.push(n),
                Flat::Range(path) => nodes.push(Node::Range(path, nest(iter, true)?)),
                Flat::End if in_range => return Ok(nodes),
                Flat::End => return Err("not in range, nothing to end".to_owned()),
            }
        }
        if in_range {
            return Err("unclosed range".to_owned());
        }
        Ok(nodes)
    }

    /// The offset of the `}` closing the action that starts `s`, quotes respected.
    fn closing(s: &str) -> Option<usize> {
        let mut quote = None;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match quote {
                Some(_) if escaped => escaped = false,
                Some(_) if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '}' => return Some(i),
                None => {}
            }
        }
        None
    }

    fn action_of(action: &str) -> Result<Flat, String> {
        if let Some(path) = action
            .strip_prefix("range")
            .filter(|p| !p.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        {
            return Ok(Flat::Range(parse_path(path.trim())?));
        }
        if action == "end" {
            return Ok(Flat::End);
        }
        if action.starts_with('"') || action.starts_with('\'') {
            return Ok(Flat::Node(Node::Text(unquote(action)?)));
        }
        Ok(Flat::Node(Node::Path(parse_path(action)?)))
    }

    fn unquote(s: &str) -> Result<String, String> {
        let quote = s.chars().next().unwrap_or('"');
        let inner = s
            .strip_prefix(quote)
            .and_then(|s| s.strip_suffix(quote))
            .ok_or_else(|| format!("unterminated quoted string {s}"))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        Ok(out)
    }

    fn parse_path(s: &str) -> Result<Vec<Step>, String> {
        let s = s
            .strip_prefix('$')
            .or_else(|| s.strip_prefix('@'))
            .unwrap_or(s);
        let mut steps = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("..") {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                steps.push(Step::Recursive(r[..end].to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                match name {
                    "" => {}
                    "*" => steps.push(Step::AllFields),
                    _ => steps.push(Step::Field(name.to_owned())),
                }
                rest = &r[end..];
            } else if rest.starts_with('[') {
                let close =
                    bracket_end(rest).ok_or_else(|| format!("unterminated array in {s}"))?;
                steps.push(parse_bracket(rest[1..close].trim())?);
                rest = &rest[close + 1..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                steps.push(Step::Field(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        Ok(steps)
    }

    fn bracket_end(s: &str) -> Option<usize> {
        let mut depth = 0;
        let mut quote = None;
        for (i, c) in s.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '[' || c == '(' => depth += 1,
                None if c == ']' || c == ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                None => {}
            }
        }
        None
    }

    fn parse_bracket(inner: &str) -> Result<Step, String> {
        if inner == "*" {
            return Ok(Step::Wildcard);
        }
        if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
            return parse_filter(f.trim());
        }
        if inner.starts_with('\'') || inner.starts_with('"') {
            return Ok(Step::Field(unquote(inner)?));
        }
        let number = |s: &str| -> Result<Option<i64>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| format!("invalid array index {s}"))
        };
        if inner.contains(':') {
            let parts: Vec<&str> = inner.split(':').collect();
            return Ok(Step::Slice(
                number(parts[0])?,
                number(parts.get(1).copied().unwrap_or(""))?,
                number(parts.get(2).copied().unwrap_or(""))?,
            ));
        }
        Ok(Step::Index(
            number(inner)?.ok_or_else(|| "empty array index".to_owned())?,
        ))
    }

    fn parse_filter(f: &str) -> Result<Step, String> {
        let ops = ["==", "!=", "<=", ">=", "<", ">"];
        let found = ops
            .iter()
            .filter_map(|op| f.find(op).map(|i| (i, *op)))
            .min();
        let operand = |s: &str| -> Result<Operand, String> {
            let s = s.trim();
            if s.starts_with('@') || s.starts_with('$') {
                return Ok(Operand::Path(parse_path(s)?));
            }
            if s.starts_with('"') || s.starts_with('\'') {
                return Ok(Operand::Literal(Value::String(unquote(s)?)));
            }
            serde_json::from_str(s)
                .map(Operand::Literal)
                .map_err(|_| format!("unrecognized filter operand {s}"))
        };
        let filter = match found {
            Some((i, op)) => Filter {
                left: operand(&f[..i])?,
                op: Some(op.to_owned()),
                right: operand(&f[i + op.len()..])?,
            },
            None => Filter {
                left: operand(f)?,
                op: None,
                right: Operand::Literal(Value::Null),
            },
        };
        Ok(Step::Filter(Box::new(filter)))
    }

    fn run(nodes: &[Node], root: &Value, current: &Value, out: &mut String) {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Path(steps) => {
                    let results = eval(steps, root, current);
                    let texts: Vec<String> = results.iter().map(|v| text(v)).collect();
                    out.push_str(&texts.join(" "));
                }
                Node::Range(steps, body) => {
                    for item in eval(steps, root, current) {
                        run(body, root, item, out);
                    }
                }
            }
        }
    }

    /// A result as kubectl prints it: strings bare, collections as compact JSON.
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Object(_) | Value::Array(_) => json_compact(v),
            Value::Null => "<nil>".to_owned(),
            other => other.to_string(),
        }
    }

    fn eval<'a>(steps: &[Step], root: &'a Value, current: &'a Value) -> Vec<&'a Value> {
        let mut values = vec![current];
        for step in steps {
            let mut next = Vec::new();
            for v in values {
                apply(step, root, v, &mut next);
            }
            values = next;
        }
        values
    }

    fn apply<'a>(step: &Step, root: &'a Value, v: &'a Value, out: &mut Vec<&'a Value>) {
        match step {
            Step::Field(name) => out.extend(v.as_object().and_then(|m| m.get(name))),
            Step::AllFields | Step::Wildcard => match v {
                Value::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    out.extend(keys.into_iter().map(|k| &m[k]));
                }
                Value::Array(a) => out.extend(a.iter()),
                _ => {}
            },
            Step::Recursive(name) => descend(name, v, out),
            Step::Index(i) => {
                if let Some(a) = v.as_array() {
                    let len = a.len() as i64;
                    let i = if *i < 0 { len + i } else { *i };
                    if (0..len).contains(&i) {
                        out.push(&a[i as usize]);
                    }
                }
            }
            Step::Slice(start, end, step) => {
                if let Some(a) = v.as_array() {
                    let len = a.len() as i64;
                    let clamp = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                    let start = clamp(start.unwrap_or(0));
                    let end = clamp(end.unwrap_or(len));
                    let step = step.unwrap_or(1).max(1);
                    let mut i = start;
                    while i < end {
                        out.push(&a[i as usize]);
                        i += step;
                    }
                }
            }
            Step::Filter(f) => {
                let items: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    _ => Vec::new(),
                };
                for item in items {
                    if matches(f, root, item) {
                        out.push(item);
                    }
                }
            }
        }
    }

    fn descend<'a>(name: &str, v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                if let Some(found) = m.get(name) {
                    out.push(found);
                }
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    descend(name, &m[k], out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| descend(name, x, out)),
            _ => {}
        }
    }

    fn operand<'a>(o: &'a Operand, root: &'a Value, item: &'a Value) -> Option<&'a Value> {
        match o {
            Operand::Literal(v) => Some(v),
            Operand::Path(steps) => eval(steps, root, item).into_iter().next(),
        }
    }

    fn matches(f: &Filter, root: &Value, item: &Value) -> bool {
        let left = operand(&f.left, root, item);
        let Some(op) = &f.op else {
            return left.is_some();
        };
        let (Some(l), Some(r)) = (left, operand(&f.right, root, item)) else {
            return false;
        };
        let ordering = match (l, r) {
            (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => (l == r).then_some(std::cmp::Ordering::Equal),
        };
        use std::cmp::Ordering::*;
        match op.as_str() {
            "==" => ordering == Some(Equal),
            "!=" => ordering != Some(Equal),
            "<" => ordering == Some(Less),
            ">" => ordering == Some(Greater),
            "<=" => matches!(ordering, Some(Less | Equal)),
            ">=" => matches!(ordering, Some(Greater | Equal)),
            _ => false,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn pods() -> Value {
            json!({"kind": "List", "items": [
                {"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"replicas": 2},
                 "status": {"conditions": [{"type": "Ready", "status": "True"},
                                           {"type": "Scheduled", "status": "False"}]}},
                {"metadata": {"name": "b"}, "spec": {"replicas": 5},
                 "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]})
        }

        fn run(t: &str) -> String {
            Template::parse(t).unwrap().execute(&pods())
        }

        #[test]
        fn paths_select_as_kubectl_does() {
            assert_eq!(run("{.kind}"), "List");
            assert_eq!(run("{.items[*].metadata.name}"), "a b");
            assert_eq!(run("{.items[0].metadata.name}"), "a");
            assert_eq!(run("{.items[-1].metadata.name}"), "b");
            assert_eq!(run("{.items[0:1].metadata.name}"), "a");
            assert_eq!(run("{.items[0].spec}"), "{\"replicas\":2}");
            assert_eq!(run("{.items[*].spec.replicas}"), "2 5");
            assert_eq!(run("x={.missing.key}."), "x=.");
            assert_eq!(run("{.items[0].metadata.labels['app']}"), "web");
            assert_eq!(run("{..name}"), "a b");
        }

        #[test]
        fn relaxed_expressions_and_values_for_custom_columns() {
            let t = Template::relaxed("items[*].metadata.name").unwrap();
            let data = pods();
            let names: Vec<&Value> = t.values(&data);
            assert_eq!(names, [&json!("a"), &json!("b")]);
            assert_eq!(
                Template::relaxed("{.kind}").unwrap().values(&pods()),
                [&json!("List")]
            );
            assert!(Template::relaxed("{.a}{.b}").is_err());
            assert_eq!(
                super::super::go_sprint(&json!({"b": [1, "x"], "a": {}})),
                "map[a:map[] b:[1 x]]"
            );
        }

        #[test]
        fn filters_ranges_and_literals() {
            assert_eq!(
                run("{.items[*].status.conditions[?(@.type==\"Ready\")].status}"),
                "True False"
            );
            assert_eq!(run("{.items[?(@.spec.replicas>3)].metadata.name}"), "b");
            assert_eq!(run("{.items[?(@.metadata.labels)].metadata.name}"), "a");
            assert_eq!(
                run("{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.replicas}{\"\\n\"}{end}"),
                "a\t2\nb\t5\n"
            );
            assert_eq!(run("{range.items[*]}{.metadata.name};{end}"), "a;b;");
            assert_eq!(run("{.rangeless}"), "");
            assert!(Template::parse("{range .items[*]}{.a}").is_err());
            assert!(Template::parse("{.a").is_err());
            assert!(Template::parse("{end}").is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_plus_padding() {
        let text = "NAME\tREADY\tAGE\nweb-1\t1/1\t5s\nlonger-name\t10/10\t3d\n";
        assert_eq!(
            TabWriter::new().format(text),
            "NAME          READY   AGE\n\
             web-1         1/1     5s\n\
             longer-name   10/10   3d\n"
        );
    }

    #[test]
    fn narrow_columns_get_the_minimum_width_and_blocks_end_at_short_lines() {
        // "a" is one character, but a column is at least 6 wide; the one-cell line in the
        // middle ends the block, so the second table is aligned on its own.
        let text = "a\tb\tc\n\nlong-cell-here\tx\ty\n";
        assert_eq!(
            TabWriter::new().format(text),
            "a     b     c\n\nlong-cell-here   x     y\n"
        );
        // The last cell of a line is not padded, even when a wider one is above it.
        assert_eq!(
            TabWriter::new().format("abcdefgh\tx\ny\tz\n"),
            "abcdefgh   x\ny          z\n"
        );
        // Trailing empty cells still pad the cell before them.
        assert_eq!(TabWriter::new().format("a\tb\t\n"), "a     b     \n");
    }

    #[test]
    fn remembered_widths_keep_later_rows_aligned() {
        let mut w = TabWriter::new();
        assert_eq!(
            w.format("NAME\tAGE\nweb-long\t1s\n"),
            "NAME       AGE\nweb-long   1s\n"
        );
        assert_eq!(w.format("a\t2s\n"), "a          2s\n");
        w.reset();
        assert_eq!(w.format("a\t2s\n"), "a     2s\n");
    }

    fn table() -> Table {
        Table::from_json(&json!({
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Status", "type": "string", "format": "", "priority": 0},
                {"name": "Restarts", "type": "integer", "format": "", "priority": 0},
                {"name": "IP", "type": "string", "format": "", "priority": 1}],
            "rows": [
                {"cells": ["web", "Running", 0, "10.0.0.1"], "object": {"metadata":
                    {"name": "web", "namespace": "prod", "labels": {"b": "2", "a": "1"}}}},
                {"cells": ["db", "Multi\nline", 12, null], "object": {"metadata":
                    {"name": "db", "namespace": "default"}}}]}))
    }

    #[test]
    fn tables_are_decorated_as_kubectl_does() {
        let mut p = HumanPrinter::new(PrintOptions::default());
        assert_eq!(
            p.print(table()),
            "NAME\tSTATUS\tRESTARTS\nweb\tRunning\t0\ndb\tMulti...\t12\n"
        );
        // The same columns again: no second header.
        assert_eq!(p.print(table()).lines().next(), Some("web\tRunning\t0"));

        let mut p = HumanPrinter::new(PrintOptions {
            wide: true,
            with_namespace: true,
            show_labels: true,
            label_columns: vec!["example.com/b".into()],
            kind: Some("pod".into()),
            ..PrintOptions::default()
        });
        assert_eq!(
            p.print(table()),
            "NAMESPACE\tNAME\tSTATUS\tRESTARTS\tIP\tB\tLABELS\n\
             prod\tpod/web\tRunning\t0\t10.0.0.1\t\ta=1,b=2\n\
             default\tpod/db\tMulti...\t12\t\t\t<none>\n"
        );

        let mut p = HumanPrinter::new(PrintOptions::default());
        let mut empty = table();
        empty.rows.clear();
        assert_eq!(p.print(empty), "", "no header without rows");
    }

    #[test]
    fn json_is_written_as_go_writes_it() {
        let v = json!({"b": [1, {"z": "<a&b>", "y": []}], "a": {}, "c": "x\ny"});
        assert_eq!(
            json_indent(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        {\n            \"y\": [],\n            \"z\": \"\\u003ca\\u0026b\\u003e\"\n        }\n    ],\n    \"c\": \"x\\ny\"\n}"
        );
        assert_eq!(
            json_compact(&json!({"b": 1, "a": [true, null]})),
            "{\"a\":[true,null],\"b\":1}"
        );
    }

    #[test]
    fn yaml_is_written_as_kubectl_writes_it() {
        let v = json!({
            "ip": "10.0.0.1", "replicas": 2, "one": "1", "yes": "True", "empty": "",
            "time": "2026-12-07T18:40:23Z", "surge": "25%", "f:metadata": {".": {}},
            "k:{\"uid\":\"x\"}": {}, "star": "*", "colon": "a: b", "list": [{"a": 1, "b": [2]}, "x"],
            "none": null, "lines": "a\n\nb\n", "nolf": "a\nb", "quote": "it's"});
        assert_eq!(
            go_yaml(&v),
            "colon: 'a: b'\nempty: \"\"\nf:metadata:\n  .: {}\nip: 10.0.0.1\n\
             k:{\"uid\":\"x\"}: {}\nlines: |\n  a\n\n  b\nlist:\n- a: 1\n  b:\n  - 2\n- x\n\
             nolf: |-\n  a\n  b\nnone: null\none: \"1\"\nquote: it's\nreplicas: 2\nstar: '*'\n\
             surge: 25%\ntime: \"2026-12-07T18:40:23Z\"\n\"yes\": \"True\"\n"
        );
        let long = "word ".repeat(30);
        let text = go_yaml(&json!({"message": long.trim_end()}));
        assert!(text.lines().all(|l| l.len() <= 86), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("  word"), "{text}");
    }

    #[test]
    fn yaml_keys_sort_as_go_yaml_sorts_them() {
        let mut keys = vec!["b", "a10", "a9", "_x", "A", "1"];
        keys.sort_by(|a, b| go_key_order(a, b));
        assert_eq!(keys, ["_x", "1", "A", "a9", "a10", "b"]);
    }
}
