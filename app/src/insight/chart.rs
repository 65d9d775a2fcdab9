//! Charts drawn on the server as inline SVG, so a report page shows them without JavaScript and
//! prints them as sharp vector graphics.
//!
//! Every chart uses a fixed 480-unit-wide `viewBox` with `width="100%"`: it scales to the
//! container, and a 13-unit font stays about 10 px tall on a 360 px phone and grows on a desktop.
//! Colour comes from the page's stylesheet (`.chart__s0` … `.chart__s3`), but no chart depends
//! on it: lines carry dash patterns, bars carry their value, and legends repeat the same marks,
//! so a greyscale printout or a colour-blind reader loses nothing. Presentation attributes give
//! a visible fallback (`currentColor`) that any stylesheet rule overrides.
//!
//! The root element is `role="img"` named by its `<title>`, which hides the drawing from screen
//! readers; a `<desc>` therefore spells out every value as text.
//!
//! Labels arrive already translated, in Chinese or English, so widths are estimated in columns
//! (a CJK character is as wide as two Latin ones) rather than in bytes or characters.

use std::fmt::Write as _;

/// One named series of values; `None` is "no data" for that point (drawn as a gap, never as 0).
pub struct Series {
    /// The series' name, shown in the legend and in every tooltip.
    pub name: String,
    /// One value per category or x label, in the same order.
    pub values: Vec<Option<f64>>,
}

const WIDTH: f64 = 480.0;
const FONT: f64 = 13.0;
/// Estimated advance of one column at `FONT`; generous for Latin text so that an estimate errs
/// towards truncating rather than overflowing, and slightly above a CJK glyph's half width.
const COLUMN: f64 = 7.5;
const PAD: f64 = 8.0;
/// Printed for a missing value, so a gap reads as "no data" rather than as zero.
const MISSING: &str = "–";
/// Dash patterns per series, so lines stay distinguishable without colour.
const DASHES: [Option<&str>; 4] = [None, Some("6 4"), Some("2 3"), Some("8 3 2 3")];
/// The stylesheet styles four series; later ones reuse the classes and dashes in turn.
const STYLES: usize = 4;

const LEGEND_SWATCH: f64 = 24.0;
const LEGEND_GAP: f64 = 16.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_NAME_COLUMNS: usize = 24;

const BAR_HEIGHT: f64 = 14.0;
const BAR_GAP: f64 = 2.0;
const ROW_GAP: f64 = 10.0;
const BAR_LABEL_COLUMNS: usize = 20;
const BAR_MIN_LABEL_COLUMNS: usize = 6;
const BAR_MIN_PLOT: f64 = 160.0;

const LINE_PLOT_HEIGHT: f64 = 200.0;
const LINE_MAX_X_LABELS: usize = 8;
const LINE_X_LABEL_COLUMNS: usize = 12;
const X_LABEL_GAP: f64 = 10.0;
const POINT_RADIUS: f64 = 3.0;

/// Text made safe as SVG text and as a quoted attribute value: the emails' HTML escaping.
pub use crate::mail::html::escape;

