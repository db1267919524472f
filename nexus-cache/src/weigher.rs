//! [`Weigher`]: how many bytes of memory a value holds, for the L1's byte bound.
//!
//! The default, [`DeepSize`], walks the value through `serde` and estimates what the Rust value
//! occupies (inline parts, heap buffers, allocator overhead), leaning towards *over*-estimating
//! when the layout is ambiguous: a 64-bit number, bool or string inside a sequence or map is
//! counted as a `serde_json::Value` slot (32 bytes), since it may be one. So a
//! `serde_json::Value` array of zeros is counted at its real size, and a `Vec<u64>` at up to 4×
//! its size. Where you know better, pass your own weigher (a closure works):
//!
//! ```
//! use nexus_cache::weigher::{DeepSize, Weigher};
//! let doc = serde_json::json!([0, 0, 0, 0]);
//! // 4 slots of 32 bytes + the array's header and allocation.
//! assert!(DeepSize.weigh(&doc) >= 4 * 32);
//! let exact = |v: &Vec<u64>| 24 + 8 * v.capacity();
//! assert_eq!(exact.weigh(&vec![1, 2, 3]), 48);
//! ```

use serde::Serialize;
use serde::ser;

/// Bytes of memory a value holds (inline and on the heap), for the L1's byte bound.
pub trait Weigher<V>: Send + Sync + 'static {
    /// The value's estimated size in memory, in bytes.
    fn weigh(&self, value: &V) -> usize;
}

impl<V, F> Weigher<V> for F
where
    F: Fn(&V) -> usize + Send + Sync + 'static,
{
    fn weigh(&self, value: &V) -> usize {
        self(value)
    }
}

/// A weigher held by a cache (shared, printable).
pub(crate) struct Shared<V>(pub(crate) std::sync::Arc<dyn Weigher<V>>);

impl<V> Clone for Shared<V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<V> std::fmt::Debug for Shared<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Weigher")
    }
}

/// The default weigher: a `serde` walk estimating the value's size in memory (see the module
/// documentation for how ambiguous layouts are counted).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeepSize;

impl<V: Serialize> Weigher<V> for DeepSize {
    fn weigh(&self, value: &V) -> usize {
        let w = Walk::of(value);
        w.inline.max(std::mem::size_of::<V>()) + w.heap
    }
}

/// Inline bytes of a heap buffer's header (`Vec`, `String`), and the allocator's overhead per
/// allocation (header and rounding).
const HEADER: usize = 24;
const ALLOCATION: usize = 16;
/// What an element of a sequence or map may occupy when its type is ambiguous: a
/// `serde_json::Value`.
const SLOT: usize = 32;

/// The walk's state: bytes inline at the current level, bytes on the heap in total, and whether
/// what was walked may be a `serde_json::Value` (a 64-bit number, bool, null or string).
#[derive(Debug, Default)]
struct Walk {
    inline: usize,
    heap: usize,
    ambiguous: bool,
}

/// Serialization never fails here; the error type only satisfies `serde`.
#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unsupported")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Never
    }
}

impl Walk {
    /// Weighs `v` as an element of a sequence or map: its inline size (at least a `SLOT` when
    /// ambiguous) plus its heap.
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) {
        let inner = Walk::of(v);
        self.heap += inner.inline_as_element() + inner.heap;
    }

    fn of<T: Serialize + ?Sized>(v: &T) -> Walk {
        let mut w = Walk::default();
        let _ = v.serialize(&mut w);
        w
    }

    fn inline_as_element(&self) -> usize {
        if self.ambiguous {
            self.inline.max(SLOT)
        } else {
            self.inline
        }
    }

    fn bytes(&mut self, len: usize) {
        self.inline += HEADER;
        if len > 0 {
            self.heap += len.next_multiple_of(8) + ALLOCATION;
        }
    }
}

/// A scalar: its own size; `ambiguous` ones may be a `serde_json::Value` when in a container.
macro_rules! scalar {
    ($name:ident, $t:ty, ambiguous) => {
        fn $name(self, _: $t) -> Result<(), Never> {
            self.inline += std::mem::size_of::<$t>();
            self.ambiguous = true;
            Ok(())
        }
    };
    ($name:ident, $t:ty) => {
        fn $name(self, _: $t) -> Result<(), Never> {
            self.inline += std::mem::size_of::<$t>();
            Ok(())
        }
    };
}

impl<'a> ser::Serializer for &'a mut Walk {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Fields<'a>;
    type SerializeTupleStruct = Fields<'a>;
    type SerializeTupleVariant = Fields<'a>;
    type SerializeMap = Seq<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Fields<'a>;

