//! JSON pointers (RFC 6901) to the leaves of a document.

use serde_json::Value;

/// One path segment as a pointer writes it (`~` as `~0`, `/` as `~1`).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Every scalar (string, number, boolean) of `v` with its pointer, in
/// document order.
pub fn leaves(v: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

fn walk<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(x, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{at}/{i}"), out);
            }
        }
        Value::Null => {}
        _ => out.push((at, v)),
    }
}

/// A string's or number's text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The pointer of the container holding `pointer`'s target, and its last
/// segment: `/items/0/photo_urls/2` gives `/items/0/photo_urls` and `2`.
pub fn parent(pointer: &str) -> Option<(&str, &str)> {
    pointer.rsplit_once('/')
}

/// The last segment of a pointer, unescaped: the key a value is under.
pub fn last_key(pointer: &str) -> String {
    parent(pointer)
        .map(|(_, k)| k.replace("~1", "/").replace("~0", "~"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_have_pointers_that_find_them() {
        let v = serde_json::json!({"a/b": [1, {"c~": "x"}], "n": null, "t": true});
        let l = leaves(&v);
        assert_eq!(
            l.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["/a~1b/0", "/a~1b/1/c~0", "/t"]
        );
        for (p, x) in &l {
            assert_eq!(v.pointer(p), Some(*x));
        }
        assert_eq!(last_key("/a~1b/1/c~0"), "c~");
        assert_eq!(
            parent("/items/0/photo_urls/2"),
            Some(("/items/0/photo_urls", "2"))
        );
    }
}
