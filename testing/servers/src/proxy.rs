//! [`FaultProxy`]: a TCP proxy in front of a server that a test can cut,
//! blackhole and heal, to see what a store does when its connection fails in
//! ways a server crash does not produce.
//!
//! Threads and blocking sockets only (this crate is std-only: xtask builds it
//! first on every CI run).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward bytes both ways.
    Pass,
    /// Reset every open connection and close every new one at once: the
    /// server looks gone (a crash, a firewall that rejects).
    Reset,
    /// Keep connections open (and accept new ones) but forward nothing: the
    /// server looks hung (a network partition, a firewall that drops).
    Blackhole,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<ProxyMode>,
    /// Every open connection (both ends), so that a reset can close them.
    open: Mutex<Vec<TcpStream>>,
    stopped: AtomicBool,
}

impl Shared {
    fn mode(&self) -> ProxyMode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target`. Dropping it stops accepting
/// and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts forwarding a free port on 127.0.0.1 to `target`.
    pub fn start(target: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(ProxyMode::Pass),
            open: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || accept_loop(listener, target, accepting))?;
        Ok(FaultProxy { port, shared })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Switches to `mode`. [`ProxyMode::Reset`] closes every open connection
    /// now; so does leaving [`ProxyMode::Blackhole`], whose connections lost
    /// bytes mid-stream and would hand the client a garbled protocol.
    pub fn set_mode(&self, mode: ProxyMode) {
        let previous = std::mem::replace(
            &mut *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()),
            mode,
        );
        if mode == ProxyMode::Reset || previous == ProxyMode::Blackhole {
            close_all(&self.shared);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        close_all(&self.shared);
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1));
    }
}

fn close_all(shared: &Shared) {
    let open = std::mem::take(&mut *shared.open.lock().unwrap_or_else(|e| e.into_inner()));
    for stream in open {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.mode() == ProxyMode::Reset {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        // A connection that cannot be registered is dropped (closed) here.
        let _ = pair(client, server, &shared);
    }
}

/// Registers both ends and starts one pump per direction.
fn pair(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    {
        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    let (client_in, server_in) = (client.try_clone()?, server.try_clone()?);
    let (up, down) = (Arc::clone(shared), Arc::clone(shared));
    thread::spawn(move || pump(client_in, server, &up));
    thread::spawn(move || pump(server_in, client, &down));
    Ok(())
}

/// Copies `from` to `to` until either end closes; drops the bytes while the
/// proxy blackholes.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        match shared.mode() {
            ProxyMode::Pass => {
                if to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
            ProxyMode::Blackhole => {}
            ProxyMode::Reset => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
        stream.write_all(b"ping")?;
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer)?;
        Ok(answer.to_vec())
    }

    #[test]
    fn passes_resets_blackholes_and_heals() {
        let proxy = FaultProxy::start(echo()).unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");

        proxy.set_mode(ProxyMode::Blackhole);
        assert!(round_trip(&mut stream).is_err(), "a blackhole answered");

        proxy.set_mode(ProxyMode::Reset);
        assert!(
            round_trip(&mut stream).is_err(),
            "a reset connection answered"
        );
        let mut refused = TcpStream::connect(proxy.addr()).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(
            round_trip(&mut refused).is_err(),
            "a new connection was served"
        );

        proxy.set_mode(ProxyMode::Pass);
        let mut healed = TcpStream::connect(proxy.addr()).unwrap();
        healed
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(round_trip(&mut healed).unwrap(), b"ping");
    }
}