/// Horizontal grouped bars: one row per category (label on the left), one bar per series in each
/// row, the value printed at the bar's end, a legend on top when there is more than one series.
/// Height grows with the number of rows. `id` is a unique HTML id prefix for this chart.
///
/// Bars start at zero and share one scale (the largest value, or 1 when there is none), so
/// lengths compare across rows; a negative value draws no bar but still prints its value.
pub fn bar_chart(
    id: &str,
    title: &str,
    categories: &[String],
    series: &[Series],
    format: &dyn Fn(f64) -> String,
) -> String {
    let max = scale_max(series.iter().flat_map(|s| s.values.iter().take(categories.len())).filter_map(|v| finite(*v)));

    // Values are formatted once: their widths decide the space reserved at the bars' ends.
    let printed: Vec<Vec<String>> = series
        .iter()
        .map(|s| (0..categories.len()).map(|c| value_at(s, c).map_or_else(|| MISSING.to_owned(), format)).collect())
        .collect();
    let value_columns = printed.iter().flatten().map(|p| columns(p)).max().unwrap_or(1);
    let value_width = text_width(value_columns) + 6.0;

    // Category labels get what the plot can spare, down to a minimum that keeps them readable.
    let widest_label = categories.iter().map(|c| columns(c)).max().unwrap_or(0);
    let mut label_columns = widest_label.min(BAR_LABEL_COLUMNS);
    let room_for_labels = WIDTH - 2.0 * PAD - value_width - BAR_MIN_PLOT - 8.0;
    while label_columns > BAR_MIN_LABEL_COLUMNS && text_width(label_columns) > room_for_labels {
        label_columns -= 1;
    }
    let label_width = if categories.is_empty() { 0.0 } else { text_width(label_columns) + 8.0 };
    let plot_x = PAD + label_width;
    let plot_width = (WIDTH - PAD - value_width - plot_x).max(1.0);

    let (legend, legend_height) = legend(series, LegendMark::Swatch);
    let top = PAD + legend_height;
    let slots = series.len().max(1) as f64;
    let row_height = slots * BAR_HEIGHT + (slots - 1.0) * BAR_GAP + ROW_GAP;
    let height = top + row_height * categories.len() as f64 + PAD;

    let mut desc = Vec::new();
    let mut body = String::new();
    for (c, category) in categories.iter().enumerate() {
        let row_top = top + row_height * c as f64;
        let row_middle = row_top + (row_height - ROW_GAP) / 2.0;
        label(&mut body, plot_x - 8.0, row_middle, MIDDLE, "end", &truncate(category, label_columns));
        if !series.is_empty() {
            grid(&mut body, (plot_x, row_top - 2.0), (plot_x, row_top + row_height - ROW_GAP + 2.0));
        }
        for (i, s) in series.iter().enumerate() {
            let bar_top = row_top + (BAR_HEIGHT + BAR_GAP) * i as f64;
            let value = value_at(s, c);
            let text = &printed[i][c];
            desc.push(format!("{category} · {}: {text}", s.name));
            let mut end = plot_x;
            if let Some(v) = value {
                let width = (v.max(0.0) / max * plot_width).clamp(0.0, plot_width);
                end = plot_x + width;
                let _ = write!(
                    body,
                    concat!(
                        r#"<rect class="chart__bar chart__s{}" x="{}" y="{}" width="{}" height="{}""#,
                        r#" fill="currentColor"><title>{}</title></rect>"#
                    ),
                    i % STYLES,
                    num(plot_x),
                    num(bar_top),
                    num(width),
                    num(BAR_HEIGHT),
                    escape(&format!("{category} · {}: {text}", s.name))
                );
            }
            label(&mut body, end + 4.0, bar_top + BAR_HEIGHT / 2.0, MIDDLE, "start", text);
        }
    }

    svg(id, title, &desc.join("; "), height, &(legend + &body))
}

