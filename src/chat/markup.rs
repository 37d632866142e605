//! Markdown-lite for message text: what a message's text means when it is drawn, never what is sent.
//!
//! A message travels as the text typed, so that a plain MQTT client shows it as it was written; only the
//! view reads it as markup. Blocks: lines of text (line breaks kept), fenced code (```), quotes (`> `).
//! Within a line: `**bold**`, `_italic_` (at word boundaries only, so `snake_case_names` stay plain),
//! `~~strike~~`, `` `code` `` (nothing inside is markup), links and `@name` mentions.
//!
//! Safe by construction: only `http://`, `https://` and `mailto:` URLs become links, and their address is the
//! text as shown. Nothing here produces HTML: the view builds elements from these values.
//!
//! Total and linear: every input parses, markers that are not closed stay text, and the work is bounded by a
//! constant times the input's length (a line of 4,000 markers included): emphasis is matched with a stack
//! (CommonMark's delimiter algorithm, simplified), code spans with a table of each backtick run's next run of
//! the same length, and no scan ever starts again over what another scan consumed.

use crate::chat::names::{hidden, validate, MAX_NAME_BYTES};

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block<'a> {
    /// Lines of text, drawn with their line breaks.
    Paragraph(Vec<Line<'a>>),
    /// Consecutive lines that started with `> ` (or were just `>`), without it.
    Quote(Vec<Line<'a>>),
    /// The lines between two fences, as typed: nothing inside is markup.
    Code(&'a str),
}

/// One line of text.
pub type Line<'a> = Vec<Inline<'a>>;

/// A run of text within a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline<'a> {
    Text(&'a str),
    Strong(Vec<Inline<'a>>),
    Emphasis(Vec<Inline<'a>>),
    Strike(Vec<Inline<'a>>),
    /// Between backticks: shown as typed.
    Code(&'a str),
    /// An `http://`, `https://` or `mailto:` URL as typed: both what is shown and where it leads.
    Link(&'a str),
    /// `@name` as typed (with its `@`), and whether it names the reader.
    Mention {
        text: &'a str,
        me: bool,
    },
}

/// The blocks of `text`, for the reader named `me` (whose mentions are marked).
pub fn parse<'a>(text: &'a str, me: Option<&str>) -> Vec<Block<'a>> {
    // Each line as (start, end) byte offsets into `text`.
    let mut lines = Vec::new();
    let mut start = 0;
    for line in text.split('\n') {
        work(1);
        lines.push((start, start + line.len()));
        start += line.len() + 1;
    }
    let line_at = |i: usize| {
        lines
            .get(i)
            .and_then(|&(s, e)| text.get(s..e))
            .unwrap_or_default()
    };
    // A fence opens a code block only if a closing fence follows it; knowing where the last one is keeps an
    // unclosed fence from searching to the end again and again.
    let last_fence = (0..lines.len()).rev().find(|&i| {
        work(1);
        is_fence_close(line_at(i))
    });

    let mut blocks = Vec::new();
    let mut paragraph: Vec<Line<'a>> = Vec::new();
    let mut quote: Vec<Line<'a>> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        work(1);
        let line = line_at(i);
        if is_fence_open(line) && last_fence.is_some_and(|last| last > i) {
            let close = (i + 1..lines.len())
                .find(|&j| {
                    work(1);
                    is_fence_close(line_at(j))
                })
                .unwrap_or(lines.len());
            let body = match (lines.get(i + 1), lines.get(close.wrapping_sub(1))) {
                (Some(&(from, _)), Some(&(_, to))) if close > i + 1 => text.get(from..to),
                _ => None,
            };
            flush(&mut blocks, &mut paragraph, Block::Paragraph);
            flush(&mut blocks, &mut quote, Block::Quote);
            blocks.push(Block::Code(body.unwrap_or_default()));
            i = close + 1;
            continue;
        }
        match line.strip_prefix("> ").or((line == ">").then_some("")) {
            Some(quoted) => {
                flush(&mut blocks, &mut paragraph, Block::Paragraph);
                quote.push(inlines(quoted, me));
            }
            None => {
                flush(&mut blocks, &mut quote, Block::Quote);
                paragraph.push(inlines(line, me));
            }
        }
        i += 1;
    }
    flush(&mut blocks, &mut paragraph, Block::Paragraph);
    flush(&mut blocks, &mut quote, Block::Quote);
    blocks
}

/// Ends a run of lines, if there is one, as a block.
fn flush<'a>(
    blocks: &mut Vec<Block<'a>>,
    lines: &mut Vec<Line<'a>>,
    block: fn(Vec<Line<'a>>) -> Block<'a>,
) {
    if !lines.is_empty() {
        blocks.push(block(std::mem::take(lines)));
    }
}

/// ```` ``` ```` and an optional language name (which, as in CommonMark, holds no backtick).
fn is_fence_open(line: &str) -> bool {
    line.trim_start()
        .strip_prefix("```")
        .is_some_and(|rest| !rest.contains('`'))
}

/// A line of three or more backticks only.
fn is_fence_close(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 3 && line.bytes().all(|b| b == b'`')
}

/// Emphasis that a pair of markers makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Strong,
    Emphasis,
    Strike,
}

impl Span {
    fn wrap(self, inner: Vec<Inline<'_>>) -> Inline<'_> {
        match self {
            Span::Strong => Inline::Strong(inner),
            Span::Emphasis => Inline::Emphasis(inner),
            Span::Strike => Inline::Strike(inner),
        }
    }
}

/// An opening marker not closed yet: its text is in the output at `at`, as text until it is closed.
struct Open {
    span: Span,
    at: usize,
}

/// A line's inlines, built left to right: finished inlines go to `out` at once, and a closing marker turns
/// everything after its opener into the emphasis they make.
struct Inlines<'a> {
    line: &'a str,
    out: Vec<Inline<'a>>,
    open: Vec<Open>,
    /// How many openers of each [`Span`] are in `open`: a marker with none to close looks no further.
    counts: [usize; 3],
}

impl<'a> Inlines<'a> {
    fn push_text(&mut self, from: usize, to: usize) {
        if let Some(text) = self.line.get(from..to).filter(|t| !t.is_empty()) {
            self.out.push(Inline::Text(text));
        }
    }

    /// A marker that may open or close `span`: it closes the nearest opener of its kind (openers above it
    /// stay text, as in CommonMark), if something lies between them; otherwise it opens, or is text.
    fn marker(&mut self, span: Span, text: &'a str, can_open: bool, can_close: bool) {
        // Searching the openers costs as much as the openers above it, which closing then drops: linear.
        let nearest = (can_close && self.counts[span as usize] > 0)
            .then(|| self.open.iter().rposition(|o| o.span == span))
            .flatten();
        work(self.open.len() - nearest.unwrap_or(self.open.len()));
        if let Some(n) = nearest {
            let empty = self.open.len() == n + 1
                && self.open.last().is_some_and(|o| o.at + 1 == self.out.len());
            if !empty {
                let at = self.open.get(n).map_or(self.out.len(), |o| o.at);
                for dropped in self.open.drain(n..) {
                    work(1);
                    self.counts[dropped.span as usize] -= 1;
                }
                let inner = self.out.split_off((at + 1).min(self.out.len()));
                work(inner.len());
                self.out.truncate(at);
                self.out.push(span.wrap(merge(self.line, inner)));
                return;
            }
        }
        self.out.push(Inline::Text(text));
        if can_open {
            self.counts[span as usize] += 1;
            self.open.push(Open {
                span,
                at: self.out.len() - 1,
            });
        }
    }
}

/// The inlines of one line.
fn inlines<'a>(line: &'a str, me: Option<&str>) -> Line<'a> {
    let ticks = Ticks::new(line);
    let mut ticks_seen = 0;
    let mut p = Inlines {
        line,
        out: Vec::new(),
        open: Vec::new(),
        counts: [0; 3],
    };
    let mut i = 0;
    // Where the text not yet pushed starts.
    let mut text_from = 0;
    let mut prev: Option<char> = None;
    while let Some(rest) = line.get(i..).filter(|r| !r.is_empty()) {
        work(1);
        let Some(c) = rest.chars().next() else {
            break;
        };
        let after_word = prev.is_some_and(word);
        // What starts here, and its length.
        let (len, piece) = match c {
            '`' => {
                let run = run_len(rest, b'`');
                match ticks.closing(&mut ticks_seen, i) {
                    Some(close) => line.get(i + run..close).map_or((run, Piece::Text), |code| {
                        (close + run - i, Piece::Inline(Inline::Code(code)))
                    }),
                    None => (run, Piece::Text),
                }
            }
            '*' | '~' | '_' => {
                let run = run_len(rest, c as u8);
                let next = rest.get(run..).and_then(|r| r.chars().next());
                let (span, len) = match c {
                    '*' => (Span::Strong, 2),
                    '~' => (Span::Strike, 2),
                    _ => (Span::Emphasis, 1),
                };
                let next_solid = next.is_some_and(|n| !n.is_whitespace());
                let prev_solid = prev.is_some_and(|p| !p.is_whitespace());
                let piece = if run != len {
                    Piece::Text
                } else if span == Span::Emphasis {
                    // `_` only at a word's edge: `snake_case` is a name, not emphasis.
                    Piece::Marker(
                        span,
                        next_solid && !after_word,
                        prev_solid && !next.is_some_and(word),
                    )
                } else {
                    Piece::Marker(span, next_solid, prev_solid)
                };
                (run, piece)
            }
            '@' if mention_may_follow(prev) => mention(rest, me)
                .map_or((1, Piece::Text), |(text, me)| {
                    (text.len(), Piece::Inline(Inline::Mention { text, me }))
                }),
            'h' | 'H' | 'm' | 'M' if !after_word => link(rest).map_or((1, Piece::Text), |url| {
                (url.len(), Piece::Inline(Inline::Link(url)))
            }),
            _ => (c.len_utf8(), Piece::Text),
        };
        work(len);
        let end = i + len;
        let text = line.get(i..end).unwrap_or_default();
        match piece {
            // Goes on with the text before it.
            Piece::Text => {}
            Piece::Inline(inline) => {
                p.push_text(text_from, i);
                p.out.push(inline);
                text_from = end;
            }
            Piece::Marker(span, can_open, can_close) => {
                p.push_text(text_from, i);
                p.marker(span, text, can_open, can_close);
                text_from = end;
            }
        }
        prev = text.chars().next_back();
        i = end;
    }
    p.push_text(text_from, line.len());
    merge(line, p.out)
}

/// What starts at a position in a line.
enum Piece<'a> {
    /// Text, markers that open or close nothing among it.
    Text,
    Inline(Inline<'a>),
    /// An emphasis marker, and whether it can open and close.
    Marker(Span, bool, bool),
}

/// How many bytes `b` start `s`.
fn run_len(s: &str, b: u8) -> usize {
    s.bytes().take_while(|&x| x == b).count()
}

/// The runs of backticks in a line, each with the next run of the same length after it, which closes the
/// code span it opens (CommonMark).
struct Ticks {
    /// (start, length, the index of the next run of this length).
    runs: Vec<(usize, usize, Option<usize>)>,
}

impl Ticks {
    fn new(line: &str) -> Self {
        let mut runs = Vec::new();
        let mut i = 0;
        while let Some(rest) = line.get(i..).filter(|r| !r.is_empty()) {
            let run = run_len(rest, b'`');
            if run > 0 {
                runs.push((i, run, None));
            }
            // To the next backtick or past this run: a backtick is one byte, so always a char boundary.
            let skip = if run > 0 {
                run
            } else {
                rest.find('`').unwrap_or(rest.len())
            };
            work(skip);
            i += skip;
        }
        let longest = runs.iter().map(|r| r.1).max().unwrap_or(0);
        // For each length, the nearest run of that length seen so far, going backwards.
        let mut nearest: Vec<Option<usize>> = vec![None; longest + 1];
        for (k, run) in runs.iter_mut().enumerate().rev() {
            work(1);
            if let Some(slot) = nearest.get_mut(run.1) {
                run.2 = *slot;
                *slot = Some(k);
            }
        }
        Self { runs }
    }

    /// Where the code span that the run at `at` opens ends (the start of its closing run), if it is closed.
    /// `seen` is how many runs lie before `at`: the line is read left to right, so it only grows.
    fn closing(&self, seen: &mut usize, at: usize) -> Option<usize> {
        while self.runs.get(*seen).is_some_and(|r| r.0 < at) {
            work(1);
            *seen += 1;
        }
        let &(start, _, next) = self.runs.get(*seen)?;
        let close = self.runs.get(next.filter(|_| start == at)?)?.0;
        // Everything up to the closing run is code: the runs inside it are passed over.
        Some(close)
    }
}

/// A letter or digit, for the edges of words. Outside ASCII every character that is not white space counts
/// (Unicode's tables of letters would cost the page kilobytes), so `_` inside non-Latin words is left alone
/// too.
fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_whitespace())
}

