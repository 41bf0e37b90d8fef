//! A JSON tree that borrows its strings from the input, for the ECS mapper.
//!
//! `serde_json::Value` allocates every key and string and keeps objects in B-trees; mapping
//! an event moves a few dozen fields and then writes everything out again, so most of those
//! allocations were pure overhead. Here strings without escapes stay slices of the input,
//! objects are small vectors kept sorted by key, and the tree serializes exactly as a `Value`
//! (without `preserve_order`) would: same keys, same order, same number formatting.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

/// A JSON value whose strings borrow from the text it was parsed from where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Obj<'a>),
}

/// An object: entries sorted by key, keys unique (as in a `BTreeMap`, so the output order is
/// the one `Value` gives).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj<'a>(Vec<(Cow<'a, str>, J<'a>)>);

impl<'a> J<'a> {
    pub fn str(s: impl Into<Cow<'a, str>>) -> J<'a> {
        J::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, shared with `self` when it is borrowed from the input.
    pub fn as_cow(&self) -> Option<Cow<'a, str>> {
        match self {
            J::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            J::Num(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            J::Num(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }

    pub fn as_obj(&self) -> Option<&Obj<'a>> {
        match self {
            J::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// `self[key]` when `self` is an object.
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.as_obj()?.get(key)
    }

    /// Removes nulls, empty strings, empty objects and empty arrays, recursively; false when
    /// `self` itself is empty after that (and should go).
    pub fn prune(&mut self) -> bool {
        match self {
            J::Null => false,
            J::Str(s) => !s.is_empty(),
            J::Arr(a) => {
                a.retain_mut(J::prune);
                !a.is_empty()
            }
            J::Obj(o) => {
                o.0.retain_mut(|(_, v)| v.prune());
                !o.0.is_empty()
            }
            J::Bool(_) | J::Num(_) => true,
        }
    }
}

impl From<u64> for J<'_> {
    fn from(n: u64) -> Self {
        J::Num(n.into())
    }
}

impl From<Number> for J<'_> {
    fn from(n: Number) -> Self {
        J::Num(n)
    }
}

impl<'a> Obj<'a> {
    pub fn new() -> Obj<'a> {
        Obj(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut J<'a>> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn remove(&mut self, key: &str) -> Option<J<'a>> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: J<'a>) {
        let key = key.into();
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// The object at `key`, created (or replacing a non-object) when needed.
    pub fn child(&mut self, key: &'a str) -> &mut Obj<'a> {
        let i = match self.find(key) {
            Ok(i) => {
                if !matches!(self.0[i].1, J::Obj(_)) {
                    self.0[i].1 = J::Obj(Obj::new());
                }
                i
            }
            Err(i) => {
                self.0.insert(i, (Cow::Borrowed(key), J::Obj(Obj::new())));
                i
            }
        };
        match &mut self.0[i].1 {
            J::Obj(o) => o,
            // Made an object just above.
            _ => unreachable!("child is an object"),
        }
    }

    /// Sets `path` (objects created on the way; an existing non-object is replaced).
    pub fn put(&mut self, path: &[&'a str], value: J<'a>) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut cur = self;
        for p in parents {
            cur = cur.child(p);
        }
        cur.insert(*last, value);
    }

    pub fn into_entries(self) -> impl Iterator<Item = (Cow<'a, str>, J<'a>)> {
        self.0.into_iter()
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J<'de>, E> {
        // As `Value` does: a non-finite float (not valid JSON anyway) becomes null.
        Ok(Number::from_f64(v).map_or(J::Null, J::Num))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }

    fn visit_none<E: de::Error>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, J<'de>)> = Vec::new();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            entries.push((k.0, map.next_value()?));
        }
        // Sorted and unique like a BTreeMap; a repeated key keeps its last value, as `Value`
        // does (the sort is stable, so the last duplicate is the last of its run).
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Cow<'de, str>, J<'de>)> = Vec::with_capacity(entries.len());
        for e in entries {
            match out.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => out.push(e),
            }
        }
        Ok(J::Obj(Obj(out)))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl Serialize for J<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::Num(n) => n.serialize(s),
            J::Str(v) => s.serialize_str(v),
            J::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            J::Obj(o) => o.serialize(s),
        }
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Parsing and writing back gives what `Value` gives, including key order, duplicate
    /// keys, escapes and number forms.
    #[test]
    fn round_trips_like_value() {
        for text in [
            r#"{"b":1,"a":[1,-2,3.5,1e3,18446744073709551615,18446744073709551616],"c":{"z":null,"y":true}}"#,
            r#"{"k":1,"k":2,"j":"x\"y\\u00e9\n","é":"ü","":0}"#,
            r#"[{"B":1,"a":2,"aa":3,"a\u0000":4}, "", {}, []]"#,
            r#""plain""#,
            "-0",
            "0.1",
            "1E400",
        ] {
            let v: Result<Value, _> = serde_json::from_str(text);
            let j: Result<J<'_>, _> = serde_json::from_str(text);
            match (v, j) {
                (Ok(v), Ok(j)) => {
                    assert_eq!(serde_json::to_string(&j).unwrap(), v.to_string(), "{text}")
                }
                (Err(_), Err(_)) => {}
                (v, j) => panic!("{text}: Value {v:?} vs tree {j:?}"),
            }
        }
    }

    #[test]
    fn put_replaces_non_objects_on_the_way() {
        let mut o = Obj::new();
        o.insert("a", J::str("x"));
        o.put(&["a", "b"], J::from(1u64));
        o.put(&["a", "c"], J::from(2u64));
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"a":{"b":1,"c":2}}"#);
        assert_eq!(
            o.remove("a").and_then(|a| a.get("c").cloned()),
            Some(J::from(2u64))
        );
        assert!(o.is_empty());
    }
}