/// A line chart over ordered x labels (e.g. weeks): one polyline per series with point markers
/// (`<circle>`), broken at missing values; a y axis with gridlines at 0, half and max labelled
/// with `format`; x labels thinned to at most 8 evenly spaced (always the first and last); legend
/// on top when there is more than one series. A single point still shows (a marker).
///
/// Fewer x labels are shown when eight would overlap; the y axis starts at zero, or lower when a
/// value is negative.
pub fn line_chart(
    id: &str,
    title: &str,
    x_labels: &[String],
    series: &[Series],
    format: &dyn Fn(f64) -> String,
) -> String {
    let count = x_labels.len();
    let present = || series.iter().flat_map(|s| s.values.iter().take(count)).filter_map(|v| finite(*v));
    let low = present().fold(0.0_f64, f64::min);
    let high = scale_max(present());
    let ticks = [low, (low + high) / 2.0, high];
    let tick_texts: Vec<String> = ticks.iter().map(|t| format(*t)).collect();

    let (legend, legend_height) = legend(series, LegendMark::Line);
    let plot_top = PAD + legend_height + FONT / 2.0;
    let plot_bottom = plot_top + LINE_PLOT_HEIGHT;
    let y_label_width = text_width(tick_texts.iter().map(|t| columns(t)).max().unwrap_or(1)) + 8.0;
    let x_texts: Vec<String> = x_labels.iter().map(|l| truncate(l, LINE_X_LABEL_COLUMNS)).collect();
    let x_widths: Vec<f64> = x_texts.iter().map(|t| text_width(columns(t))).collect();
    // The first and last x labels are centred on the plot's edges; leave room for their outer halves.
    let outer_half = |width: Option<&f64>| width.map_or(0.0, |w| w / 2.0).max(POINT_RADIUS);
    let plot_left = PAD + y_label_width.max(outer_half(x_widths.first()));
    let plot_right = WIDTH - PAD - outer_half(x_widths.last());
    let plot_width = (plot_right - plot_left).max(1.0);
    let height = plot_bottom + 8.0 + FONT + PAD;

    let x_at = |index: usize| {
        if count <= 1 {
            plot_left + plot_width / 2.0
        } else {
            plot_left + plot_width * index as f64 / (count - 1) as f64
        }
    };
    let y_at = |v: f64| plot_bottom - (v - low) / (high - low) * LINE_PLOT_HEIGHT;

    let mut body = legend;
    for (tick, text) in ticks.iter().zip(&tick_texts) {
        let y = y_at(*tick);
        grid(&mut body, (plot_left, y), (plot_right, y));
        label(&mut body, plot_left - 6.0, y, MIDDLE, "end", text);
    }

    // Wide labels leave room for fewer of them: show the most that keep neighbours apart.
    let apart = |indices: &Vec<usize>| {
        indices.windows(2).all(|pair| {
            let needed = (x_widths[pair[0]] + x_widths[pair[1]]) / 2.0 + X_LABEL_GAP;
            x_at(pair[1]) - x_at(pair[0]) >= needed
        })
    };
    let shown =
        (2..=LINE_MAX_X_LABELS).rev().map(|limit| thin(count, limit)).find(apart).unwrap_or_else(|| thin(count, 2));
    for index in shown {
        label(&mut body, x_at(index), plot_bottom + 8.0, HANGING, "middle", &x_texts[index]);
    }

    let mut desc = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let style = i % STYLES;
        let dash = dash(style);
        let points: Vec<Option<(f64, f64)>> =
            (0..count).map(|index| value_at(s, index).map(|v| (x_at(index), y_at(v)))).collect();
        // A missing value ends the run: joining across it would invent the values in between.
        for run in points.split(|p| p.is_none()).filter(|run| run.len() > 1) {
            let coordinates: Vec<String> =
                run.iter().flatten().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
            let _ = write!(
                body,
                concat!(
                    r#"<polyline class="chart__line chart__s{}" fill="none" stroke="currentColor" stroke-width="2""#,
                    r#" stroke-linejoin="round"{} points="{}"/>"#
                ),
                style,
                dash,
                coordinates.join(" ")
            );
        }
        let mut texts = Vec::new();
        for (index, point) in points.iter().enumerate() {
            let text = value_at(s, index).map_or_else(|| MISSING.to_owned(), format);
            if let Some((x, y)) = point {
                let _ = write!(
                    body,
                    concat!(
                        r#"<circle class="chart__point chart__s{}" cx="{}" cy="{}" r="{}" fill="currentColor">"#,
                        r#"<title>{}</title></circle>"#
                    ),
                    style,
                    num(*x),
                    num(*y),
                    num(POINT_RADIUS),
                    escape(&format!("{} · {}: {text}", x_labels[index], s.name))
                );
            }
            texts.push(format!("{} {text}", x_labels[index]));
        }
        desc.push(format!("{}: {}", s.name, texts.join(", ")));
    }

    svg(id, title, &desc.join("; "), height, &body)
}

/// How a legend entry shows its series: the same mark the chart draws.
#[derive(Clone, Copy)]
enum LegendMark {
    Swatch,
    Line,
}

/// The legend's markup and height; empty for a single series, whose name the title already gives.
fn legend(series: &[Series], mark: LegendMark) -> (String, f64) {
    if series.len() < 2 {
        return (String::new(), 0.0);
    }
    let mut out = String::new();
    let mut x = PAD;
    let mut row = 0.0;
    for (i, s) in series.iter().enumerate() {
        let style = i % STYLES;
        let name = truncate(&s.name, LEGEND_NAME_COLUMNS);
        let item_width = LEGEND_SWATCH + 6.0 + text_width(columns(&name));
        if x > PAD && x + item_width > WIDTH - PAD {
            x = PAD;
            row += 1.0;
        }
        let middle = PAD + row * LEGEND_ROW + LEGEND_ROW / 2.0;
        match mark {
            LegendMark::Swatch => {
                let _ = write!(
                    out,
                    concat!(
                        r#"<rect class="chart__swatch chart__s{}" x="{}" y="{}" width="{}" height="{}""#,
                        r#" fill="currentColor"/>"#
                    ),
                    style,
                    num(x + (LEGEND_SWATCH - BAR_HEIGHT) / 2.0),
                    num(middle - BAR_HEIGHT / 2.0),
                    num(BAR_HEIGHT),
                    num(BAR_HEIGHT)
                );
            }
            LegendMark::Line => {
                let _ = write!(
                    out,
                    concat!(
                        r#"<line class="chart__line chart__s{}" x1="{}" y1="{y}" x2="{}" y2="{y}" fill="none""#,
                        r#" stroke="currentColor" stroke-width="2"{}/>"#
                    ),
                    style,
                    num(x),
                    num(x + LEGEND_SWATCH),
                    dash(style),
                    y = num(middle)
                );
            }
        }
        label(&mut out, x + LEGEND_SWATCH + 6.0, middle, MIDDLE, "start", &name);
        x += item_width + LEGEND_GAP;
    }
    (out, (row + 1.0) * LEGEND_ROW + 6.0)
}