/// The schemes that become links. Anything else (`javascript:`, `data:`, `vbscript:`, `file:` ...) stays text.
const SCHEMES: [&str; 3] = ["https://", "http://", "mailto:"];

/// The URL that starts `rest`, if it is one of [`SCHEMES`] (in any case) with something after it. It ends at
/// white space, an invisible character, `<`, `>`, `"` or a backtick; punctuation that ends a sentence and a `)`
/// that closes nothing in it are not part of it (GitHub's rule).
fn link(rest: &str) -> Option<&str> {
    let scheme = SCHEMES.iter().find(|s| {
        rest.as_bytes()
            .get(..s.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(s.as_bytes()))
    })?;
    let end = rest
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || hidden(c) || matches!(c, '<' | '>' | '"' | '`'))
        .map_or(rest.len(), |(i, _)| i);
    work(end);
    let mut url = rest.get(..end)?;
    let opened = url.matches('(').count();
    let mut closed = url.matches(')').count();
    while url.len() > scheme.len() {
        work(1);
        match url.chars().next_back() {
            Some('.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~') => {}
            Some(')') if closed > opened => closed -= 1,
            _ => break,
        }
        url = url.get(..url.len() - 1)?;
    }
    (url.len() > scheme.len()).then_some(url)
}

/// A character of a name after `@`: not white space, invisible, or ASCII punctuation other than `-_.`.
fn name_char(c: char) -> bool {
    !c.is_whitespace() && !hidden(c) && (!c.is_ascii_punctuation() || matches!(c, '-' | '_' | '.'))
}