    scalar!(serialize_bool, bool, ambiguous);
    scalar!(serialize_i8, i8);
    scalar!(serialize_i16, i16);
    scalar!(serialize_i32, i32);
    scalar!(serialize_i64, i64, ambiguous);
    scalar!(serialize_u8, u8);
    scalar!(serialize_u16, u16);
    scalar!(serialize_u32, u32);
    scalar!(serialize_u64, u64, ambiguous);
    scalar!(serialize_f32, f32);
    scalar!(serialize_f64, f64, ambiguous);
    scalar!(serialize_char, char);

    fn serialize_i128(self, _: i128) -> Result<(), Never> {
        self.inline += 16;
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Never> {
        self.inline += 16;
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.bytes(v.len());
        self.ambiguous = true;
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.bytes(v.len());
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.inline += 8;
        self.ambiguous = true;
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Never> {
        let _ = v.serialize(&mut *self);
        self.inline += 8;
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.ambiguous = true;
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Never> {
        self.inline += 8;
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Never> {
        let inner = Walk::of(v);
        self.inline += 8 + inner.inline;
        self.heap += inner.heap;
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Never> {
        self.inline += HEADER;
        self.heap += ALLOCATION;
        self.ambiguous = true;
        Ok(Seq { walk: self })
    }
    fn serialize_tuple(self, _: usize) -> Result<Fields<'a>, Never> {
        Ok(Fields { walk: self })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, Never> {
        Ok(Fields { walk: self })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Fields<'a>, Never> {
        self.inline += 8;
        Ok(Fields { walk: self })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Seq<'a>, Never> {
        // A hash map's or B-tree's header.
        self.inline += 48;
        self.heap += ALLOCATION;
        self.ambiguous = true;
        Ok(Seq { walk: self })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, Never> {
        Ok(Fields { walk: self })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Fields<'a>, Never> {
        self.inline += 8;
        Ok(Fields { walk: self })
    }
}

/// Elements of a sequence or entries of a map: on the heap, each at least a slot when ambiguous;
/// a map entry also pays a node's share (16 bytes).
struct Seq<'a> {
    walk: &'a mut Walk,
}

/// Fields of a struct or tuple: inline, at their own size.
struct Fields<'a> {
    walk: &'a mut Walk,
}

impl Fields<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, v: &T) {
        let inner = Walk::of(v);
        self.walk.inline += inner.inline;
        self.walk.heap += inner.heap;
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Never> {
        self.walk.element(v);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeMap for Seq<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Never> {
        self.walk.element(k);
        self.walk.heap += 16;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Never> {
        self.walk.element(v);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

macro_rules! fields {
    ($tr:ident, $method:ident $(, $key:ty)?) => {
        impl ser::$tr for Fields<'_> {
            type Ok = ();
            type Error = Never;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $key,)? v: &T) -> Result<(), Never> {
                self.field(v);
                Ok(())
            }
            fn end(self) -> Result<(), Never> {
                Ok(())
            }
        }
    };
}

fields!(SerializeTuple, serialize_element);
fields!(SerializeTupleStruct, serialize_field);
fields!(SerializeTupleVariant, serialize_field);
fields!(SerializeStruct, serialize_field, &'static str);
fields!(SerializeStructVariant, serialize_field, &'static str);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn json_values_are_counted_as_slots() {
        let zeros = serde_json::Value::Array(vec![serde_json::json!(0); 1000]);
        let w = DeepSize.weigh(&zeros);
        assert!((32_000..34_000).contains(&w), "{w}");
        let strings = serde_json::Value::Array(vec![serde_json::json!("ab"); 1000]);
        // Each: a 32-byte slot (the String header inside) and its 2-byte allocation.
        let w = DeepSize.weigh(&strings);
        assert!(w >= 1000 * (32 + 16), "{w}");
    }

    #[test]
    fn typed_values_near_their_size() {
        assert_eq!(DeepSize.weigh(&7u8), 1);
        assert!(DeepSize.weigh(&vec![0u8; 1000]) >= 1000);
        assert!(DeepSize.weigh(&vec![0u8; 1000]) < 1100);
        let w = DeepSize.weigh(&vec![0u64; 1000]);
        assert!((8_000..=32_100).contains(&w), "over, never under: {w}");
        #[derive(Serialize)]
        struct S {
            id: u64,
            name: String,
            tags: Vec<String>,
        }
        let s = S {
            id: 1,
            name: "x".repeat(100),
            tags: vec!["t".into(); 10],
        };
        let w = DeepSize.weigh(&s);
        // 8 + 24 + 24 inline; 100 + 16 heap; 10 × (24..32 + 16) + 16.
        assert!((56 + 116 + 10 * 40..1200).contains(&w), "{w}");
        let mut m = BTreeMap::new();
        m.insert("k".to_owned(), 1u32);
        assert!(DeepSize.weigh(&m) >= 48 + 16 + 4);
    }
}
