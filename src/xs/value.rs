//! Answers for perl: a `serde_json::Value` (what the analysis's types
//! serialize to, the same as `memtrace --json` prints) laid out as an
//! `MtValue` tree that the XSUB turns into perl data (`value_to_sv` in
//! xsubs.c). The tree points into the value, and both live in the
//! `MtList` until the XSUB hands it back.

use serde_json::Value;

use super::ffi::{
    MtList, MtValue, MT_VALUE_ARRAY, MT_VALUE_ERROR, MT_VALUE_FALSE, MT_VALUE_HASH, MT_VALUE_IV,
    MT_VALUE_NV, MT_VALUE_STR, MT_VALUE_TRUE, MT_VALUE_UNDEF, MT_VALUE_UV,
};

/// Owns an answer and the tree that describes it.
struct Answer {
    _value: Box<Value>,
    _nodes: Vec<Box<[MtValue]>>,
    root: Box<MtValue>,
    _error: Option<String>,
}

fn node(kind: u32) -> MtValue {
    MtValue {
        kind,
        number: 0,
        text: std::ptr::null(),
        len: 0,
        items: std::ptr::null(),
    }
}

fn text(kind: u32, s: &str) -> MtValue {
    MtValue {
        text: s.as_ptr() as *const _,
        len: s.len(),
        ..node(kind)
    }
}

/// The tree for `value`; every slice it points to is kept in `nodes` (a
/// boxed slice's buffer does not move when the box does).
fn lay_out(value: &Value, nodes: &mut Vec<Box<[MtValue]>>) -> MtValue {
    match value {
        Value::Null => node(MT_VALUE_UNDEF),
        Value::Bool(true) => node(MT_VALUE_TRUE),
        Value::Bool(false) => node(MT_VALUE_FALSE),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => MtValue {
                number: u,
                ..node(MT_VALUE_UV)
            },
            (None, Some(i)) => MtValue {
                number: i as u64,
                ..node(MT_VALUE_IV)
            },
            _ => MtValue {
                number: n.as_f64().unwrap_or(0.0).to_bits(),
                ..node(MT_VALUE_NV)
            },
        },
        Value::String(s) => text(MT_VALUE_STR, s),
        Value::Array(items) => {
            let laid: Box<[MtValue]> = items.iter().map(|v| lay_out(v, nodes)).collect();
            let out = MtValue {
                len: laid.len(),
                items: laid.as_ptr(),
                ..node(MT_VALUE_ARRAY)
            };
            nodes.push(laid);
            out
        }
        Value::Object(map) => {
            let laid: Box<[MtValue]> = map
                .iter()
                .flat_map(|(k, v)| [text(MT_VALUE_STR, k), lay_out(v, nodes)])
                .collect();
            let out = MtValue {
                len: map.len(),
                items: laid.as_ptr(),
                ..node(MT_VALUE_HASH)
            };
            nodes.push(laid);
            out
        }
    }
}

/// Hand `value` to the XSUB through `out`; the list owns it.
pub fn hand_out(value: Value, out: *mut *const MtValue) -> *mut MtList {
    let value = Box::new(value);
    let mut nodes = Vec::new();
    let root = Box::new(lay_out(&value, &mut nodes));
    finish(
        Answer {
            _value: value,
            _nodes: nodes,
            root,
            _error: None,
        },
        out,
    )
}

/// Hand the XSUB a one-line error to croak with.
pub fn hand_out_error(message: String, out: *mut *const MtValue) -> *mut MtList {
    let root = Box::new(text(MT_VALUE_ERROR, &message));
    finish(
        Answer {
            _value: Box::new(Value::Null),
            _nodes: Vec::new(),
            root,
            _error: Some(message),
        },
        out,
    )
}

fn finish(answer: Answer, out: *mut *const MtValue) -> *mut MtList {
    // SAFETY: the XSUB passes a valid out-pointer.
    unsafe { *out = &*answer.root };
    owned(answer)
}

/// Hand the XSUB anything it reads through pointers into it, as an
/// `MtList` that [`free`] drops.
pub fn owned<T: 'static>(data: T) -> *mut MtList {
    let boxed: Box<dyn std::any::Any> = Box::new(data);
    Box::into_raw(Box::new(boxed)) as *mut MtList
}

/// A list [`hand_out`] made, kept inside another and freed with it.
pub struct Handed(pub *mut MtList);

impl Drop for Handed {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: made by hand_out, freed only here.
            unsafe { free(self.0) }
        }
    }
}

/// Free what [`owned`] (and so [`hand_out`]) made.
///
/// # Safety
/// `list` came from `owned` and is freed once.
pub unsafe fn free(list: *mut MtList) {
    drop(Box::from_raw(list as *mut Box<dyn std::any::Any>));
}

/// The string values of a HASH the XSUB built (keys and values copied).
///
/// # Safety
/// `about` is a valid MT_VALUE_HASH whose keys and values are STRs.
pub unsafe fn hash_of_strings(about: *const MtValue) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let Some(about) = about.as_ref() else {
        return out;
    };
    if about.kind != MT_VALUE_HASH || about.items.is_null() {
        return out;
    }
    let pairs = std::slice::from_raw_parts(about.items, about.len * 2);
    let text = |v: &MtValue| {
        if v.kind != MT_VALUE_STR || v.text.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(v.text as *const u8, v.len)).into_owned()
    };
    for pair in pairs.chunks(2) {
        out.insert(text(&pair[0]), text(&pair[1]));
    }
    out
}
