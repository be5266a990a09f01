//! [`FaultProxy`]: a TCP proxy in front of a server that a test can cut,
//! blackhole and heal, to see what a store does when its connection fails in
//! ways a server crash does not produce.
//!
//! Threads and blocking sockets only (this crate is std-only: xtask builds it
//! first on every CI run).
//!
//! It counts what went through it ([`FaultProxy::connections`],
//! [`FaultProxy::bytes_up`]), so that a test can size a cut to one request
//! (forward a write once, read how many bytes it took, then
//! [`ProxyMode::CloseAfter`] that many) and count how often a client
//! reconnected.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Forward bytes both ways, each chunk held this long first: a slow
    /// network (a request and its answer each arrive that much later).
    Delay(Duration),
    /// Forward this many more bytes client→server (counted over every
    /// connection from the moment the mode is set), then close the connection
    /// that reached the count, both ends, without forwarding anything the
    /// server answers after that: a request cut mid-way, or — with the
    /// request's exact size — cut right after the server got all of it.
    /// Connections opened after the cut are closed at their first byte.
    CloseAfter(u64),
    /// Like [`ProxyMode::CloseAfter`], but the connection that reached the
    /// count stays open and forwards nothing more either way: the server got
    /// the request, its answer never comes (a partition at the worst moment).
    /// Connections opened after the cut forward nothing either.
    BlackholeAfter(u64),
}

impl ProxyMode {
    /// Whether the mode lost bytes mid-stream on the connections it leaves
    /// behind, which would hand a client a garbled protocol.
    fn garbles(self) -> bool {
        matches!(self, ProxyMode::Blackhole | ProxyMode::BlackholeAfter(_))
    }
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<ProxyMode>,
    /// Bytes [`ProxyMode::CloseAfter`] / [`ProxyMode::BlackholeAfter`] still
    /// forward client→server before they cut.
    budget: AtomicU64,
    /// Every open connection (both ends) by its number, so that a reset can
    /// close them; a connection leaves when its pumps end.
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
    stopped: AtomicBool,
    connections: AtomicU64,
    bytes_up: AtomicU64,
}

impl Shared {
    fn mode(&self) -> ProxyMode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes up to `wanted` bytes from the cut budget: how many may still be
    /// forwarded, and whether the connection is cut once they are.
    fn take_budget(&self, wanted: u64) -> (u64, bool) {
        let mut granted = 0;
        let _ = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                granted = left.min(wanted);
                Some(left - granted)
            });
        // Cut when the budget is gone, even if this chunk used none of it.
        let cut = granted < wanted || self.budget.load(Ordering::SeqCst) == 0;
        (granted, cut)
    }
}

/// Which way a pump copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Client → server: what the cut budget counts.
    Up,
    /// Server → client.
    Down,
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
            budget: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
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
    /// now; so does leaving [`ProxyMode::Blackhole`] or
    /// [`ProxyMode::BlackholeAfter`], whose connections lost bytes mid-stream
    /// and would hand the client a garbled protocol.
    pub fn set_mode(&self, mode: ProxyMode) {
        let mut current = self.shared.mode.lock().unwrap_or_else(|e| e.into_inner());
        if let ProxyMode::CloseAfter(bytes) | ProxyMode::BlackholeAfter(bytes) = mode {
            self.shared.budget.store(bytes, Ordering::SeqCst);
        }
        let previous = std::mem::replace(&mut *current, mode);
        // Still under the mode lock, so that no pump forwards anything in
        // the new mode on a connection this closes.
        if mode == ProxyMode::Reset || previous.garbles() {
            close_all(&self.shared);
        }
        drop(current);
    }

    /// How many connections the proxy has opened to the server so far (one
    /// per client connection it served).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many bytes the proxy has forwarded client→server so far.
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::SeqCst)
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
    for stream in open.into_values().flatten() {
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
        let number = shared.connections.fetch_add(1, Ordering::SeqCst);
        // A connection that cannot be registered is dropped (closed) here.
        let _ = pair(number, client, server, &shared);
    }
}

