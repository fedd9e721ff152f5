//! Line charts as inline SVG, drawn by plotters' SVG backend: axes, ticks, grid and lines inside
//! the SVG; the title and the legend as HTML around it, so long labels wrap instead of overlapping
//! the data.
//!
//! plotters is built without a font feature (no `ttf`, no `ab_glyph`). Its text layout then uses
//! a fixed estimate of glyph widths instead of font metrics, which is all the SVG backend needs:
//! it writes plain `<text>` elements that the browser sets in its own `sans-serif`. The report so
//! needs no font file and no system font, on the machine that draws it or the one that opens it.

use plotters::{
    prelude::{ChartBuilder, IntoDrawingArea, LineSeries, RGBColor, SVGBackend, ShapeStyle, WHITE},
    style::{Color, IntoFont},
};

use super::esc;

/// Drawn size in pixels; the page scales it to its column (the SVG keeps its viewBox).
const SIZE: (u32, u32) = (600, 300);

/// A colour as red, green, blue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Tableau 10, reordered so that a lone run's second series (failures) is red.
const PALETTE: [Rgb; 10] = [
    Rgb(0x4E, 0x79, 0xA7),
    Rgb(0xE1, 0x57, 0x59),
    Rgb(0x59, 0xA1, 0x4F),
    Rgb(0xF2, 0x8E, 0x2B),
    Rgb(0xB0, 0x7A, 0xA1),
    Rgb(0x76, 0xB7, 0xB2),
    Rgb(0xED, 0xC9, 0x48),
    Rgb(0x9C, 0x75, 0x5F),
    Rgb(0xFF, 0x9D, 0xA7),
    Rgb(0xBA, 0xB0, 0xAC),
];

impl Rgb {
    /// The `n`th colour of the palette (it repeats after ten).
    pub fn nth(n: usize) -> Self {
        PALETTE[n % PALETTE.len()]
    }

    /// Series `k` of `n` of arm `arm`. A lone arm gets the palette's distinct colours; with
    /// several, each arm keeps its own hue and its series are lighter to darker shades of it, so
    /// which arm a line belongs to shows without the legend.
    pub fn pick(arm: usize, arms: usize, k: usize, n: usize) -> Self {
        if arms <= 1 {
            Self::nth(k)
        } else {
            Self::nth(arm).shade(k, n)
        }
    }

