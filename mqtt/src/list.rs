//! The lists inside packets (SUBSCRIBE's filters with their QoS, UNSUBSCRIBE's filters, SUBACK's return
//! codes): borrowed from the packet's bytes when decoded, so decoding allocates nothing; a `Vec` when built to
//! be sent.

use std::fmt;

use crate::encode::write_str;
use crate::packet::QoS;
use crate::topic::TopicFilter;

/// One element of a [`List`] as it is on the wire.
pub trait WireItem<'a>: Sized + Clone {
    /// Reads one element from the front of `bytes`: `None` at the end, or (never after the decoder checked
    /// the bytes) at something malformed.
    fn read(bytes: &mut &'a [u8]) -> Option<Self>;

    /// How many bytes [`WireItem::write`] appends.
    fn encoded_len(&self) -> usize;

    fn write(&self, out: &mut Vec<u8>);
}

#[derive(Clone)]
pub enum List<'a, T> {
    /// Bytes the decoder has checked; each element is read again when iterated.
    Wire(&'a [u8]),
    Items(Vec<T>),
}

impl<'a, T: WireItem<'a>> List<'a, T> {
    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + use<'_, 'a, T> {
        let (mut wire, items): (&'a [u8], &[T]) = match self {
            List::Wire(bytes) => (bytes, &[]),
            List::Items(items) => (&[], items),
        };
        std::iter::from_fn(move || T::read(&mut wire)).chain(items.iter().cloned())
    }

    pub fn len(&self) -> usize {
        match self {
            List::Wire(_) => self.iter().count(),
            List::Items(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            List::Wire(bytes) => bytes.is_empty(),
            List::Items(items) => items.is_empty(),
        }
    }

    /// How many bytes the list takes in its packet.
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            List::Wire(bytes) => bytes.len(),
            List::Items(items) => items.iter().map(T::encoded_len).sum(),
        }
    }

    /// Appends the list's encoding: a decoded list's bytes as they are.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            List::Wire(bytes) => out.extend_from_slice(bytes),
            List::Items(items) => items.iter().for_each(|item| item.write(out)),
        }
    }
}

impl<'a, T: WireItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: WireItem<'a> + Eq> Eq for List<'a, T> {}

impl<'a, T: WireItem<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> From<Vec<T>> for List<'_, T> {
    fn from(items: Vec<T>) -> Self {
        List::Items(items)
    }
}

impl<T> FromIterator<T> for List<'_, T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        List::Items(iter.into_iter().collect())
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

fn byte(bytes: &mut &[u8]) -> Option<u8> {
    take(bytes, 1).and_then(|b| b.first().copied())
}

fn filter<'a>(bytes: &mut &'a [u8]) -> Option<TopicFilter<'a>> {
    let len = take(bytes, 2).and_then(|b| <[u8; 2]>::try_from(b).ok())?;
    let s = std::str::from_utf8(take(bytes, usize::from(u16::from_be_bytes(len)))?).ok()?;
    TopicFilter::new(s)
}

/// SUBSCRIBE: a topic filter and the QoS requested for it.
impl<'a> WireItem<'a> for (TopicFilter<'a>, QoS) {
    fn read(bytes: &mut &'a [u8]) -> Option<Self> {
        let f = filter(bytes)?;
        Some((f, QoS::from_bits(byte(bytes)?)?))
    }

    fn encoded_len(&self) -> usize {
        self.0.encoded_len() + 1
    }

    fn write(&self, out: &mut Vec<u8>) {
        self.0.write(out);
        out.push(self.1 as u8);
    }
}

/// UNSUBSCRIBE: a topic filter.
impl<'a> WireItem<'a> for TopicFilter<'a> {
    fn read(bytes: &mut &'a [u8]) -> Option<Self> {
        filter(bytes)
    }

    /// A topic filter is at most 65,535 bytes (checked when it was made), after its 16-bit length.
    fn encoded_len(&self) -> usize {
        2 + self.as_str().len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        write_str(out, self.as_str());
    }
}

/// SUBACK: the QoS granted, or `None` for 0x80, a refusal.
impl WireItem<'_> for Option<QoS> {
    fn read(bytes: &mut &[u8]) -> Option<Self> {
        match byte(bytes)? {
            0x80 => Some(None),
            code => QoS::from_bits(code).map(Some),
        }
    }

    fn encoded_len(&self) -> usize {
        1
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.map_or(0x80, |qos| qos as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_read_from_the_wire_equals_the_same_list_built() {
        let wire: &[u8] = &[0, 3, b'a', b'/', b'+', 1, 0, 1, b'#', 2];
        let read: List<'_, (TopicFilter<'_>, QoS)> = List::Wire(wire);
        let built: List<'_, _> = vec![
            (TopicFilter::new("a/+").unwrap(), QoS::AtLeastOnce),
            (TopicFilter::new("#").unwrap(), QoS::ExactlyOnce),
        ]
        .into();
        assert_eq!(read, built);
        assert_eq!(format!("{read:?}"), format!("{built:?}"));
        assert_eq!((read.len(), read.is_empty()), (2, false));
        let codes: List<'_, Option<QoS>> = List::Wire(&[0x80, 2]);
        assert_eq!(
            codes.iter().collect::<Vec<_>>(),
            [None, Some(QoS::ExactlyOnce)]
        );
    }

    #[test]
    fn malformed_bytes_end_the_list_instead_of_panicking() {
        // Never made by the decoder, which checks first; still no panic.
        let cut: List<'_, TopicFilter<'_>> = List::Wire(&[0, 9, b'a']);
        assert_eq!(cut.len(), 0);
        let codes: List<'_, Option<QoS>> = List::Wire(&[1, 3, 0]);
        assert_eq!(codes.iter().collect::<Vec<_>>(), [Some(QoS::AtLeastOnce)]);
    }
}