/// The mention that starts `rest` (at its `@`): `@me`, or `@name` for any other name this app accepts.
/// Returns it as typed and whether it names the reader.
///
/// The reader's name is found by the rule [`crate::chat::model::mentions`] uses to count a message as
/// mentioning them (the unread badge, the notification), so that what is counted is what is marked: their
/// whole name, which may hold spaces, not followed by a letter, digit, `_` or `-`. Another name runs to white
/// space or punctuation other than `-_.`, without a `.` that ends it: "thanks @bob." names bob.
fn mention<'a>(rest: &'a str, me: Option<&str>) -> Option<(&'a str, bool)> {
    let name = rest.strip_prefix('@')?;
    if let Some(me) = me.filter(|m| !m.is_empty() && m.len() <= MAX_NAME_BYTES) {
        let whole = name.strip_prefix(me).is_some_and(|after| {
            after
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-')))
        });
        if whole {
            work(me.len());
            return Some((rest.get(..1 + me.len())?, true));
        }
    }
    // Names are short: the scan stops past the longest, so a line of `@@@…` costs no more than its length.
    let mut end = 0;
    for (i, c) in name.char_indices() {
        work(1);
        if !name_char(c) || i > MAX_NAME_BYTES {
            break;
        }
        end = i + c.len_utf8();
    }
    let token = name.get(..end)?.trim_end_matches('.');
    if token.is_empty() || token.len() > MAX_NAME_BYTES || validate(token) != Ok(token) {
        return None;
    }
    Some((rest.get(..1 + token.len())?, false))
}

