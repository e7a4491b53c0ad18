//! Page layout without a PDF: text, rules, boxes and tables are placed on A4
//! pages as a list of drawing operations. Laying out first and drawing
//! afterwards is what lets the footer say "Page N of M".
//!
//! Coordinates are PDF points from the top-left corner, y growing downwards;
//! a text's y is its baseline.

use super::fonts::Fonts;

pub const PAGE_W: f32 = 595.28;
pub const PAGE_H: f32 = 841.89;
pub const MARGIN_X: f32 = 48.0;
pub const CONTENT_TOP: f32 = 64.0;
pub const CONTENT_BOTTOM: f32 = PAGE_H - 56.0;
pub const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const BLACK: Rgb = Rgb(0x21, 0x21, 0x21);
pub const GREY: Rgb = Rgb(0x61, 0x61, 0x61);
pub const GREEN: Rgb = Rgb(0x2e, 0x7d, 0x32);
pub const RED: Rgb = Rgb(0xc6, 0x28, 0x28);
pub const AMBER: Rgb = Rgb(0xb2, 0x6a, 0x00);
const RULE: Rgb = Rgb(0xbd, 0xbd, 0xbd);
const HEADER_BG: Rgb = Rgb(0xe8, 0xea, 0xf0);
const ZEBRA_BG: Rgb = Rgb(0xf6, 0xf6, 0xf6);

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        color: Rgb,
    },
    /// An SVG (index into [`Layout::svgs`]) scaled into the box.
    Svg {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        index: usize,
    },
}

#[derive(Debug, Default)]
pub struct Page {
    pub ops: Vec<Op>,
    /// What the running header names (the organization of the page).
    pub running_title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Column {
    pub title: &'static str,
    /// Relative width; a table's columns are scaled to the content width.
    pub width: f32,
    pub align: Align,
}

pub const fn col(title: &'static str, width: f32) -> Column {
    Column { title, width, align: Align::Left }
}

pub const fn num(title: &'static str, width: f32) -> Column {
    Column { title, width, align: Align::Right }
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub color: Rgb,
    pub bold: bool,
}

impl Cell {
    pub fn colored(text: impl Into<String>, color: Rgb) -> Cell {
        Cell { text: text.into(), color, bold: false }
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Cell {
        Cell { text: t.into(), color: BLACK, bold: false }
    }
}

const TABLE_SIZE: f32 = 7.5;
const LINE: f32 = 1.25;
const PAD_X: f32 = 3.0;
const PAD_Y: f32 = 2.5;

pub struct Layout<'f> {
    fonts: &'f Fonts,
    pub pages: Vec<Page>,
    pub svgs: Vec<String>,
    y: f32,
    running_title: String,
}

impl<'f> Layout<'f> {
    pub fn new(fonts: &'f Fonts) -> Layout<'f> {
        Layout { fonts, pages: Vec::new(), svgs: Vec::new(), y: CONTENT_TOP, running_title: String::new() }
    }

    pub fn set_running_title(&mut self, title: &str) {
        self.running_title = title.to_string();
    }

    pub fn new_page(&mut self) {
        self.pages.push(Page { ops: Vec::new(), running_title: self.running_title.clone() });
        self.y = CONTENT_TOP;
    }

    fn push(&mut self, op: Op) {
        if self.pages.is_empty() {
            self.new_page();
        }
        if let Some(p) = self.pages.last_mut() {
            p.ops.push(op);
        }
    }

    /// Starts a new page unless `h` more points fit on this one.
    pub fn need(&mut self, h: f32) {
        if self.pages.is_empty() || self.y + h > CONTENT_BOTTOM {
            self.new_page();
        }
    }

    pub fn space(&mut self, h: f32) {
        self.y += h;
    }

    pub fn text_at(&mut self, x: f32, y: f32, size: f32, bold: bool, color: Rgb, text: &str) {
        self.push(Op::Text { x, y, size, bold, color, text: text.to_string() });
    }

    pub fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        self.fonts.get(bold).width(text, size)
    }

    /// A heading; kept with at least `keep` points of what follows.
    pub fn heading(&mut self, text: &str, size: f32, keep: f32) {
        self.need(size * 1.8 + keep);
        self.y += size;
        self.text_at(MARGIN_X, self.y, size, true, BLACK, text);
        self.y += size * 0.8;
    }

    /// A paragraph, wrapped to the content width.
    pub fn paragraph(&mut self, text: &str, size: f32, color: Rgb) {
        for line in wrap(self.fonts, text, size, false, CONTENT_W) {
            self.need(size * LINE);
            self.y += size;
            self.text_at(MARGIN_X, self.y, size, false, color, &line);
            self.y += size * (LINE - 1.0);
        }
    }

