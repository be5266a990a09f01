//! PostgreSQL: a throwaway cluster with trust auth, optionally also speaking TLS.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::binaries::{missing, postgres_bin_dir};
use crate::dirs::{fresh_dir, log_tail, remove_dir, servers_dir};
use crate::process::{is_root, output as run, which};
use crate::supervise::Proc;
use crate::wait::{give_up, wait_until};
use crate::{
    PORT_ATTEMPTS, POSTGRES_DATABASE, POSTGRES_OS_USER, POSTGRES_ROLE, START_TIMEOUT, context,
    free_port,
};

/// A throwaway PostgreSQL server on 127.0.0.1 with trust auth and the database
/// [`POSTGRES_DATABASE`]. Dropping it stops it (`pg_ctl -m immediate`) and
/// removes its directory.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    os_user: Option<String>,
    dir: PathBuf,
    port: u16,
    proc: Option<Proc>,
    /// Whether the server was started with TLS (`ssl = on`), see [`Postgres::start_with_tls`].
    tls: bool,
}

impl Postgres {
    /// Creates a cluster with `initdb`, starts it on a free port and creates the
    /// database. As root, runs everything as [`POSTGRES_OS_USER`] (created if missing).
    pub fn start() -> io::Result<Postgres> {
        Postgres::launch(false)
    }

    /// Like [`start`](Self::start), with TLS on as well: a throwaway CA and a
    /// server certificate for `localhost` and `127.0.0.1` are made with the
    /// `openssl` command-line tool, the server runs with `ssl = on` and accepts
    /// both TLS and plain connections ([`url`](Self::url) is plain,
    /// [`tls_url`](Self::tls_url) verifies the certificate).
    pub fn start_with_tls() -> io::Result<Postgres> {
        Postgres::launch(true)
    }

