//! What [`Store::ping`](crate::Store::ping) reports: whether a store can serve
//! right now, and which of its parts (the stores of a fallback) cannot.
//!
//! A part is named by its role and position ([`Part`]), never by a URL or a
//! message: a health report is meant for unauthenticated probes, and URLs and
//! backend messages can hold hosts or passwords.

use std::fmt;

use crate::error::{Error, ErrorKind};

/// One store among several, by role and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The first store (or the only one).
    Primary,
    /// The `n`th fallback store, counted from 1.
    Fallback(usize),
}

impl Part {
    /// The part at `index` in an ordered list of stores (0 is the primary).
    pub const fn at(index: usize) -> Part {
        match index {
            0 => Part::Primary,
            n => Part::Fallback(n),
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Primary => f.write_str("primary"),
            Part::Fallback(n) => write!(f, "fallback {n}"),
        }
    }
}

/// A part that failed its ping, and the kind of its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PartDown {
    /// Which part.
    pub part: Part,
    /// Why, as an error kind (the message stays in the logs).
    pub kind: ErrorKind,
}

impl PartDown {
    /// `part` failed with an error of `kind`.
    pub const fn new(part: Part, kind: ErrorKind) -> Self {
        PartDown { part, kind }
    }
}

impl fmt::Display for PartDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.kind)
    }
}

/// A successful ping: the store can serve. A store made of several (a fallback)
/// lists the parts that cannot; then it is *degraded*.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The parts that failed their ping; empty when every part answered.
    pub down: Vec<PartDown>,
}

impl Health {
    /// Every part answered.
    pub fn ok() -> Self {
        Health::default()
    }

    /// The store serves, but the parts in `down` do not.
    pub fn degraded(down: Vec<PartDown>) -> Self {
        Health { down }
    }

    /// Whether some part failed its ping.
    pub fn is_degraded(&self) -> bool {
        !self.down.is_empty()
    }
}

/// The parts of a store that cannot serve, attached to a failed ping's
/// [`Error`] as its source so that a caller can name them (see
/// [`parts_down`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartsDown(pub Vec<PartDown>);

impl fmt::Display for PartsDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, down) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{down}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PartsDown {}

/// The parts a failed ping names: those of a [`PartsDown`] in the error's
/// source chain, or else the store itself as the one part, down with the
/// error's kind.
pub fn parts_down(error: &Error) -> Vec<PartDown> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(PartsDown(parts)) = cause.downcast_ref::<PartsDown>() {
            return parts.clone();
        }
        source = cause.source();
    }
    vec![PartDown::new(Part::Primary, error.kind())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_named_by_role_and_position() {
        assert_eq!(Part::at(0).to_string(), "primary");
        assert_eq!(Part::at(2).to_string(), "fallback 2");
    }

    #[test]
    fn a_failed_ping_names_its_parts_or_itself() {
        let plain = Error::timeout("no answer");
        assert_eq!(
            parts_down(&plain),
            [PartDown::new(Part::Primary, ErrorKind::Timeout)]
        );
        let parts = vec![
            PartDown::new(Part::Primary, ErrorKind::Unavailable),
            PartDown::new(Part::Fallback(1), ErrorKind::Unauthorized),
        ];
        let fallback =
            Error::unavailable("no store can serve").with_source(PartsDown(parts.clone()));
        assert_eq!(parts_down(&fallback), parts);
    }
}