    pub fn svg(&mut self, svg: String, w: f32, h: f32) {
        self.need(h);
        self.svgs.push(svg);
        let index = self.svgs.len() - 1;
        self.push(Op::Svg { x: MARGIN_X, y: self.y, w, h, index });
        self.y += h;
    }

    /// A table that breaks across pages, repeating its caption and header.
    pub fn table(&mut self, caption: &str, cols: &[Column], rows: impl IntoIterator<Item = Vec<Cell>>) {
        let total: f32 = cols.iter().map(|c| c.width).sum();
        let widths: Vec<f32> = cols.iter().map(|c| c.width / total * CONTENT_W).collect();
        let header: Vec<Vec<String>> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| wrap(self.fonts, c.title, TABLE_SIZE, true, w - 2.0 * PAD_X))
            .collect();
        let header_h = row_height(&header);
        let mut rows = rows.into_iter().peekable();

        self.heading(caption, 11.0, header_h + 2.0 * TABLE_SIZE * LINE);
        if rows.peek().is_none() {
            self.paragraph("None.", 9.0, GREY);
            self.space(8.0);
            return;
        }
        self.table_header(cols, &widths, &header, header_h);
        for (i, row) in rows.enumerate() {
            let lines: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| wrap(self.fonts, &c.text, TABLE_SIZE, c.bold, w - 2.0 * PAD_X))
                .collect();
            let mut lines = lines;
            loop {
                let h = row_height(&lines);
                if self.y + h <= CONTENT_BOTTOM {
                    self.row(i, cols, &widths, &lines, &row, h);
                    break;
                }
                // a row taller than what is left: split it when at least
                // three lines fit and it would not fit on a page of its own
                let fit = ((CONTENT_BOTTOM - self.y - 2.0 * PAD_Y) / (TABLE_SIZE * LINE)).floor().max(0.0) as usize;
                let fresh_page = CONTENT_BOTTOM - CONTENT_TOP - header_h - 20.0;
                if fit >= 3 && h > fresh_page {
                    let (now, rest): (Vec<Vec<String>>, Vec<Vec<String>>) =
                        lines.iter().map(|c| (c[..fit.min(c.len())].to_vec(), c[fit.min(c.len())..].to_vec())).unzip();
                    let h_now = row_height(&now);
                    self.row(i, cols, &widths, &now, &row, h_now);
                    lines = rest;
                    // name the row again on the next page
                    if let (Some(first), Some(label)) = (lines.first_mut(), now.first().and_then(|c| c.first()))
                        && first.is_empty()
                        && !label.is_empty()
                    {
                        let label = label.trim_end_matches(" (continued)");
                        let bold = row.first().is_some_and(|c| c.bold);
                        *first = wrap(
                            self.fonts,
                            &format!("{label} (continued)"),
                            TABLE_SIZE,
                            bold,
                            widths[0] - 2.0 * PAD_X,
                        );
                    }
                }
                self.new_page();
                self.y += 9.0;
                self.text_at(MARGIN_X, self.y, 9.0, true, GREY, &format!("{caption} (continued)"));
                self.y += 6.0;
                self.table_header(cols, &widths, &header, header_h);
            }
        }
        self.push(Op::Line { x1: MARGIN_X, y1: self.y, x2: MARGIN_X + CONTENT_W, y2: self.y, width: 0.6, color: RULE });
        self.space(12.0);
    }

    fn row(&mut self, i: usize, cols: &[Column], widths: &[f32], lines: &[Vec<String>], row: &[Cell], h: f32) {
        if i % 2 == 1 {
            self.push(Op::Rect { x: MARGIN_X, y: self.y, w: CONTENT_W, h, color: ZEBRA_BG });
        }
        self.cells(cols, widths, lines, row, false);
        self.y += h;
    }

    fn table_header(&mut self, cols: &[Column], widths: &[f32], header: &[Vec<String>], h: f32) {
        self.push(Op::Rect { x: MARGIN_X, y: self.y, w: CONTENT_W, h, color: HEADER_BG });
        let cells: Vec<Cell> = cols.iter().map(|_| Cell { text: String::new(), color: BLACK, bold: true }).collect();
        self.cells(cols, widths, header, &cells, true);
        self.y += h;
        self.push(Op::Line { x1: MARGIN_X, y1: self.y, x2: MARGIN_X + CONTENT_W, y2: self.y, width: 0.6, color: RULE });
    }

    fn cells(&mut self, cols: &[Column], widths: &[f32], lines: &[Vec<String>], cells: &[Cell], bold: bool) {
        let mut x = MARGIN_X;
        for (((col, w), cell_lines), cell) in cols.iter().zip(widths).zip(lines).zip(cells) {
            let bold = bold || cell.bold;
            for (k, line) in cell_lines.iter().enumerate() {
                let baseline = self.y + PAD_Y + TABLE_SIZE * (0.85 + LINE * k as f32);
                let tx = match col.align {
                    Align::Left => x + PAD_X,
                    Align::Right => x + w - PAD_X - self.width(line, TABLE_SIZE, bold),
                };
                self.text_at(tx, baseline, TABLE_SIZE, bold, cell.color, line);
            }
            x += w;
        }
    }
}