/// Registers both ends as connection `number` and starts one pump per
/// direction.
fn pair(number: u64, client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    {
        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: once the proxy's drop closed everything,
        // nothing registers any more.
        if shared.stopped.load(Ordering::SeqCst) {
            return Err(io::Error::other("the proxy stopped"));
        }
        open.insert(number, [client.try_clone()?, server.try_clone()?]);
    }
    let (client_in, server_in) = (client.try_clone()?, server.try_clone()?);
    let up = Pump {
        number,
        shared: Arc::clone(shared),
        cut: Arc::new(AtomicBool::new(false)),
        direction: Direction::Up,
    };
    let down = Pump {
        direction: Direction::Down,
        ..up.clone()
    };
    thread::spawn(move || up.run(client_in, server));
    thread::spawn(move || down.run(server_in, client));
    Ok(())
}

/// One direction of one connection.
#[derive(Clone)]
struct Pump {
    /// Which connection, in [`Shared::open`].
    number: u64,
    shared: Arc<Shared>,
    /// Set once this connection used up the cut budget or a blackhole
    /// dropped a chunk of it: from then on neither direction forwards
    /// anything, whatever the mode. Shared by the connection's two pumps.
    cut: Arc<AtomicBool>,
    direction: Direction,
}

/// What a pump does with the next chunk it read: forward its first `forward`
/// bytes, then close the connection or go on.
struct Step {
    forward: usize,
    close: bool,
}

impl Pump {
    /// Copies `from` to `to` as the mode says until either end closes.
    fn run(self, mut from: TcpStream, mut to: TcpStream) {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let Step { forward, close } = self.step(read);
            if forward > 0 {
                // Counted before they go out, so that once the server has
                // them the count does too.
                if self.direction == Direction::Up {
                    self.shared
                        .bytes_up
                        .fetch_add(forward as u64, Ordering::SeqCst);
                }
                if to.write_all(&buffer[..forward]).is_err() {
                    break;
                }
            }
            if close {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
        // The other pump's read now ends too; the connection's descriptors
        // close once both pumps and this entry are gone.
        self.shared
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.number);
    }

    fn step(&self, read: usize) -> Step {
        let go_on = |forward| Step {
            forward,
            close: false,
        };
        let mode = self.shared.mode();
        // First: a connection that lost bytes never forwards again, even if
        // the mode changed before `set_mode` closed it.
        if self.cut.load(Ordering::SeqCst) {
            return Step {
                forward: 0,
                close: !mode.garbles(),
            };
        }
        let close_on_cut = match mode {
            ProxyMode::Pass => return go_on(read),
            ProxyMode::Blackhole => {
                self.cut.store(true, Ordering::SeqCst);
                return go_on(0);
            }
            ProxyMode::Reset => {
                return Step {
                    forward: 0,
                    close: true,
                };
            }
            ProxyMode::Delay(delay) => {
                thread::sleep(delay);
                return go_on(read);
            }
            ProxyMode::CloseAfter(_) => true,
            ProxyMode::BlackholeAfter(_) => false,
        };
        let forward = if self.direction == Direction::Down {
            // Nothing cut on this connection yet: its answers pass.
            return go_on(read);
        } else {
            let (granted, cut) = self.shared.take_budget(read as u64);
            if !cut {
                return go_on(read);
            }
            // Flag the cut before the last bytes go out, so that the down
            // pump cannot forward an answer to them.
            self.cut.store(true, Ordering::SeqCst);
            // At most `read`, a usize.
            granted as usize
        };
        Step {
            forward,
            close: close_on_cut,
        }
    }
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

