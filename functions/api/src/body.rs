//! Request bodies: JSON, capped in size, parsed once into the endpoint's type. A body
//! that does not fit the type is a 400 whose message names the field (`messages[2].body:
//! invalid type: integer, expected a string`), so a client developer sees what to fix.

use crate::ApiError;
use serde::de::DeserializeOwned;

/// Parses `bytes` as a `T`, refusing a body over `max_bytes` (413) and one that is not a
/// `T` (400 naming the field).
pub fn parse<T: DeserializeOwned>(bytes: &[u8], max_bytes: usize) -> Result<T, ApiError> {
    if bytes.len() > max_bytes {
        return Err(ApiError::too_large(max_bytes));
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::invalid("the body is empty; send a JSON object")),
        // serde reads a struct from an array of its fields in order too: `[null, null]`
        // would be a patch. Every body is an object.
        Some(b'{') => {}
        Some(_) => return Err(ApiError::invalid("the body is not a JSON object")),
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid(format!("the body is not valid: {inner}"))
        } else {
            ApiError::invalid_field(&path, inner)
        }
    })?;
    de.end().map_err(|e| ApiError::invalid(format!("the body is not valid: {e}")))?;
    Ok(value)
}

/// For an optional field that may be null on purpose (`"description": null` clears it):
/// `Some` of its value when present, null included; absent stays `None` (with
/// `#[serde(default)]`).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        body: String,
    }

    #[test]
    fn a_wrong_field_is_named_by_its_path() {
        let e = parse::<Outer>(br#"{"items": [{"body": "a"}, {"body": 3}]}"#, 1024).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("items[1].body: invalid type: integer"), "{}", e.message);
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let e = parse::<Outer>(br#"{"items": [], "sender_id": "x"}"#, 1024).unwrap_err();
        assert!(e.message.contains("unknown field `sender_id`"), "{}", e.message);
    }

    #[test]
    fn oversized_empty_and_trailing_bodies_are_refused() {
        assert_eq!(parse::<Outer>(&[b' '; 2000], 1024).unwrap_err().status, 413);
        assert_eq!(parse::<Outer>(b"  ", 1024).unwrap_err().status, 400);
        assert_eq!(parse::<Outer>(br#"{"items": []} {}"#, 1024).unwrap_err().status, 400);
        assert_eq!(parse::<Outer>(b"{", 1024).unwrap_err().status, 400);
    }

    #[test]
    fn a_body_is_an_object_never_the_fields_in_an_array() {
        let e = parse::<Inner>(br#"["a"]"#, 1024).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, "the body is not a JSON object"));
        assert!(parse::<Inner>(br#" {"body": "a"}"#, 1024).is_ok());
    }
}
