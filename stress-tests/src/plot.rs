//! The `--plot FILE.svg` chart (plotters, SVG backend): stack bytes in use
//! (left axis, MiB) and coroutines live (right axis) against seconds since
//! the start of the run, both as sampled by the monitor's
//! `read_consistent` calls.

use std::path::Path;

use plotters::prelude::*;

use crate::monitor::Point;

/// Most points drawn per series; longer series are reduced to this many
/// buckets, keeping each bucket's maxima so peaks stay visible.
const MAX_POINTS: usize = 2000;

/// Size of the SVG in pixels.
const SIZE: (u32, u32) = (1100, 600);

const MIB: f64 = 1024.0 * 1024.0;

/// Reduce `series` to at most `MAX_POINTS` points (per-bucket maxima).
pub fn downsample(series: &[Point]) -> Vec<Point> {
    if series.len() <= MAX_POINTS {
        return series.to_vec();
    }
    let per = series.len().div_ceil(MAX_POINTS);
    series
        .chunks(per)
        .map(|c| Point {
            t: c[c.len() - 1].t,
            stack_inuse: c.iter().map(|p| p.stack_inuse).max().unwrap_or(0),
            coroutines: c.iter().map(|p| p.coroutines).max().unwrap_or(0),
        })
        .collect()
}

/// Write the chart of `series` to `path`, with `title` as its caption.
pub fn write_svg(path: &Path, title: &str, series: &[Point]) -> Result<(), String> {
    draw(path, title, &downsample(series)).map_err(|e| format!("drawing {}: {e}", path.display()))
}

fn draw(path: &Path, title: &str, pts: &[Point]) -> Result<(), Box<dyn std::error::Error>> {
    let t_max = pts.iter().map(|p| p.t).fold(0.0, f64::max).max(0.001);
    let stack_max = pts
        .iter()
        .map(|p| p.stack_inuse as f64 / MIB)
        .fold(0.0, f64::max);
    let coro_max = pts.iter().map(|p| p.coroutines as f64).fold(0.0, f64::max);
    let y1 = (stack_max * 1.1).max(0.1);
    let y2 = (coro_max * 1.1).max(2.0);

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..t_max, 0f64..y1)?
        .set_secondary_coord(0f64..t_max, 0f64..y2);
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("stack bytes in use (MiB)")
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("coroutines live (count)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;

    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.t, p.stack_inuse as f64 / MIB)),
            blue.stroke_width(2),
        ))?
        .label("stack bytes in use (MiB, left axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(
            pts.iter().map(|p| (p.t, p.coroutines as f64)),
            red.stroke_width(1),
        ))?
        .label("coroutines live (right axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(n: usize) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                t: i as f64 * 0.01,
                stack_inuse: (i as u64 % 97) << 16,
                coroutines: i as u64 % 13,
            })
            .collect()
    }

    #[test]
    fn downsample_keeps_peaks_and_bounds_size() {
        let s = pts(10_000);
        let d = downsample(&s);
        assert!(d.len() <= MAX_POINTS);
        assert_eq!(
            d.iter().map(|p| p.stack_inuse).max(),
            s.iter().map(|p| p.stack_inuse).max()
        );
        assert_eq!(d.last().map(|p| p.t), s.last().map(|p| p.t));
        assert_eq!(downsample(&pts(10)), pts(10));
    }

    #[test]
    fn writes_an_svg_with_both_series_and_units() {
        let path =
            std::env::temp_dir().join(format!("bamboo-stress-plot-{}.svg", std::process::id()));
        write_svg(&path, "test", &pts(500)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("stack bytes in use (MiB)"));
        assert!(svg.contains("coroutines live (count)"));
        assert!(svg.contains("time since start (s)"));
        assert!(svg.matches("<polyline").count() >= 2);
    }
}