    /// An echo server that also keeps every byte it received.
    fn recording_echo() -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&received);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = stream.read(&mut buffer) {
                        record.lock().unwrap().extend_from_slice(&buffer[..read]);
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (addr, received)
    }

    fn connect(proxy: &FaultProxy, timeout: Duration) -> TcpStream {
        let stream = TcpStream::connect(proxy.addr()).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream
    }

    /// Waits until the server received `expected` (it reads on its own thread).
    fn assert_received(received: &Mutex<Vec<u8>>, expected: &[u8]) {
        for _ in 0..100 {
            if received.lock().unwrap().as_slice() == expected {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(received.lock().unwrap().as_slice(), expected);
    }

    #[test]
    fn close_after_forwards_exactly_the_budget_and_no_answer() {
        let (target, received) = recording_echo();
        let proxy = FaultProxy::start(target).unwrap();
        let mut stream = connect(&proxy, Duration::from_secs(5));
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");
        assert_eq!((proxy.bytes_up(), proxy.connections()), (4, 1));

        // 4 bytes of a whole request, then 2 of the next: cut mid-way.
        proxy.set_mode(ProxyMode::CloseAfter(6));
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");
        assert!(round_trip(&mut stream).is_err(), "a cut request answered");
        assert_received(&received, b"pingpingpi");
        assert_eq!(proxy.bytes_up(), 10);

        // After the cut, a new connection is closed at its first byte.
        let mut late = connect(&proxy, Duration::from_secs(5));
        assert!(round_trip(&mut late).is_err(), "served after the cut");
        assert_received(&received, b"pingpingpi");
        assert_eq!(proxy.bytes_up(), 10, "forwarded after the cut");

        proxy.set_mode(ProxyMode::Pass);
        let mut healed = connect(&proxy, Duration::from_secs(5));
        assert_eq!(round_trip(&mut healed).unwrap(), b"ping");
    }

    #[test]
    fn blackhole_after_delivers_the_request_but_not_the_answer() {
        let (target, received) = recording_echo();
        let proxy = FaultProxy::start(target).unwrap();
        let mut stream = connect(&proxy, Duration::from_millis(300));
        proxy.set_mode(ProxyMode::BlackholeAfter(4));
        let err = round_trip(&mut stream).expect_err("a blackholed answer arrived");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "the connection was closed, not blackholed: {err:?}"
        );
        assert_received(&received, b"ping");

        // Leaving the mode closes the garbled connection; new ones are served.
        proxy.set_mode(ProxyMode::Pass);
        let mut healed = connect(&proxy, Duration::from_secs(5));
        assert_eq!(round_trip(&mut healed).unwrap(), b"ping");
        assert_eq!(proxy.connections(), 2);
    }

    /// The race `set_mode` closes under its lock: a pump that reads after a
    /// blackhole dropped a chunk of its connection forwards nothing in the
    /// next mode, but closes.
    #[test]
    fn a_blackholed_connection_never_forwards_again() {
        let proxy = FaultProxy::start(echo()).unwrap();
        let pump = Pump {
            number: 0,
            shared: Arc::clone(&proxy.shared),
            cut: Arc::new(AtomicBool::new(false)),
            direction: Direction::Down,
        };
        proxy.set_mode(ProxyMode::Blackhole);
        let Step { forward, close } = pump.step(4);
        assert_eq!((forward, close), (0, false));
        proxy.set_mode(ProxyMode::Pass);
        let Step { forward, close } = pump.step(4);
        assert_eq!((forward, close), (0, true));
    }

    #[test]
    fn a_closed_connection_leaves_the_open_list() {
        let proxy = FaultProxy::start(echo()).unwrap();
        let open = || proxy.shared.open.lock().unwrap().len();
        let mut stream = connect(&proxy, Duration::from_secs(5));
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");
        assert_eq!(open(), 1);
        drop(stream);
        for _ in 0..100 {
            if open() == 0 {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("a closed connection is still held open");
    }

    #[test]
    fn delay_holds_each_chunk_each_way() {
        let proxy = FaultProxy::start(echo()).unwrap();
        let mut stream = connect(&proxy, Duration::from_secs(5));
        let delay = Duration::from_millis(100);
        proxy.set_mode(ProxyMode::Delay(delay));
        let started = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream).unwrap(), b"ping");
        // A lower bound only: the request and the answer were each held.
        assert!(started.elapsed() >= delay * 2, "{:?}", started.elapsed());
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