fn row_height(lines: &[Vec<String>]) -> f32 {
    let n = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    n as f32 * TABLE_SIZE * LINE + 2.0 * PAD_Y
}

/// Greedy word wrap at `max_w`; explicit newlines break; words wider than a
/// line break between characters.
pub fn wrap(fonts: &Fonts, text: &str, size: f32, bold: bool, max_w: f32) -> Vec<String> {
    let m = fonts.get(bold);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if m.width(&candidate, size) <= max_w {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            if m.width(word, size) <= max_w {
                line = word.to_string();
                continue;
            }
            // too wide for a line of its own: break at `/`, `-`, `.` or `_`
            // when one fits, between characters otherwise
            let mut rest = word;
            while !rest.is_empty() {
                if m.width(rest, size) <= max_w {
                    line = rest.to_string();
                    break;
                }
                let mut fit = 0;
                let mut soft = 0;
                for (i, c) in rest.char_indices() {
                    let end = i + c.len_utf8();
                    if m.width(&rest[..end], size) > max_w {
                        break;
                    }
                    fit = end;
                    // before a hyphen, so no text extractor mistakes it for a
                    // hyphenation and glues the identifier together
                    if c == '-' && i > 0 {
                        soft = i;
                    } else if matches!(c, '/' | '.' | '_' | ',') {
                        soft = end;
                    }
                }
                let cut = if soft > 0 { soft } else { fit.max(rest.chars().next().map_or(1, char::len_utf8)) };
                out.push(rest[..cut].to_string());
                rest = &rest[cut..];
            }
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> Fonts {
        Fonts::load().expect("embedded fonts parse")
    }

    #[test]
    fn wrap_breaks_words_and_long_tokens() {
        let f = fonts();
        let lines = wrap(&f, "alpha beta gamma delta", 10.0, false, 60.0);
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(lines.join(" "), "alpha beta gamma delta");
        let long = "x".repeat(200);
        let lines = wrap(&f, &long, 10.0, false, 50.0);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| f.regular.width(l, 10.0) <= 50.0));
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap(&f, "a\nb", 10.0, false, 100.0), vec!["a", "b"]);
    }

    #[test]
    fn a_row_taller_than_a_page_is_split() {
        let f = fonts();
        let mut l = Layout::new(&f);
        l.new_page();
        let members = (0..2000).map(|i| format!("service-{i}")).collect::<Vec<_>>().join(", ");
        l.table("Groups", &[col("Group", 1.0), col("Members", 4.0)], [vec![Cell::from("g"), Cell::from(members)]]);
        assert!(l.pages.len() >= 3);
        for page in &l.pages {
            for op in &page.ops {
                if let Op::Text { y, .. } = op {
                    assert!(*y <= CONTENT_BOTTOM, "text below the content area");
                }
            }
        }
        let all: String = l
            .pages
            .iter()
            .flat_map(|p| &p.ops)
            .filter_map(|o| match o {
                Op::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert!(all.contains("service-0,") && all.contains("service-1999"), "nothing lost in the split");
    }

    #[test]
    fn tables_break_across_pages_and_repeat_the_header() {
        let f = fonts();
        let mut l = Layout::new(&f);
        l.new_page();
        let rows = (0..300).map(|i| vec![Cell::from(format!("service-{i}")), Cell::from("99.9 %")]);
        l.table("Services", &[col("Service", 3.0), num("Availability", 1.0)], rows);
        assert!(l.pages.len() >= 3, "300 rows need several pages, got {}", l.pages.len());
        for (i, page) in l.pages.iter().enumerate() {
            let texts: Vec<&str> = page
                .ops
                .iter()
                .filter_map(|o| match o {
                    Op::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert!(texts.contains(&"Availability"), "page {i} repeats the header");
            if i > 0 {
                assert!(texts.contains(&"Services (continued)"));
            }
            for op in &page.ops {
                if let Op::Text { y, .. } = op {
                    assert!(*y <= CONTENT_BOTTOM, "text below the content area on page {i}");
                }
            }
        }
    }
}