/// Where an `@` can start a mention: not after a letter, digit or `_` (an e-mail address, `snake_@x`), as in
/// [`crate::chat::model::mentions`].
fn mention_may_follow(prev: Option<char>) -> bool {
    prev.is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

/// `items` with each run of texts that follow each other in `line` joined into one (markers that stayed text
/// were pushed on their own).
fn merge<'a>(line: &'a str, items: Vec<Inline<'a>>) -> Vec<Inline<'a>> {
    let mut out: Vec<Inline<'a>> = Vec::with_capacity(items.len());
    for item in items {
        work(1);
        if let (Some(Inline::Text(a)), Inline::Text(b)) = (out.last_mut(), &item) {
            if let Some(ab) = joined(line, a, b) {
                *a = ab;
                continue;
            }
        }
        out.push(item);
    }
    out
}

/// `a` and `b` as one slice of `line`, if `b` starts where `a` ends.
fn joined<'a>(line: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let base = line.as_ptr() as usize;
    let start = (a.as_ptr() as usize).checked_sub(base)?;
    let b_start = (b.as_ptr() as usize).checked_sub(base)?;
    if b_start != start + a.len() {
        return None;
    }
    line.get(start..b_start + b.len())
}

#[cfg(test)]
thread_local! {
    static WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts `n` steps of work, for the tests that bound it by the input's length (timing would be flaky).
#[inline(always)]
fn work(n: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + n));
    #[cfg(not(test))]
    let _ = n;
}

