//! Key layout: `namespace:key`, and the SCAN pattern that matches one namespace.

use flowstore_core::{Error, Key, Namespace, Result};

/// Joins the namespace and the key in a Redis key name.
pub const SEPARATOR: char = ':';

/// The prefix every Redis key of `namespace` starts with: the namespace and the
/// separator. A namespace containing the separator is refused (a `Config` error),
/// so the first `:` of a Redis key always ends its namespace and namespace `a` +
/// key `b:c` can never meet namespace `a:b` + key `c`.
pub(crate) fn prefix(namespace: &Namespace) -> Result<Box<str>> {
    if namespace.as_str().contains(SEPARATOR) {
        return Err(Error::config(format!(
            "a Redis namespace cannot contain `{SEPARATOR}`, the separator between namespace and key (namespace {:?})",
            namespace.as_str()
        )));
    }
    let mut prefix = String::with_capacity(namespace.as_str().len() + 1);
    prefix.push_str(namespace.as_str());
    prefix.push(SEPARATOR);
    Ok(prefix.into_boxed_str())
}

/// The Redis key name of `key` under `prefix`: one allocation, handed to fred
/// without another copy.
pub(crate) fn redis_key(prefix: &str, key: &Key) -> fred::types::Key {
    let mut name = String::with_capacity(prefix.len() + key.len());
    name.push_str(prefix);
    name.push_str(key.as_str());
    fred::types::Key::from(name)
}

/// The `SCAN … MATCH` pattern for every key under `prefix`: the prefix with each
/// glob metacharacter (`*`, `?`, `[`, `]`, `\`) escaped by a backslash, then `*`.
pub(crate) fn match_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() * 2 + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    /// Redis's glob matcher (`stringmatchlen`) for the subset we emit: literal
    /// characters, `\x` escapes and a trailing `*`.
    fn redis_match(pattern: &str, name: &str) -> bool {
        let mut name = name.chars();
        let mut pattern = pattern.chars().peekable();
        while let Some(p) = pattern.next() {
            match p {
                '*' if pattern.peek().is_none() => return true,
                '*' | '?' | '[' => panic!("unescaped glob character in {p:?}"),
                '\\' => {
                    let literal = pattern.next().expect("dangling escape");
                    if name.next() != Some(literal) {
                        return false;
                    }
                }
                _ => {
                    if name.next() != Some(p) {
                        return false;
                    }
                }
            }
        }
        name.next().is_none()
    }

    fn ns(text: &str) -> Namespace {
        Namespace::new(text).unwrap()
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(match_pattern("flow:"), "flow:*");
        assert_eq!(match_pattern("a*b?c[d]e\\:"), "a\\*b\\?c\\[d\\]e\\\\:*");
    }

    #[test]
    fn pattern_matches_only_its_own_namespace() {
        let cases = [
            ("flow", "flow2"),
            ("glob*", "globx"),
            ("glob?", "globy"),
            ("glob[ab]", "globa"),
            ("glob\\", "glob\\*"),
            ("x\\", "x\\\\"),
        ];
        for (mine, other) in cases {
            let pattern = match_pattern(&prefix(&ns(mine)).unwrap());
            let key = Key::new("same-key").unwrap();
            let own = redis_key(&prefix(&ns(mine)).unwrap(), &key);
            let theirs = redis_key(&prefix(&ns(other)).unwrap(), &key);
            assert!(
                redis_match(&pattern, own.as_str().unwrap()),
                "{mine} misses its own key"
            );
            assert!(
                !redis_match(&pattern, theirs.as_str().unwrap()),
                "{mine} matches {other}"
            );
        }
    }

    #[test]
    fn namespaces_with_the_separator_are_refused() {
        assert_eq!(prefix(&ns("a:b")).unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(&*prefix(&ns("a/b.c")).unwrap(), "a/b.c:");
    }

    #[test]
    fn key_is_prefix_then_key() {
        let key = Key::new("b:c").unwrap();
        assert_eq!(redis_key("a:", &key).as_str(), Some("a:b:c"));
    }
}
