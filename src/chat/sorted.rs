//! A map kept as a vector sorted by key, for the chat's small maps (a few conversations, people, rooms, packets
//! in flight): there a vector is as quick as a hash or B-tree map, and each of those map types brings kilobytes
//! of its own code into the page.

use std::borrow::Borrow;

#[derive(Debug, Clone)]
pub struct SortedMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let at = self.find(key).ok()?;
        self.0.get(at).map(|(_, v)| v)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let at = self.find(key).ok()?;
        self.0.get_mut(at).map(|(_, v)| v)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// The value for `key`, inserted as `V::default()` if there was none.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (key, V::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let at = self.find(key).ok()?;
        Some(self.0.remove(at).1)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_a_btree_map() {
        let mut ours = SortedMap::default();
        let mut tree = BTreeMap::new();
        let ops: [(&str, Option<i32>); 9] = [
            ("b", Some(1)),
            ("a", Some(2)),
            ("c", Some(3)),
            ("b", Some(4)),
            ("a", None),
            ("d", Some(5)),
            ("zz", None),
            ("c", None),
            ("a", Some(6)),
        ];
        for (key, op) in ops {
            match op {
                Some(v) => assert_eq!(
                    ours.insert(key.to_owned(), v),
                    tree.insert(key.to_owned(), v)
                ),
                None => assert_eq!(ours.remove(key), tree.remove(key)),
            }
            assert!(ours.iter().eq(tree.iter()), "after {key} {op:?}");
        }
        *ours.get_or_default("e".to_owned()) += 7;
        *tree.entry("e".to_owned()).or_default() += 7;
        ours.retain(|_, v| *v != 4);
        tree.retain(|_, v| *v != 4);
        assert!(ours.iter().eq(tree.iter()));
        assert_eq!(
            (ours.len(), ours.get("e"), ours.contains_key("b")),
            (3, Some(&7), false)
        );
    }
}
