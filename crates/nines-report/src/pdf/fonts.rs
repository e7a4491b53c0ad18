//! The embedded font (DejaVu Sans, Bitstream Vera licence, see
//! `fonts/LICENSE-DejaVu.txt`) and its advance widths, which the layout
//! needs to wrap and align text before krilla shapes it.

use ttf_parser::Face;

pub const REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
pub const BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");
/// The family name usvg resolves the chart's `font-family` to.
pub const FAMILY: &str = "DejaVu Sans";

/// Advance widths of one face. Kerning is ignored: a few hundredths of a
/// point per pair, covered by the cell padding.
pub struct Metrics {
    face: Face<'static>,
    units_per_em: f32,
    /// Advances of U+0000..U+0250 (Latin), the characters reports are made of.
    latin: Vec<u16>,
}

impl Metrics {
    pub fn new(data: &'static [u8]) -> Option<Metrics> {
        let face = Face::parse(data, 0).ok()?;
        let units_per_em = face.units_per_em() as f32;
        let latin = (0u32..0x250).map(|c| char::from_u32(c).map(|ch| advance(&face, ch)).unwrap_or(0)).collect();
        Some(Metrics { face, units_per_em, latin })
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text
            .chars()
            .map(|c| match self.latin.get(c as usize) {
                Some(a) => *a as u32,
                None => advance(&self.face, c) as u32,
            })
            .sum();
        units as f32 * size / self.units_per_em
    }
}

fn advance(face: &Face<'_>, c: char) -> u16 {
    let gid = face.glyph_index(c).or_else(|| face.glyph_index('?')).unwrap_or_default();
    face.glyph_hor_advance(gid).unwrap_or(0)
}

/// Both weights.
pub struct Fonts {
    pub regular: Metrics,
    pub bold: Metrics,
}

impl Fonts {
    pub fn load() -> Option<Fonts> {
        Some(Fonts { regular: Metrics::new(REGULAR)?, bold: Metrics::new(BOLD)? })
    }

    pub fn get(&self, bold: bool) -> &Metrics {
        if bold { &self.bold } else { &self.regular }
    }
}
