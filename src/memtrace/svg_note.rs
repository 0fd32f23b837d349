//! A small SVG that says, in words, why there is no picture (no leaks to
//! draw, too few iterations to plot), so `-o FILE` always gets a valid SVG.

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::failure::Failure;

/// An SVG with a bold `title` and the `lines` under it.
pub fn note(title: &str, lines: &[String]) -> Result<String, Failure> {
    let longest = lines
        .iter()
        .map(|l| l.chars().count())
        .chain([title.chars().count()])
        .max()
        .unwrap_or(0);
    // About 8 px a character at 15 px: wide enough that nothing is clipped.
    let width = (longest as u32 * 8 + 60).clamp(600, 1600);
    let height = 70 + 24 * lines.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let bold = ("sans-serif", 20).into_font().style(FontStyle::Bold);
        root.draw(&Text::new(title.to_string(), (20, 20), bold))
            .map_err(drawing)?;
        for (i, line) in lines.iter().enumerate() {
            let at = (20, 58 + 24 * i as i32);
            root.draw(&Text::new(line.clone(), at, ("sans-serif", 15)))
                .map_err(drawing)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// A drawing error: plotters writing into a String has none in practice.
pub fn drawing<E: std::fmt::Display>(e: E) -> Failure {
    Failure::bad(format!("cannot draw the SVG: {e}"))
}
