//! Pretty-printing JSON text as it is: indentation and line breaks change,
//! nothing else.
//!
//! Going through `serde_json::Value` would sort object keys and could turn
//! numbers into floats (`12345678901234567890123`, `1.0`), so `flows show`
//! would no longer print what is stored. This works on the tokens instead:
//! strings, numbers and literals are copied byte for byte, in their order.

/// Two spaces a level, as `serde_json::to_string_pretty`.
const INDENT: &[u8] = b"  ";

/// `json` (which must be valid JSON, e.g. checked by a parse first) with one
/// member or element a line, nested ones indented, `": "` after each key and a
/// final newline. Empty objects and arrays stay `{}` and `[]`.
pub(crate) fn pretty(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + json.len() / 2);
    let mut depth = 0usize;
    let mut index = 0;
    while index < json.len() {
        let byte = json[index];
        index += 1;
        match byte {
            b'"' => index = copy_string(json, index, &mut out),
            b'{' | b'[' => {
                let close = if byte == b'{' { b'}' } else { b']' };
                let next = skip_whitespace(json, index);
                out.push(byte);
                if json.get(next) == Some(&close) {
                    out.push(close);
                    index = next + 1;
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(byte);
            }
            b',' => {
                out.push(b',');
                new_line(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            // Whitespace between tokens is JSON's to drop.
            b' ' | b'\t' | b'\n' | b'\r' => {}
            // Numbers, true, false, null.
            _ => out.push(byte),
        }
    }
    out.push(b'\n');
    out
}

/// Copies a string whose opening quote is just before `start`, quotes
/// included; returns the index after its closing quote. Escapes are copied as
/// they are (an escaped quote does not end the string).
fn copy_string(json: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    out.push(b'"');
    let mut index = start;
    while index < json.len() {
        let byte = json[index];
        out.push(byte);
        index += 1;
        match byte {
            b'\\' => {
                if let Some(&escaped) = json.get(index) {
                    out.push(escaped);
                    index += 1;
                }
            }
            b'"' => break,
            _ => {}
        }
    }
    index
}

fn skip_whitespace(json: &[u8], mut index: usize) -> usize {
    while matches!(json.get(index), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        index += 1;
    }
    index
}

fn new_line(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(INDENT);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn pretty_str(json: &str) -> String {
        String::from_utf8(pretty(json.as_bytes())).unwrap()
    }

    #[test]
    fn indents_like_serde_json_for_plain_values() {
        let json = r#"{"a":[1,2,{"b":null}],"c":{},"d":[],"e":"x"}"#;
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            pretty_str(json),
            format!("{}\n", serde_json::to_string_pretty(&value).unwrap())
        );
    }

    #[test]
    fn keeps_key_order_numbers_and_strings_as_written() {
        let json = "{ \"z\" : 1.0,\n \"a\": 12345678901234567890123, \"s\": \"{[,:]} \\\" \\\\\\\" \\u00e9 é\", \"e\" : [ ] }";
        let text = pretty_str(json);
        assert_eq!(
            text,
            "{\n  \"z\": 1.0,\n  \"a\": 12345678901234567890123,\n  \"s\": \"{[,:]} \\\" \\\\\\\" \\u00e9 é\",\n  \"e\": []\n}\n"
        );
        // Still the same JSON.
        let before: Value = serde_json::from_str(json).unwrap();
        let after: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn scalars_and_nesting() {
        assert_eq!(pretty_str(" true "), "true\n");
        assert_eq!(pretty_str("\"a b\""), "\"a b\"\n");
        assert_eq!(
            pretty_str("[[[]],{\"k\":[{}]}]"),
            "[\n  [\n    []\n  ],\n  {\n    \"k\": [\n      {}\n    ]\n  }\n]\n"
        );
    }
}
