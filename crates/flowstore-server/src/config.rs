//! How a server is configured: [`ServerConfig`] and the bearer [`Token`].

use std::fmt;
use std::path::Path;
use std::time::Duration;

use flowstore_core::{Error, Result};
use subtle::ConstantTimeEq;

/// The environment variable a token is read from: `FLOWSTORE_TOKEN`.
pub const TOKEN_ENV: &str = "FLOWSTORE_TOKEN";

/// The address a server listens on when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A bearer token: what clients must send as `Authorization: Bearer <token>`.
///
/// It is 1 to 4096 visible ASCII characters (no spaces). `Debug` never shows it,
/// and [`Token::matches`] compares in constant time.
#[derive(Clone)]
pub struct Token(Box<[u8]>);

impl Token {
    /// The longest token accepted, in bytes.
    pub const MAX_LEN: usize = 4096;

    /// Checks `token`: 1 to 4096 visible ASCII characters (`!` to `~`).
    pub fn new(token: impl Into<String>) -> Result<Token> {
        let token = token.into();
        if token.is_empty() {
            return Err(Error::config("the token is empty"));
        }
        if token.len() > Token::MAX_LEN {
            return Err(Error::config("the token is longer than 4096 bytes"));
        }
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(Error::config(
                "the token must be visible ASCII characters only (no spaces or control characters)",
            ));
        }
        Ok(Token(token.into_bytes().into_boxed_slice()))
    }

    /// Reads a token from a file; surrounding whitespace (a trailing newline) is removed.
    pub fn from_file(path: &Path) -> Result<Token> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Error::config(format!("cannot read the token file {}", path.display())).with_source(err)
        })?;
        Token::new(text.trim()).map_err(|err| {
            Error::config(format!("token file {}: {}", path.display(), err.message()))
        })
    }

    /// The token in [`TOKEN_ENV`] (`FLOWSTORE_TOKEN`), `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Token>> {
        match std::env::var(TOKEN_ENV) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Token::new(text.trim())
                .map(Some)
                .map_err(|err| Error::config(format!("{TOKEN_ENV}: {}", err.message()))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::config(format!("{TOKEN_ENV} is not valid UTF-8")))
            }
        }
    }

    /// The token of a `flowstore serve` command line: from `token_file` when given,
    /// else from `FLOWSTORE_TOKEN`, else none. (A token is never a command-line
    /// argument: arguments are visible to every user of the machine.)
    pub fn load(token_file: Option<&Path>) -> Result<Option<Token>> {
        match token_file {
            Some(path) => Token::from_file(path).map(Some),
            None => Token::from_env(),
        }
    }

    /// Whether `candidate` is this token, compared in constant time (only the
    /// lengths may leak through timing, never the content).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.0.as_ref().ct_eq(candidate))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How a server listens, authenticates and limits requests.
///
/// Start from [`ServerConfig::default`] and set what you need:
///
/// ```
/// use std::time::Duration;
/// use flowstore_server::{ServerConfig, Token};
///
/// let mut config = ServerConfig::default();
/// config.listen = "127.0.0.1:0".into();
/// config.token = Some(Token::new("s3cret-token")?);
/// config.allow_origins = vec!["https://app.example.com".into()];
/// config.request_timeout = Duration::from_secs(10);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), flowstore_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `host:port` to listen on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
    /// The bearer token every route but `/healthz` requires; `None` means no auth.
    pub token: Option<Token>,
    /// Listen on a non-loopback address without a token anyway (default false:
    /// such a configuration is refused).
    pub insecure_no_token: bool,
    /// Browser origins allowed by CORS (`https://app.example.com`, or `*` for any).
    /// Empty (the default): CORS is off and browsers only reach the server from
    /// its own origin.
    pub allow_origins: Vec<String>,
    /// The longest a request may take, body upload included (default 30 s); then
    /// the answer is 504 with kind `timeout`. Its outcome is unknown, as for any
    /// timed-out write.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection, or a client still sending its
    /// request headers, is kept open (default 60 s).
    pub idle_timeout: Duration,
    /// On shutdown, how long in-flight requests get to finish (default 30 s).
    pub shutdown_timeout: Duration,
    /// Serve Prometheus metrics at `/metrics` (default true). The first server of
    /// the process installs a Prometheus recorder as the global `metrics`
    /// recorder; if another recorder is already installed, `/metrics` answers
    /// 501 and the metrics go to that recorder.
    pub metrics: bool,
    /// Serve the web console at `/console/` (default false): static files,
    /// public like `/healthz`; the data it shows needs the token.
    pub console: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.to_string(),
            token: None,
            insecure_no_token: false,
            allow_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            metrics: true,
            console: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_printed() {
        assert!(Token::new("").is_err());
        assert!(Token::new("has space").is_err());
        assert!(Token::new("tab\t").is_err());
        assert!(Token::new("x".repeat(4097)).is_err());
        let token = Token::new("hunter2").unwrap();
        assert!(!format!("{token:?}").contains("hunter2"));
        assert!(token.matches(b"hunter2"));
        assert!(!token.matches(b"hunter3"));
        assert!(!token.matches(b"hunter"));
        assert!(!token.matches(b""));
    }

    #[test]
    fn token_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc123\n").unwrap();
        assert!(Token::from_file(&path).unwrap().matches(b"abc123"));
        std::fs::write(&path, "\n").unwrap();
        assert!(Token::from_file(&path).is_err());
        assert!(Token::from_file(&dir.path().join("missing")).is_err());
    }
}