    fn launch(tls: bool) -> io::Result<Postgres> {
        let bin = postgres_bin_dir().ok_or_else(|| missing("PostgreSQL (initdb)", "postgresql"))?;
        let os_user = if is_root() {
            ensure_os_user(POSTGRES_OS_USER)?;
            Some(POSTGRES_OS_USER.to_string())
        } else {
            None
        };
        let parent = match &os_user {
            Some(_) => {
                let dir = servers_dir();
                fs::create_dir_all(&dir)?;
                if others_can_enter(&dir) {
                    dir
                } else {
                    let tmp =
                        env::temp_dir().join(format!("flowstore-xtask-{}", std::process::id()));
                    fs::create_dir_all(&tmp)?;
                    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
                    tmp
                }
            }
            None => servers_dir(),
        };
        let dir = fresh_dir(&parent, "postgres")?;
        let mut pg = Postgres {
            bin,
            os_user,
            dir,
            port: 0,
            proc: None,
            tls,
        };
        if let Some(user) = &pg.os_user {
            let (uid, gid) = user_ids(user)?;
            std::os::unix::fs::chown(&pg.dir, Some(uid), Some(gid))
                .map_err(|e| context(e, format!("cannot chown {}", pg.dir.display())))?;
        }
        pg.initdb()?;
        if tls {
            pg.write_tls_files()?;
        }
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            pg.port = free_port()?;
            match pg.spawn() {
                Ok(()) => {
                    pg.create_database()?;
                    return Ok(pg);
                }
                Err(e) if fs::read_to_string(pg.log_path()).is_ok_and(|l| l.contains("in use")) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no port")))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's directory (`data/`, the log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> PathBuf {
        self.data()
    }

    /// The postmaster's pid, from `postmaster.pid` (while the server runs).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command running `program` from the PostgreSQL bin dir, as the OS user.
    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = match &self.os_user {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn initdb(&self) -> io::Result<()> {
        run(self.pg_command("initdb").arg("-D").arg(self.data()).args([
            "-U",
            POSTGRES_ROLE,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        let config = "\n# flowstore throwaway server\nlisten_addresses = '127.0.0.1'\n\
                      unix_socket_directories = ''\nmax_connections = 200\n";
        fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))?
            .write_all(config.as_bytes())
    }

    /// The CA certificate (PEM) that signed the server's certificate, when
    /// started with [`start_with_tls`](Self::start_with_tls).
    pub fn tls_ca_path(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("tls").join("ca.pem"))
    }

    /// Makes the throwaway CA (`<dir>/tls/ca.pem`; its key is deleted once
    /// used) and the server's `server.crt` / `server.key` in the data directory
    /// (owned by the OS user, the key mode 0600, as PostgreSQL demands).
    fn write_tls_files(&self) -> io::Result<()> {
        let openssl = which("openssl").ok_or_else(|| missing("openssl", "openssl"))?;
        let tls = self.dir.join("tls");
        fs::create_dir_all(&tls)?;
        fs::set_permissions(&tls, fs::Permissions::from_mode(0o755))?;
        let ca = tls.join("ca.pem");
        let ca_key = tls.join("ca.key");
        let csr = tls.join("server.csr");
        let ext = tls.join("server.ext");
        let serial = tls.join("ca.srl");
        let crt = self.data().join("server.crt");
        let key = self.data().join("server.key");
        let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        run(Command::new(&openssl)
            .args(["req", "-x509", "-nodes", "-days", "30"])
            .args(p256)
            .args(["-subj", "/CN=flowstore throwaway test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca))?;
        run(Command::new(&openssl)
            .args(["req", "-new", "-nodes"])
            .args(p256)
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr))?;
        fs::write(
            &ext,
            "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )?;
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "30"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAserial")
            .arg(&serial)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&crt))?;
        for used in [&ca_key, &csr, &ext, &serial] {
            fs::remove_file(used)?;
        }
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o644))?;
        fs::set_permissions(&crt, fs::Permissions::from_mode(0o644))?;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
        if let Some(user) = &self.os_user {
            let (uid, gid) = user_ids(user)?;
            for file in [&crt, &key] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid))
                    .map_err(|e| context(e, format!("cannot chown {}", file.display())))?;
            }
        }
        Ok(())
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = self.pg_command("postgres");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()]);
        if self.tls {
            let data = self.data();
            cmd.args(["-c", "ssl=on", "-c"])
                .arg(format!(
                    "ssl_cert_file={}",
                    data.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    data.join("server.key").display()
                ));
        }
        // SIGQUIT is PostgreSQL's immediate shutdown: it cleans up shared memory.
        self.proc = Some(Proc::spawn(cmd, &self.log_path(), "QUIT", &self.dir)?);
        let port = self.port.to_string();
        let isready = self.bin.join("pg_isready");
        let result = wait_until(&format!("postgres on port {port}"), START_TIMEOUT, || {
            if self.proc.as_mut().is_some_and(Proc::exited) {
                return Err(give_up("postgres exited"));
            }
            let status = Command::new(&isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    POSTGRES_ROLE,
                    "-d",
                    "postgres",
                ])
                .args(["-t", "2"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match status {
                Ok(status) => Ok(status.success()),
                // Cannot run pg_isready at all: waiting will not help.
                Err(e) => Err(give_up(format!("{}: {e}", isready.display()))),
            }
        });
        result.map_err(|e| {
            self.kill();
            io::Error::other(format!(
                "postgres did not start: {e}\n{}",
                log_tail(&self.log_path())
            ))
        })
    }

    fn create_database(&self) -> io::Result<()> {
        run(Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                POSTGRES_ROLE,
            ])
            .arg(POSTGRES_DATABASE))
        .map(drop)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://flowstore@127.0.0.1:PORT/flowstore_test`
    pub fn url(&self) -> String {
        format!(
            "postgres://{POSTGRES_ROLE}@127.0.0.1:{}/{POSTGRES_DATABASE}",
            self.port
        )
    }

    /// With TLS ([`start_with_tls`](Self::start_with_tls)):
    /// `postgres://flowstore@localhost:PORT/flowstore_test?sslmode=verify-full&sslrootcert=<ca.pem>`;
    /// `None` for a server started without TLS.
    pub fn tls_url(&self) -> Option<String> {
        let ca = self.tls_ca_path()?;
        let mut ca_param = String::new();
        for byte in ca.as_os_str().as_encoded_bytes() {
            if byte.is_ascii_alphanumeric() || b"/-._~".contains(byte) {
                ca_param.push(char::from(*byte));
            } else {
                let _ = write!(ca_param, "%{byte:02X}");
            }
        }
        Some(format!(
            "postgres://{POSTGRES_ROLE}@localhost:{}/{POSTGRES_DATABASE}\
             ?sslmode=verify-full&sslrootcert={ca_param}",
            self.port
        ))
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| !p.exited())
    }

    fn pg_ctl_stop(&mut self, mode: &str) -> io::Result<()> {
        let Some(mut proc) = self.proc.take() else {
            return Ok(());
        };
        let result = run(self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "-t", "30", "stop"]));
        // `runuser` (the group leader) exits once postgres has.
        if !proc.wait_exit(Duration::from_secs(30)) {
            proc.kill();
        }
        result.map(drop)
    }

    /// Stops the server with `pg_ctl stop -m immediate` (like a crash: no
    /// checkpoint, recovery on the next start). No-op when not running.
    pub fn stop_immediate(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("immediate")
    }

    /// Stops the server cleanly with `pg_ctl stop -m fast`. No-op when not running.
    pub fn stop(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// Kills every process of the server with SIGKILL (the postmaster and its
    /// children, which PostgreSQL makes leaders of their own process groups), like
    /// a machine crash would. No-op when not running.
    pub fn kill(&mut self) {
        let Some(mut proc) = self.proc.take() else {
            return;
        };
        // postmaster.pid: line 1 the postmaster's pid, line 7 "<shm key> <shm id>".
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).unwrap_or_default();
        let mut lines = pid_file.lines();
        let postmaster = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
        let shm_id = lines
            .nth(5)
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string);
        if let Some(postmaster) = postmaster {
            // The postmaster first, so that its parent (`runuser` or us) reaps it:
            // an orphaned zombie would still count as running for the next start.
            let mut pids = children_of(postmaster);
            pids.insert(0, postmaster);
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--"])
                .args(pids.iter().map(u32::to_string))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            proc.wait_exit(Duration::from_secs(10));
        }
        proc.kill();
        // The SysV segment a killed postmaster leaves behind (a restart would
        // remove it; a dropped server would leak it).
        if let Some(id) = shm_id.filter(|id| id.parse::<u64>().is_ok_and(|id| id > 0)) {
            let _ = Command::new("ipcrm")
                .args(["-m", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Starts the server again on the same port and data directory (after
    /// [`stop_immediate`](Self::stop_immediate), [`stop`](Self::stop) or
    /// [`kill`](Self::kill)) and waits until it accepts connections.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.proc.is_some() {
            return Ok(());
        }
        self.spawn()
    }

    /// [`stop_immediate`](Self::stop_immediate), then [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop_immediate()?;
        self.start_again()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        self.kill();
        remove_dir(&self.dir);
        if let Some(parent) = self.dir.parent()
            && parent
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("flowstore-xtask-"))
        {
            // Only removed once empty, i.e. by the last server using it.
            let _ = fs::remove_dir(parent);
        }
    }
}

/// The pids of the processes whose parent is `pid` (from Linux's `/proc`; none elsewhere).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether every directory from `/` down to `dir` can be entered by any user.
fn others_can_enter(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors().all(|d| {
        d.metadata()
            .is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}

fn user_ids(user: &str) -> io::Result<(u32, u32)> {
    let id = |flag: &str| -> io::Result<u32> {
        run(Command::new("id").args([flag, user]))?
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("bad output of `id {flag} {user}`")))
    };
    Ok((id("-u")?, id("-g")?))
}

/// Creates the system user `user` unless it exists.
fn ensure_os_user(user: &str) -> io::Result<()> {
    if user_ids(user).is_ok() {
        return Ok(());
    }
    let created = run(Command::new("useradd").args([
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        user,
    ]));
    // Another process may have created it at the same time.
    match (created, user_ids(user)) {
        (_, Ok(_)) => Ok(()),
        (Err(e), Err(_)) | (Ok(_), Err(e)) => Err(context(
            e,
            format!("PostgreSQL refuses to run as root and the user {user} could not be created"),
        )),
    }
}