/// The root element around `body`: named by its title, described by its data, scaled to fit.
fn svg(id: &str, title: &str, desc: &str, height: f64, body: &str) -> String {
    let id = escape(id);
    let mut out = String::with_capacity(body.len() + 512);
    let _ = write!(
        out,
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img""#,
            r#" aria-labelledby="{id}-title" aria-describedby="{id}-desc""#,
            r#" viewBox="0 0 {} {}" width="100%" preserveAspectRatio="xMidYMid meet" font-size="{}">"#,
            r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>{body}</svg>"#
        ),
        num(WIDTH),
        num(height),
        num(FONT),
        escape(title),
        escape(desc),
        id = id,
        body = body
    );
    out
}

/// `dy` that puts a label's vertical middle on its `y`, for labels beside a bar, row or tick.
const MIDDLE: &str = "0.35em";
/// `dy` that hangs a label below its `y`, for labels under an axis.
const HANGING: &str = "0.7em";

/// A text label anchored at (`x`, `y`); every label goes through here so that all are escaped.
fn label(out: &mut String, x: f64, y: f64, dy: &str, anchor: &str, text: &str) {
    let _ = write!(
        out,
        r#"<text class="chart__label" x="{}" y="{}" dy="{dy}" text-anchor="{anchor}" fill="currentColor">{}</text>"#,
        num(x),
        num(y),
        escape(text)
    );
}

/// A faint axis or grid line.
fn grid(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) {
    let _ = write!(
        out,
        r#"<line class="chart__grid" x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor" stroke-opacity="0.25"/>"#,
        num(x1),
        num(y1),
        num(x2),
        num(y2)
    );
}

