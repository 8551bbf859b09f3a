//! Output formatting shared by the subcommands: aligned text tables, byte sizes, and
//! progress bars.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};

/// How a table column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

/// A text table whose columns are padded to their widest cell.
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as lines: header, a rule, the rows; each line indented by `indent`.
    pub fn render(&self, indent: usize) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = " ".repeat(indent);
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i] - cell.chars().count();
                match self.aligns[i] {
                    Align::Left => {
                        text.push_str(cell);
                        text.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        text.push_str(&" ".repeat(pad));
                        text.push_str(cell);
                    }
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

impl Table {
    /// The table as Markdown (llama-bench's layout): cells padded to their column, number
    /// columns right-aligned (`---:`).
    pub fn markdown(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let pad = |i: usize, cell: &str| match self.aligns[i] {
            Align::Left => format!("{cell:<w$}", w = widths[i]),
            Align::Right => format!("{cell:>w$}", w = widths[i]),
        };
        let mut out = line(
            self.headers
                .iter()
                .enumerate()
                .map(|(i, h)| pad(i, h))
                .collect(),
        );
        out += &line(
            widths
                .iter()
                .zip(&self.aligns)
                .map(|(&w, a)| match a {
                    Align::Left => "-".repeat(w),
                    Align::Right => format!("{}:", "-".repeat(w.saturating_sub(1))),
                })
                .collect(),
        );
        for row in &self.rows {
            out += &line(row.iter().enumerate().map(|(i, c)| pad(i, c)).collect());
        }
        out
    }
}

/// A byte count in binary units: `512 B`, `98.36 MiB`, `1.20 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// A count with thousands separators: `134515008` → `134,515,008`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A progress bar over `total` bytes with a message, drawn on stderr (hidden when stderr
/// is not a terminal).
pub fn byte_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&[("name", Align::Left), ("size", Align::Right)]);
        t.row(vec!["a".into(), "10".into()]);
        t.row(vec!["long name".into(), "7".into()]);
        assert_eq!(
            t.render(0),
            "name       size\n---------  ----\na            10\nlong name     7\n"
        );
    }

    #[test]
    fn markdown_tables_pad_and_align() {
        let mut t = Table::new(&[("name", Align::Left), ("t/s", Align::Right)]);
        t.row(vec!["pp512".into(), "1.5 ± 0.1".into()]);
        assert_eq!(
            t.markdown(),
            "| name  |       t/s |\n| ----- | --------: |\n| pp512 | 1.5 ± 0.1 |\n"
        );
    }

    #[test]
    fn sizes_and_counts() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(98_362_432), "93.81 MiB");
        assert_eq!(bytes(3 << 30), "3.00 GiB");
        assert_eq!(count(134_515_008), "134,515,008");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
    }
}
