//! kubectl's describe output writer: upstream's `PrefixWriter` (two spaces a level, terminal
//! escapes defused) over Go's `text/tabwriter` as `tabbedString` sets it up (minimum width 0,
//! padding 2, padded with spaces, no flags).
//!
//! Go's tabwriter aligns tab-terminated cells column by column, where a column is a run of
//! consecutive lines that have a cell in it; a line without a tab flushes everything before it,
//! so alignment never reaches across such a line. Text is buffered here and laid out at each
//! flush point exactly as Go lays it out.

/// One cell: its text and its width in characters.
#[derive(Debug)]
struct Cell {
    text: String,
    width: usize,
}

/// The writer of one described object.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
    /// Buffered lines, each a list of cells; the last line is the one being written.
    lines: Vec<Vec<Cell>>,
    cell: String,
}

impl Writer {
    pub fn new() -> Self {
        Self {
            lines: vec![Vec::new()],
            ..Self::default()
        }
    }

    /// Upstream's `Write(level, ...)`: the text after `level` indents of two spaces.
    pub fn write(&mut self, level: usize, text: &str) {
        let mut s = "  ".repeat(level);
        s.push_str(text);
        self.raw(&escape(&s));
    }

    /// Upstream's `WriteLine`: the text and a newline, no indent.
    pub fn line(&mut self, text: &str) {
        self.raw(&escape(&format!("{text}\n")));
    }

    /// Upstream's `Flush`: lays out everything buffered, so nothing after aligns with it.
    pub fn flush(&mut self) {
        if !self.cell.is_empty() {
            self.terminate_cell();
        }
        self.format_lines();
        self.lines = vec![Vec::new()];
    }

    /// The text written, laid out.
    pub fn finish(mut self) -> String {
        self.flush();
        self.out
    }

    fn raw(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\t' => {
                    let text = std::mem::take(&mut self.cell);
                    let width = text.chars().count();
                    self.current().push(Cell { text, width });
                }
                '\n' => {
                    self.terminate_cell();
                    let cells = self.current().len();
                    self.lines.push(Vec::new());
                    if cells == 1 {
                        // A line with one cell ends the block: Go flushes here.
                        self.format_lines();
                        self.lines = vec![Vec::new()];
                    }
                }
                c => self.cell.push(c),
            }
        }
    }

    fn current(&mut self) -> &mut Vec<Cell> {
        if self.lines.is_empty() {
            self.lines.push(Vec::new());
        }
        self.lines.last_mut().expect("a current line")
    }

    fn terminate_cell(&mut self) {
        let text = std::mem::take(&mut self.cell);
        let width = text.chars().count();
        self.current().push(Cell { text, width });
    }

    /// Go's `format` over all buffered lines, then the lines written out.
    fn format_lines(&mut self) {
        let mut widths = Vec::new();
        let n = self.lines.len();
        let mut out = std::mem::take(&mut self.out);
        format(&self.lines, &mut widths, 0, n, &mut out);
        self.out = out;
    }
}

/// Go's `Writer.format`: lays out lines `line0..line1` given the widths of the columns to the
/// left, recursing into each column block.
fn format(
    lines: &[Vec<Cell>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, widths, line0, this, out);
        line0 = this;
        let mut width = 0;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].width + 2);
            this += 1;
        }
        widths.push(width);
        format(lines, widths, line0, this, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, widths, line0, line1, out);
}

fn write_lines(lines: &[Vec<Cell>], widths: &[usize], from: usize, to: usize, out: &mut String) {
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(&cell.text);
            if let Some(w) = widths.get(j) {
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.width)));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

/// `printers.EscapeTerminal`: escape and carriage return made visible.
fn escape(s: &str) -> String {
    s.replace('\x1b', "^[").replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_within_blocks_as_go_tabwriter() {
        let mut w = Writer::new();
        w.write(0, "Name:\tweb\n");
        w.write(0, "Namespace:\tdefault\n");
        w.write(0, "Labels:\tapp=web\n");
        w.write(0, "\tpod-template-hash=1\n");
        w.write(0, "Containers:\n");
        w.write(1, "nginx:\n");
        w.write(2, "Image:\tnginx\n");
        w.write(2, "Restart Count:\t0\n");
        let text = w.finish();
        assert_eq!(
            text,
            "Name:       web\nNamespace:  default\nLabels:     app=web\n            pod-template-hash=1\nContainers:\n  nginx:\n    Image:          nginx\n    Restart Count:  0\n"
        );
    }

    #[test]
    fn a_column_block_ends_where_a_line_lacks_the_cell() {
        let mut w = Writer::new();
        w.write(1, "Type\tStatus\n");
        w.write(1, "Ready \tTrue \n");
        w.write(0, "Volumes:\t<none>\n");
        w.write(0, "QoS Class:\tBestEffort\n");
        // The empty trailing cell of "True \n" is the last cell: it sets no width.
        assert_eq!(
            w.finish(),
            "  Type      Status\n  Ready     True \nVolumes:    <none>\nQoS Class:  BestEffort\n"
        );
        let mut w = Writer::new();
        w.write(0, "A:\t1\n");
        w.flush();
        w.write(0, "Longer:\t2\n");
        assert_eq!(w.finish(), "A:  1\nLonger:  2\n");
        let mut w = Writer::new();
        w.write(0, "a\tb\tc\n");
        w.write(0, "aaaa\tb\n");
        w.write(0, "x\tyyyyyy\tz\n");
        assert_eq!(w.finish(), "a     b  c\naaaa  b\nx     yyyyyy  z\n");
    }
}