/// The dash attribute of series style `style`, empty for the solid first series.
fn dash(style: usize) -> String {
    DASHES[style % STYLES].map_or_else(String::new, |d| format!(r#" stroke-dasharray="{d}""#))
}

/// The value of series `s` at `index`, with short series and non-finite numbers read as missing
/// so that no NaN or infinity can reach a coordinate.
fn value_at(s: &Series, index: usize) -> Option<f64> {
    s.values.get(index).copied().and_then(finite)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// The largest value, or 1 when nothing is above zero, so that scaling never divides by zero.
fn scale_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max > 0.0 {
        max
    } else {
        1.0
    }
}

/// At most `limit` indices out of `0..count`, evenly spread and always including both ends.
fn thin(count: usize, limit: usize) -> Vec<usize> {
    if count <= limit {
        return (0..count).collect();
    }
    let limit = limit.max(2);
    let mut indices: Vec<usize> =
        (0..limit).map(|j| ((j * (count - 1)) as f64 / (limit - 1) as f64).round() as usize).collect();
    indices.dedup();
    indices
}

/// A coordinate with at most one decimal place, keeping the markup short.
fn num(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if !rounded.is_finite() || rounded == 0.0 {
        "0".to_owned()
    } else if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

fn text_width(columns: usize) -> f64 {
    columns as f64 * COLUMN
}

/// Estimated display width of `s` in columns: CJK and fullwidth characters take two.
fn columns(s: &str) -> usize {
    s.chars().map(char_columns).sum()
}

fn char_columns(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x2FFFD
        | 0x30000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// `s` cut to at most `budget` columns, ending in "…" when anything was cut; cuts fall between
/// characters, never inside one.
fn truncate(s: &str, budget: usize) -> String {
    if columns(s) <= budget {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in s.chars() {
        let width = char_columns(c);
        if used + width > budget {
            break;
        }
        used += width;
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: f64) -> String {
        format!("{v}")
    }

    fn series(name: &str, values: &[Option<f64>]) -> Series {
        Series { name: name.to_owned(), values: values.to_vec() }
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Every value of `attribute` on elements whose class list contains `class`.
    fn attributes(svg: &str, class: &str, attribute: &str) -> Vec<f64> {
        svg.split('<')
            .filter(|element| element.contains(&format!(r#"class="{class}"#)))
            .filter_map(|element| {
                let start = element.find(&format!(r#" {attribute}=""#))? + attribute.len() + 3;
                let end = start + element[start..].find('"')?;
                element[start..end].parse().ok()
            })
            .collect()
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    fn assert_finite(svg: &str) {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
        let svg = bar_chart("c", "<script>alert(1)</script>", &labels(&["<b>"]), &[series("s", &[Some(1.0)])], &plain);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn title_is_first_child_and_names_the_chart() {
        let charts = [
            bar_chart("mttr", "Time to resolve", &labels(&["a"]), &[series("s", &[Some(1.0)])], &plain),
            line_chart("mttr", "Time to resolve", &labels(&["a"]), &[series("s", &[Some(1.0)])], &plain),
        ];
        for svg in charts {
            assert!(svg.starts_with("<svg "));
            assert!(svg.contains(r#"aria-labelledby="mttr-title""#));
            assert!(svg.contains(r#"role="img""#) && svg.contains(r#"class="chart""#));
            assert!(svg.contains(r#"width="100%""#) && svg.contains(r#"preserveAspectRatio="xMidYMid meet""#));
            let first_child = &svg[svg.find('>').unwrap() + 1..];
            assert!(first_child.starts_with(r#"<title id="mttr-title">Time to resolve</title>"#), "{svg}");
        }
    }

    #[test]
    fn missing_and_zero_values_render_without_dividing_by_zero() {
        let cats = labels(&["a", "b"]);
        let empty = [series("x", &[None, None]), series("y", &[Some(f64::NAN), Some(f64::INFINITY)])];
        let zero = [series("z", &[Some(0.0), Some(0.0)])];
        for data in [&empty[..], &zero[..], &[]] {
            assert_finite(&bar_chart("b", "t", &cats, data, &plain));
            assert_finite(&line_chart("l", "t", &cats, data, &plain));
        }
        assert_finite(&bar_chart("b", "t", &[], &empty, &plain));
        assert_finite(&line_chart("l", "t", &[], &empty, &plain));
    }

    #[test]
    fn bar_widths_are_proportional() {
        let svg = bar_chart(
            "b",
            "t",
            &labels(&["a", "b", "c"]),
            &[series("s", &[Some(10.0), Some(20.0), Some(5.0)])],
            &plain,
        );
        let widths = attributes(&svg, "chart__bar", "width");
        assert_eq!(widths.len(), 3, "{svg}");
        assert!(widths[1] > 100.0);
        assert!((widths[1] - 2.0 * widths[0]).abs() <= 0.15, "{widths:?}");
        assert!((widths[0] - 2.0 * widths[2]).abs() <= 0.15, "{widths:?}");
    }

    #[test]
    fn missing_bar_is_not_drawn_and_prints_a_dash() {
        let data = [series("open", &[Some(3.0), None]), series("closed", &[Some(4.0)])];
        let svg = bar_chart("b", "t", &labels(&["a", "b"]), &data, &|v| format!("{v} h"));
        assert_eq!(count(&svg, r#"<rect class="chart__bar"#), 2, "{svg}");
        assert!(svg.contains("<title>a · open: 3 h</title>") && svg.contains("<title>a · closed: 4 h</title>"));
        assert!(!svg.contains("<title>b · open"));
        assert_eq!(count(&svg, ">–</text>"), 2, "{svg}");
        assert!(svg.contains("chart__bar chart__s1") && svg.contains("chart__swatch chart__s1"));
    }

    #[test]
    fn single_series_has_no_legend_and_several_have_one() {
        let one = bar_chart("b", "t", &labels(&["a"]), &[series("s", &[Some(1.0)])], &plain);
        assert!(!one.contains("chart__swatch"));
        let two =
            line_chart("l", "t", &labels(&["a", "b"]), &[series("s", &[Some(1.0)]), series("u", &[Some(2.0)])], &plain);
        assert_eq!(count(&two, r#"<line class="chart__line"#), 2);
        assert!(two.contains(r#"stroke-dasharray="6 4""#));
    }

    #[test]
    fn bar_chart_grows_with_rows() {
        let height = |svg: &str| {
            let start = svg.find(r#"viewBox="0 0 480 "#).unwrap() + 17;
            svg[start..start + svg[start..].find('"').unwrap()].parse::<f64>().unwrap()
        };
        let few = bar_chart("b", "t", &labels(&["a"]), &[series("s", &[Some(1.0)])], &plain);
        let many = bar_chart("b", "t", &labels(&["a", "b", "c"]), &[series("s", &[Some(1.0)])], &plain);
        assert!(height(&many) > height(&few));
    }

    #[test]
    fn x_labels_are_thinned_keeping_both_ends() {
        let weeks: Vec<String> = (1..=26).map(|w| format!("W{w:02}")).collect();
        let svg = line_chart("l", "t", &weeks, &[series("s", &[Some(1.0); 26])], &plain);
        let shown: Vec<&str> = svg
            .split(r#"text-anchor="middle" fill="currentColor">"#)
            .skip(1)
            .map(|rest| &rest[..rest.find('<').unwrap()])
            .collect();
        assert!(shown.len() <= 8 && shown.len() >= 2, "{shown:?}");
        assert_eq!(shown.first(), Some(&"W01"));
        assert_eq!(shown.last(), Some(&"W26"));
        assert_eq!(count(&svg, "<circle"), 26);
        assert_eq!(thin(5, 8), vec![0, 1, 2, 3, 4]);

        let wide: Vec<String> = (1..=26).map(|w| format!("2024 week {w:02}")).collect();
        let svg = line_chart("l", "t", &wide, &[series("s", &[Some(1.0); 26])], &plain);
        let shown = count(&svg, r#"text-anchor="middle""#);
        assert!((2..8).contains(&shown), "{shown}");
        assert!(svg.contains(">2024 week 01<") && svg.contains(">2024 week 26<"));
    }

    #[test]
    fn gap_breaks_the_line() {
        let data = [series("s", &[Some(1.0), Some(2.0), None, Some(3.0), Some(4.0), None, Some(5.0)])];
        let svg = line_chart("l", "t", &labels(&["1", "2", "3", "4", "5", "6", "7"]), &data, &plain);
        assert_eq!(count(&svg, "<polyline"), 2, "{svg}");
        assert_eq!(count(&svg, "<circle"), 5, "{svg}");
        assert!(svg.contains("<title>7 · s: 5</title>"));
        assert_finite(&svg);
    }

    #[test]
    fn single_point_shows_a_marker() {
        let svg = line_chart("l", "t", &labels(&["only"]), &[series("s", &[Some(2.0)])], &plain);
        assert_eq!(count(&svg, "<polyline"), 0);
        assert_eq!(count(&svg, "<circle"), 1);
        assert_finite(&svg);
    }

    #[test]
    fn y_axis_labels_zero_half_and_max() {
        let svg =
            line_chart("l", "t", &labels(&["a", "b"]), &[series("s", &[Some(2.0), Some(8.0)])], &|v| format!("{v} d"));
        for tick in ["0 d", "4 d", "8 d"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{svg}");
        }
        assert_eq!(count(&svg, r#"<line class="chart__grid""#), 3);
    }

    #[test]
    fn cjk_labels_are_truncated_by_columns() {
        assert_eq!(columns("abc"), 3);
        assert_eq!(columns("数据库"), 6);
        assert_eq!(columns("ＡＢ"), 4);
        assert_eq!(truncate("数据库连接池耗尽", 7), "数据库…");
        assert_eq!(truncate("database pool", 7), "databa…");
        assert_eq!(truncate("短", 7), "短");
        let long = "数据库连接池耗尽导致服务不可用的事故";
        let svg = bar_chart("b", "t", &labels(&[long]), &[series("s", &[Some(1.0)])], &plain);
        let shown = truncate(long, BAR_LABEL_COLUMNS);
        assert!(svg.contains(&format!(">{shown}</text>")), "{svg}");
        assert_eq!(columns(&shown), BAR_LABEL_COLUMNS - 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn coordinates_have_at_most_one_decimal() {
        assert_eq!(num(1.0 / 3.0), "0.3");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(-0.01), "0");
        let svg = bar_chart("b", "t", &labels(&["a", "b"]), &[series("s", &[Some(1.0), Some(3.0)])], &plain);
        for width in attributes(&svg, "chart__bar", "width") {
            assert_eq!((width * 10.0).round(), width * 10.0);
        }
    }
}