    /// Shade `k` of `n`: the last is the colour itself, the first mixed half-way to white.
    pub fn shade(self, k: usize, n: usize) -> Self {
        let towards_white = if n <= 1 {
            0.0
        } else {
            0.55 * (n - 1 - k.min(n - 1)) as f64 / (n - 1) as f64
        };
        let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * towards_white).round() as u8;
        Self(mix(self.0), mix(self.1), mix(self.2))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// One line of a chart.
pub struct Series {
    /// The legend's text, unescaped (it may come from a result file).
    pub label: String,
    pub colour: Rgb,
    /// Stroke width in pixels.
    pub width: u32,
    pub points: Vec<(f64, f64)>,
}

/// What the x axis measures.
pub enum XAxis {
    /// Seconds since the start of the run, up to this many.
    Seconds(f64),
    /// `log10(1 / (1 - p))` for percentile `p`, up to this many nines (HdrHistogram's plots).
    Percentile(f64),
    /// A quantity from 0 up to this much, in the unit named (a capacity step's load, a throughput).
    Quantity(f64, &'static str),
}

/// How y values read.
#[derive(Clone, Copy)]
pub enum YAxis {
    /// A plain quantity from 0 (requests/s, connections, milliseconds).
    Number,
    /// A fraction from 0 to 1, shown in percent.
    Ratio,
    /// The EMR breaker's gauge: 0 closed, 1 open, 2 half-open.
    Breaker,
}

/// A chart: a title, two axes and its lines.
pub struct Chart {
    pub title: String,
    pub x: XAxis,
    pub y_desc: &'static str,
    pub y: YAxis,
    pub series: Vec<Series>,
}

/// The chart as an HTML `<figure>`: caption, SVG, legend.
pub fn figure(chart: &Chart) -> String {
    let svg = match svg(chart) {
        Ok(svg) => svg,
        // Drawing into a String only fails on geometry plotters rejects; say so in place.
        Err(e) => format!("<p class=\"missing\">This chart could not be drawn: {}</p>", esc(&e)),
    };
    let legend: String = chart
        .series
        .iter()
        .map(|s| {
            format!(
                "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
                s.colour.hex(),
                esc(&s.label)
            )
        })
        .collect();
    format!(
        "<figure><figcaption>{}</figcaption>{svg}<ul class=\"legend\">{legend}</ul></figure>\n",
        esc(&chart.title)
    )
}

fn svg(chart: &Chart) -> Result<String, String> {
    let mut out = String::new();
    draw(chart, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw(chart: &Chart, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let y_top = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter(|p| finite(p)).map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (y_range, y_labels) = match chart.y {
        YAxis::Number => (0.0..(y_top * 1.1).max(1e-3), 8),
        YAxis::Ratio => (0.0..1.05, 6),
        YAxis::Breaker => (0.0..2.2, 3),
    };
    let (x_range, x_labels, x_desc) = match chart.x {
        XAxis::Seconds(max) => (0.0..max.max(1.0), 12, "seconds since the start"),
        XAxis::Percentile(nines) => (0.0..nines.max(1.0), nines.max(1.0) as usize + 1, "percentile"),
        XAxis::Quantity(max, unit) => (0.0..(max * 1.05).max(1.0), 10, unit),
    };
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut ctx = ChartBuilder::on(&root)
        .margin(12)
        // Room for the last x label, centred on the axis's end (`99.99%`).
        .margin_right(28)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)?;
    let x_format = |x: &f64| match chart.x {
        XAxis::Seconds(_) => format!("{x:.0}"),
        XAxis::Percentile(_) => percentile_label(*x),
        XAxis::Quantity(..) => number(*x),
    };
    let y_format = |y: &f64| match chart.y {
        YAxis::Number => number(*y),
        YAxis::Ratio => format!("{:.0}%", y * 100.0),
        YAxis::Breaker => breaker_label(*y).to_owned(),
    };
    ctx.configure_mesh()
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .x_desc(x_desc)
        .y_desc(chart.y_desc)
        .label_style(("sans-serif", 13).into_font())
        .axis_desc_style(("sans-serif", 14).into_font())
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    for s in &chart.series {
        let Rgb(r, g, b) = s.colour;
        let style = ShapeStyle {
            color: RGBColor(r, g, b).to_rgba(),
            filled: false,
            stroke_width: s.width,
        };
        ctx.draw_series(LineSeries::new(s.points.iter().copied().filter(finite), style))?;
    }
    root.present()?;
    Ok(())
}

/// `log10(1 / (1 - p))` back to a percentile: 0 → `0%`, 1 → `90%`, 3 → `99.9%`.
fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines - 2.0).ceil().max(0.0) as usize;
    format!("{p:.decimals$}%")
}

fn breaker_label(y: f64) -> &'static str {
    match y.round() as i64 {
        _ if (y - y.round()).abs() > 1e-6 => "",
        0 => "closed",
        1 => "open",
        2 => "half-open",
        _ => "",
    }
}

/// A tick value without trailing zeros: `2.5`, `0.25`, `1200`.
pub fn number(v: f64) -> String {
    let text = if v.abs() >= 1_000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ticks_read_as_hdrhistogram_plots_label_them() {
        let labels: Vec<String> = (0..5).map(|k| percentile_label(f64::from(k))).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(
            (number(2.5), number(1200.0), number(0.0)),
            ("2.5".into(), "1200".into(), "0".into())
        );
    }

    #[test]
    fn a_chart_is_an_svg_with_its_axis_labels_and_an_escaped_legend() {
        let chart = Chart {
            title: "latency".into(),
            x: XAxis::Seconds(10.0),
            y_desc: "ms",
            y: YAxis::Number,
            series: vec![Series {
                label: "<b>arm</b>".into(),
                colour: Rgb::nth(0),
                width: 2,
                points: vec![(0.0, 1.0), (5.0, f64::NAN), (10.0, 3.0)],
            }],
        };
        let html = figure(&chart);
        assert!(
            html.contains("<svg") && html.contains("seconds since the start"),
            "{html}"
        );
        assert!(html.contains("<polyline") && html.contains("&lt;b&gt;arm"), "{html}");
        assert!(!html.contains("NaN"), "{html}");
    }
}
