//! A message's text drawn as elements, from what [`crate::chat::markup`] reads in it.
//!
//! Every node is made with the DOM's createElement and createTextNode, through the renderer Leptos already
//! carries: the text is never parsed as HTML. The nodes are made once, when the message's line is drawn (a
//! message that changes is a new line), so they need none of Leptos's reactive view types, which would cost
//! the page several kilobytes for a dozen tags.

use leptos::prelude::*;
use leptos::tachys::renderer::dom::Dom;
use leptos::tachys::renderer::types::Element;

use crate::chat::markup::{parse, Block, Inline, Line};

/// A message's text: read as markup for the reader named `me` when `rich`, or shown as it is (a notice that
/// stands for a message that could not be read).
pub fn text(text: String, rich: bool, me: Option<String>) -> impl IntoView {
    view! { <div class="text" use:fill=(text, rich, me)></div> }
}

/// Fills the text's element, as it is made.
fn fill(el: Element, (text, rich, me): (String, bool, Option<String>)) {
    if !rich {
        add_text(&el, &text);
        return;
    }
    for block in parse(&text, me.as_deref()) {
        match block {
            // Line breaks are text: the element is styled `white-space: pre-wrap`.
            Block::Paragraph(lines) => add_lines(&el, lines),
            Block::Quote(lines) => add_lines(&add(&el, "blockquote"), lines),
            Block::Code(code) => add_text(&add(&add(&el, "pre"), "code"), code),
        }
    }
}

/// Lines, with a line break between each two.
fn add_lines(parent: &Element, lines: Vec<Line<'_>>) {
    for (i, line) in lines.into_iter().enumerate() {
        if i > 0 {
            add_text(parent, "\n");
        }
        add_inlines(parent, line);
    }
}

fn add_inlines(parent: &Element, line: Vec<Inline<'_>>) {
    for inline in line {
        // One call of each kind below, whatever the tag: the calls into the DOM are the page's bytes.
        let (tag, inner) = match inline {
            Inline::Text(text) => {
                add_text(parent, text);
                continue;
            }
            Inline::Strong(inner) => ("strong", inner),
            Inline::Emphasis(inner) => ("em", inner),
            Inline::Strike(inner) => ("s", inner),
            leaf => {
                add_leaf(parent, leaf);
                continue;
            }
        };
        add_inlines(&add(parent, tag), inner);
    }
}

/// An inline that holds text only: code, a link or a mention.
fn add_leaf(parent: &Element, leaf: Inline<'_>) {
    let (tag, text, attributes): (_, _, &[(&str, &str)]) = match leaf {
        Inline::Code(code) => ("code", code, &[]),
        // A link from someone else opens in a new tab, which learns nothing of this page.
        Inline::Link(url) => (
            "a",
            url,
            &[("rel", "noopener noreferrer"), ("target", "_blank")],
        ),
        // The reader's own name stands out; anyone else's is only set apart.
        Inline::Mention { text, me: true } => ("mark", text, &[]),
        Inline::Mention { text, me: false } => ("span", text, &[("class", "mention")]),
        Inline::Text(text) => ("span", text, &[]),
        Inline::Strong(_) | Inline::Emphasis(_) | Inline::Strike(_) => return,
    };
    let el = add(parent, tag);
    if tag == "a" {
        Dom::set_attribute(&el, "href", text);
    }
    for (name, value) in attributes {
        Dom::set_attribute(&el, name, value);
    }
    add_text(&el, text);
}

/// A new `tag` element at the end of `parent`.
#[inline(never)]
fn add(parent: &Element, tag: &str) -> Element {
    let el = Dom::create_element(tag, None);
    Dom::insert_node(parent, &el, None);
    el
}

#[inline(never)]
fn add_text(parent: &Element, text: &str) {
    Dom::insert_node(parent, &Dom::create_text_node(text), None);
}