#[cfg(test)]
mod tests {
    use super::*;
    use Inline::{Code, Emphasis, Link, Strike, Strong, Text};

    /// The inlines of a one-line message.
    fn line<'a>(text: &'a str, me: Option<&str>) -> Line<'a> {
        match parse(text, me).as_slice() {
            [Block::Paragraph(lines)] => match lines.as_slice() {
                [one] => one.clone(),
                other => panic!("{text:?}: {} lines", other.len()),
            },
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn plain(text: &str) -> Line<'_> {
        line(text, None)
    }

    fn mention(text: &str, me: bool) -> Inline<'_> {
        Inline::Mention { text, me }
    }

    /// Everything `parse` found, walked in order: the leaves' text.
    fn leaves<'a>(blocks: &[Block<'a>]) -> Vec<&'a str> {
        fn walk<'a>(inlines: &[Inline<'a>], out: &mut Vec<&'a str>) {
            for inline in inlines {
                match inline {
                    Text(t) | Code(t) | Link(t) | Inline::Mention { text: t, .. } => out.push(t),
                    Strong(inner) | Emphasis(inner) | Strike(inner) => walk(inner, out),
                }
            }
        }
        let mut out = Vec::new();
        for block in blocks {
            match block {
                Block::Paragraph(lines) | Block::Quote(lines) => {
                    lines.iter().for_each(|l| walk(l, &mut out))
                }
                Block::Code(code) => out.push(code),
            }
        }
        out
    }

    fn links<'a>(blocks: &[Block<'a>]) -> Vec<&'a str> {
        fn walk<'a>(inlines: &[Inline<'a>], out: &mut Vec<&'a str>) {
            for inline in inlines {
                match inline {
                    Link(url) => out.push(url),
                    Strong(inner) | Emphasis(inner) | Strike(inner) => walk(inner, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for block in blocks {
            if let Block::Paragraph(lines) | Block::Quote(lines) = block {
                lines.iter().for_each(|l| walk(l, &mut out));
            }
        }
        out
    }

    /// The work `parse` does on `text`.
    fn work_for(text: &str) -> usize {
        WORK.with(|w| w.set(0));
        parse(text, Some("alice"));
        WORK.with(|w| w.get())
    }

    #[test]
    fn plain_text_is_one_text() {
        assert_eq!(plain("hello, world"), [Text("hello, world")]);
        assert_eq!(plain(""), []);
        assert_eq!(plain("2 * 3 = 6 and a ~ b"), [Text("2 * 3 = 6 and a ~ b")]);
    }

    #[rustfmt::skip]
    #[test]
    fn markers_make_bold_italic_strike_and_code() {
        assert_eq!(plain("a **b** c"), [Text("a "), Strong(vec![Text("b")]), Text(" c")]);
        assert_eq!(plain("_it_"), [Emphasis(vec![Text("it")])]);
        assert_eq!(plain("~~gone~~ kept"), [Strike(vec![Text("gone")]), Text(" kept")]);
        assert_eq!(plain("run `ls -la`"), [Text("run "), Code("ls -la")]);
        assert_eq!(plain("**bold _and italic_**"),
            [Strong(vec![Text("bold "), Emphasis(vec![Text("and italic")])])]);
        assert_eq!(plain("wait... **done.**"), [Text("wait... "), Strong(vec![Text("done.")])]);
    }

    #[test]
    fn underscores_inside_words_stay_text() {
        assert_eq!(
            plain("call snake_case_names or __init__"),
            [Text("call snake_case_names or __init__")]
        );
        assert_eq!(
            plain("a_b _c_ d_"),
            [Text("a_b "), Emphasis(vec![Text("c")]), Text(" d_")]
        );
    }

    #[rustfmt::skip]
    #[test]
    fn unclosed_or_empty_markers_stay_text() {
        for text in ["**bold", "bold**", "_it", "~~x", "`code", "** spaced **", "****", "_ x _", "***x***",
                     "a ** b", "~x~", "``", "` `` `"] {
            let found = plain(text);
            assert!(found.iter().all(|i| matches!(i, Text(_) | Code(_))), "{text:?}: {found:?}");
            if !text.contains('`') {
                assert_eq!(found, [Text(text)], "{text:?}");
            }
        }
        // An opener with another kind's opener inside it: the inner one stays text.
        assert_eq!(plain("**a _b**"), [Strong(vec![Text("a _b")])]);
        assert_eq!(plain("_a **b_ c**"), [Emphasis(vec![Text("a **b")]), Text(" c**")]);
    }

    #[rustfmt::skip]
    #[test]
    fn nothing_inside_code_is_markup() {
        assert_eq!(plain("`**not bold** https://x.org @alice`"), [Code("**not bold** https://x.org @alice")]);
        // A span opens with a run of backticks and closes with the next run of the same length.
        assert_eq!(plain("``a ` b`` c"), [Code("a ` b"), Text(" c")]);
        assert_eq!(plain("```one line```"), [Code("one line")]);
        // Markers around code still pair up.
        assert_eq!(plain("**`x`**"), [Strong(vec![Code("x")])]);
    }

    #[rustfmt::skip]
    #[test]
    fn http_https_and_mailto_urls_are_links() {
        assert_eq!(plain("see https://example.com/a_b?q=1&r=*x*#top now"),
            [Text("see "), Link("https://example.com/a_b?q=1&r=*x*#top"), Text(" now")]);
        assert_eq!(plain("http://x.org"), [Link("http://x.org")]);
        assert_eq!(plain("HTTPS://X.ORG"), [Link("HTTPS://X.ORG")]);
        assert_eq!(plain("mail mailto:bob@example.com"), [Text("mail "), Link("mailto:bob@example.com")]);
        assert_eq!(plain("**https://x.org**"), [Strong(vec![Link("https://x.org")])]);
    }

    #[rustfmt::skip]
    #[test]
    fn punctuation_after_a_url_is_not_part_of_it_but_balanced_parentheses_are() {
        assert_eq!(plain("go to https://x.org/a."), [Text("go to "), Link("https://x.org/a"), Text(".")]);
        assert_eq!(plain("https://x.org, then"), [Link("https://x.org"), Text(", then")]);
        assert_eq!(plain("(see https://x.org/a)"), [Text("(see "), Link("https://x.org/a"), Text(")")]);
        assert_eq!(plain("https://en.wikipedia.org/wiki/Rust_(language)"),
            [Link("https://en.wikipedia.org/wiki/Rust_(language)")]);
        assert_eq!(plain("(https://w.org/R_(x)), ok"), [Text("("), Link("https://w.org/R_(x)"), Text("), ok")]);
        assert_eq!(plain("<https://x.org>"), [Text("<"), Link("https://x.org"), Text(">")]);
        assert_eq!(plain("_https://x.org_"), [Emphasis(vec![Link("https://x.org")])]);
    }

    #[rustfmt::skip]
    #[test]
    fn no_other_scheme_ever_becomes_a_link() {
        for text in ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "vbscript:msgbox",
                     "file:///etc/passwd", "jAvAsCrIpT:https://x.org", "ftp://x.org", "//x.org", "www.x.org",
                     "https://", "https://...", "mailto:", "xhttps://x.org", "javascripthttps://x.org",
                     "java\u{200B}script:alert(1)", " https:/x.org", "http:x.org"] {
            let blocks = parse(text, None);
            let found = links(&blocks);
            assert!(found.iter().all(|l| l.starts_with("https://x.org")), "{text:?}: {found:?}");
        }
        assert_eq!(links(&parse("javascript:alert(1)", None)), Vec::<&str>::new());
        assert_eq!(links(&parse("data:text/html;base64,PHNjcmlwdD4=", None)), Vec::<&str>::new());
        assert_eq!(links(&parse("jAvAsCrIpT:https://x.org", None)), ["https://x.org"]);
    }

    #[test]
    fn a_url_ends_at_white_space_quotes_and_invisible_characters() {
        assert_eq!(
            plain("https://x.org/\"onmouseover=x"),
            [Link("https://x.org/"), Text("\"onmouseover=x")]
        );
        assert_eq!(
            plain("https://x.org/a\u{202E}b"),
            [Link("https://x.org/a"), Text("\u{202E}b")]
        );
        assert_eq!(
            plain("https://x.org/\ta"),
            [Link("https://x.org/"), Text("\ta")]
        );
    }

    #[rustfmt::skip]
    #[test]
    fn mentions_of_the_reader_are_marked_and_others_are_mentions_too() {
        let me = Some("alice");
        assert_eq!(line("hi @alice!", me), [Text("hi "), mention("@alice", true), Text("!")]);
        assert_eq!(line("hi @bob.", me), [Text("hi "), mention("@bob", false), Text(".")]);
        assert_eq!(line("@alice's turn", me), [mention("@alice", true), Text("'s turn")]);
        // Names are case-sensitive.
        assert_eq!(line("@Alice", me), [mention("@Alice", false)]);
        assert_eq!(line("@alicea", me), [mention("@alicea", false)]);
        assert_eq!(line("@alice", None), [mention("@alice", false)]);
        // The reader's whole name, spaces and all.
        assert_eq!(line("ping @田中 Bob ok", Some("田中 Bob")), [Text("ping "), mention("@田中 Bob", true), Text(" ok")]);
        assert_eq!(line("ping @田中 Bobby", Some("田中 Bob")), [Text("ping "), mention("@田中", false), Text(" Bobby")]);
        assert_eq!(line("**@alice**", me), [Strong(vec![mention("@alice", true)])]);
        assert_eq!(line("_hi @bob!_", me), [Emphasis(vec![Text("hi "), mention("@bob", false), Text("!")])]);
        // `_` and `-` may end a name: the mention comes first.
        assert_eq!(line("_hi @bob_", me), [Text("_hi "), mention("@bob_", false)]);
        assert_eq!(line("@alice_ @alice-x @alice.x", me),
            [mention("@alice_", false), Text(" "), mention("@alice-x", false), Text(" "), mention("@alice", true), Text(".x")]);
    }

    #[test]
    fn what_is_marked_as_a_mention_of_the_reader_is_what_the_model_counts_as_one() {
        fn marked(inlines: &[Inline<'_>]) -> bool {
            inlines.iter().any(|i| match i {
                Inline::Mention { me, .. } => *me,
                Strong(inner) | Emphasis(inner) | Strike(inner) => marked(inner),
                _ => false,
            })
        }
        for text in [
            "@alice",
            "hi @alice.",
            "@alice_",
            "@alice-",
            "@alicex",
            "@alice1",
            "x@alice",
            "_@alice",
            "1@alice",
            "é@alice",
            "→@alice",
            "(@alice)",
            "@alice's",
            "@Alice",
            "@alice.smith",
            "@@alice",
            "@ali",
            "a @b @alice",
            "**@alice**",
            "~~@alice~~!",
            "@aliceé",
            "@alice\u{202E}",
            "@ alice",
        ] {
            let blocks = parse(text, Some("alice"));
            let shown = blocks.iter().any(|b| match b {
                Block::Paragraph(lines) | Block::Quote(lines) => lines.iter().any(|l| marked(l)),
                Block::Code(_) => false,
            });
            assert_eq!(
                shown,
                crate::chat::model::mentions(text, "alice"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_at_sign_that_names_nobody_is_text() {
        let me = Some("alice");
        for text in [
            "bob@example.com",
            "@",
            "@ alice",
            "a @.",
            "@@",
            "@\u{202E}x",
            "@аlice", // a Cyrillic а: a name this app refuses
        ] {
            let found = line(text, me);
            assert!(
                found.iter().all(|i| matches!(i, Text(_))),
                "{text:?}: {found:?}"
            );
        }
        let long = format!("@{}", "a".repeat(MAX_NAME_BYTES + 1));
        assert_eq!(line(&long, me), [Text(&long)]);
        let longest = format!("@{}", "a".repeat(MAX_NAME_BYTES));
        assert_eq!(line(&longest, me), [mention(&longest, false)]);
    }

    #[test]
    fn line_breaks_are_kept() {
        assert_eq!(
            parse("one\ntwo **2**\n\nfour", None),
            [Block::Paragraph(vec![
                vec![Text("one")],
                vec![Text("two "), Strong(vec![Text("2")])],
                vec![],
                vec![Text("four")],
            ])]
        );
    }

    #[test]
    fn markers_do_not_pair_across_lines() {
        assert_eq!(
            parse("**a\nb**", None),
            [Block::Paragraph(vec![vec![Text("**a")], vec![Text("b**")]])]
        );
    }

    #[test]
    fn fenced_code_is_kept_as_typed() {
        assert_eq!(
            parse("look:\n```rust\nlet x = **y**;\n  _z_\n```\nnice", None),
            [
                Block::Paragraph(vec![vec![Text("look:")]]),
                Block::Code("let x = **y**;\n  _z_"),
                Block::Paragraph(vec![vec![Text("nice")]]),
            ]
        );
        assert_eq!(parse("```\n```", None), [Block::Code("")]);
        assert_eq!(
            parse("```\n\n```", None),
            [Block::Code("")],
            "one empty line"
        );
    }

    #[test]
    fn an_unclosed_fence_is_text() {
        assert_eq!(
            parse("```rust\nlet x;", None),
            [Block::Paragraph(vec![
                vec![Text("```rust")],
                vec![Text("let x;")]
            ])]
        );
        // A fence with a backtick after it is code on one line, not a fence.
        assert_eq!(
            parse("```a```\n```", None),
            [Block::Paragraph(vec![vec![Code("a")], vec![Text("```")]])]
        );
    }

    #[test]
    fn quoted_lines_make_a_quote() {
        assert_eq!(
            parse("> who said\n> **that**\n>\nme", None),
            [
                Block::Quote(vec![
                    vec![Text("who said")],
                    vec![Strong(vec![Text("that")])],
                    vec![]
                ]),
                Block::Paragraph(vec![vec![Text("me")]]),
            ]
        );
        // Not a quote: `>` without a space after it (">_<", "->").
        assert_eq!(
            parse(">_< ok", None),
            [Block::Paragraph(vec![vec![Text(">_< ok")]])]
        );
    }

    #[test]
    fn markup_written_as_html_is_text() {
        let text = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        assert_eq!(plain(text), [Text(text)]);
    }

    /// Inputs made of the characters that mean something here, and some that mean something elsewhere.
    fn tricky(seed: u64, len: usize) -> String {
        const PARTS: [&str; 24] = [
            "*",
            "**",
            "_",
            "~~",
            "`",
            "```",
            "\n",
            "> ",
            ">",
            "@",
            "@alice",
            "https://",
            "mailto:",
            "(",
            ")",
            ".",
            " ",
            "a",
            "é",
            "田",
            "\u{202E}",
            "\r",
            "\u{0}",
            "javascript:",
        ];
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut out = String::new();
        for _ in 0..len {
            // xorshift64: reproducible without a dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push_str(
                PARTS
                    .get(x as usize % PARTS.len())
                    .copied()
                    .unwrap_or_default(),
            );
        }
        out
    }

    #[test]
    fn any_input_parses_into_pieces_of_itself_in_order() {
        for seed in 0..3000 {
            let text = tricky(seed, (seed % 60) as usize);
            let blocks = parse(&text, Some("alice"));
            // Every piece is a slice of the input, in order, none overlapping.
            let base = text.as_ptr() as usize;
            let mut at = 0;
            for piece in leaves(&blocks) {
                let start = piece.as_ptr() as usize - base;
                assert!(start >= at && start + piece.len() <= text.len(), "{text:?}");
                at = start + piece.len();
            }
            for url in links(&blocks) {
                assert!(
                    SCHEMES
                        .iter()
                        .any(|s| url.to_ascii_lowercase().starts_with(s) && url.len() > s.len()),
                    "{text:?}: {url:?}"
                );
            }
        }
    }

    #[test]
    fn work_grows_in_proportion_to_the_input_even_for_runs_of_markers() {
        let patterns = [
            "*_~`",
            "**_ ",
            "_a ",
            "**a ",
            "~~a _b **c ",
            "`",
            "` `` ",
            "@",
            "@a",
            "@alice ",
            "https://",
            "https://a.b)",
            "mailto:.",
            "```a\n",
            "> ",
            "a\n",
            "_a **b ~~c `",
        ];
        for pattern in patterns {
            let small = pattern.repeat(2000 / pattern.len());
            let large = pattern.repeat(4000 / pattern.len());
            let (w_small, w_large) = (work_for(&small), work_for(&large));
            // A constant per byte, and doubling the input no more than doubles the work.
            assert!(
                w_large <= 16 * large.len(),
                "{pattern:?}: {w_large} steps for {} bytes",
                large.len()
            );
            assert!(
                w_large * 10 <= w_small * 21,
                "{pattern:?}: {w_small} steps for {} bytes, {w_large} for {}",
                small.len(),
                large.len()
            );
        }
        // Many openers, then many markers of another kind that close nothing.
        for (open, close) in [("_a ", "a~~ "), ("**a ", "a_ "), ("~~a ", "a** ")] {
            let text = [open.repeat(500), close.repeat(500)].concat();
            assert!(
                work_for(&text) <= 16 * text.len(),
                "{open:?} then {close:?}"
            );
        }
        for seed in 0..50 {
            let text = tricky(seed, 2000);
            assert!(work_for(&text) <= 16 * text.len(), "{text:?}");
        }
    }
}
