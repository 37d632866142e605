//! Laying a message out in rows: word-wrapped to the pane's width, in terminal columns (wide characters
//! take two), keeping each span's style, with the rows after the first indented under the text.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Lays styled text out in rows of at most `width` columns: at a line break, else after the last space
/// that fits, else anywhere; rows after the first are indented by `indent`.
pub fn wrap(spans: Vec<Span<'static>>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(indent + 1);
    let cells: Vec<(char, Style)> = spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    let mut used = 0;
    for (c, style) in cells {
        if c == '\n' {
            rows.push(vec![(' ', Style::new()); indent]);
            used = indent;
            continue;
        }
        let w = c.width().unwrap_or(0);
        if used + w > width {
            rows.push(vec![(' ', Style::new()); indent]);
            used = indent;
            if c == ' ' {
                // A space where a row ends is the break itself.
                continue;
            }
            // Move the word begun on the row before down with it, if it began after a space (not in the
            // indent or the time before it).
            if let [.., row, next] = rows.as_mut_slice() {
                if let Some(p) = row
                    .iter()
                    .rposition(|(c, _)| *c == ' ')
                    .filter(|&p| p >= indent)
                {
                    let word = row.split_off(p + 1);
                    row.pop();
                    used += word
                        .iter()
                        .map(|(c, _)| c.width().unwrap_or(0))
                        .sum::<usize>();
                    next.extend(word);
                }
            }
        }
        if let Some(row) = rows.last_mut() {
            row.push((c, style));
        }
        used += w;
    }
    rows.into_iter().map(spans_of).collect()
}

fn spans_of(row: Vec<(char, Style)>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for (c, s) in row {
        if style.is_some_and(|st| st != s) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(s);
        text.push(c);
    }
    if !text.is_empty() {
        spans.push(Span::styled(text, style.unwrap_or_default()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn long_lines_wrap_at_spaces_and_indent_the_rest() {
        let rows = wrap(
            vec![Span::raw("12:00 ann: the quick brown fox jumps")],
            20,
            6,
        );
        assert_eq!(
            text(&rows),
            ["12:00 ann: the quick", "      brown fox", "      jumps"]
        );
        let rows = wrap(
            vec![Span::raw("12:00 ann: abcdefghijklmnopqrstuvwxyz")],
            20,
            6,
        );
        assert_eq!(
            text(&rows),
            ["12:00 ann:", "      abcdefghijklmn", "      opqrstuvwxyz"]
        );
        let rows = wrap(vec![Span::raw("12:00 ann: one\ntwo")], 40, 6);
        assert_eq!(text(&rows), ["12:00 ann: one", "      two"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let rows = wrap(vec![Span::raw("漢字漢字漢字")], 7, 0);
        assert_eq!(text(&rows), ["漢字漢", "字漢字"]);
    }

    #[test]
    fn styles_survive_wrapping() {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let rows = wrap(
            vec![Span::styled("ann", bold), Span::raw(": hi there")],
            8,
            0,
        );
        assert_eq!(text(&rows), ["ann: hi", "there"]);
        assert_eq!(rows[0].spans[0].style, bold);
        assert_eq!(rows[0].spans[1].style, Style::new());
    }
}
