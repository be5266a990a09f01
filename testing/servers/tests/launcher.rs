//! Tests of the throwaway-server launcher (`flowstore_test_servers`).
//!
//! These start real servers: they need `redis-server` and PostgreSQL's binaries,
//! so they are ignored by a plain `cargo test` and run by `cargo xtask ci`
//! (`--include-ignored`), which installs the binaries when missing.

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use flowstore_test_servers::{
    POSTGRES_OS_USER, Postgres, RedisCluster, RedisOptions, RedisSentinel, RedisServer, Reply,
    SENTINEL_SERVICE, info_field, postgres_bin_dir, redis_command, wait_until,
};

fn answers(port: u16) -> bool {
    redis_command(port, &["PING"]).is_ok()
}

fn role(server: &RedisServer) -> String {
    let info = server.cmd(&["INFO", "replication"]).unwrap().text();
    info_field(&info, "role").unwrap_or_default()
}

#[test]
#[ignore = "starts redis-server"]
fn redis_server_kill_and_restart() {
    let mut redis = RedisServer::start(RedisOptions::new()).unwrap();
    let (port, dir) = (redis.port(), redis.dir().to_path_buf());
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(
        redis.cmd(&["SET", "k", "v"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        redis.cmd(&["GET", "k"]).unwrap(),
        Reply::Bulk(Some(b"v".to_vec()))
    );
    let save = redis.cmd(&["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(
        save,
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"save".to_vec())),
            Reply::Bulk(Some(Vec::new()))
        ]))
    );
    assert!(
        redis.cmd(&["NO-SUCH-COMMAND"]).is_err(),
        "error replies are errors"
    );

    redis.kill();
    assert!(!redis.is_running());
    assert!(!answers(port));
    redis.restart().unwrap();
    assert!(redis.is_running());
    assert_eq!(redis.port(), port);
    assert_eq!(
        redis.cmd(&["GET", "k"]).unwrap(),
        Reply::Bulk(None),
        "nothing persisted"
    );

    drop(redis);
    assert!(!answers(port));
    assert!(!dir.exists());
}

#[test]
#[ignore = "starts redis-server"]
fn redis_options_reach_the_server() {
    let primary = RedisServer::start(RedisOptions::new()).unwrap();
    let replica = RedisServer::start(
        RedisOptions::new()
            .replica_of(primary.port())
            .arg("--maxmemory-policy")
            .arg("allkeys-lru"),
    )
    .unwrap();
    let policy = replica.cmd(&["CONFIG", "GET", "maxmemory-policy"]).unwrap();
    let Reply::Array(Some(pair)) = policy else {
        panic!("{policy:?}")
    };
    assert_eq!(pair[1].text(), "allkeys-lru");
    assert_eq!(role(&replica), "slave");
}

#[test]
#[ignore = "starts redis-server"]
fn redis_cluster_forms_and_fails_over() {
    let mut cluster = RedisCluster::start().unwrap();
    let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    assert_eq!(ports.len(), 4);
    assert_eq!(
        cluster.url(),
        format!(
            "redis-cluster://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
            ports[0], ports[1], ports[2]
        )
    );
    for node in cluster.nodes() {
        let info = node.cmd(&["CLUSTER", "INFO"]).unwrap().text();
        assert_eq!(info_field(&info, "cluster_state").as_deref(), Some("ok"));
        assert_eq!(
            info_field(&info, "cluster_known_nodes").as_deref(),
            Some("4")
        );
        assert_eq!(info_field(&info, "cluster_size").as_deref(), Some("3"));
    }
    assert_eq!(role(cluster.node(RedisCluster::REPLICA)), "slave");

    // Kill the replicated primary: the replica takes over its slots.
    cluster.node_mut(RedisCluster::REPLICATED_PRIMARY).kill();
    let replica = cluster.node(RedisCluster::REPLICA);
    wait_until("the replica's promotion", Duration::from_secs(30), || {
        Ok(role(replica) == "master")
    })
    .unwrap();
    cluster.wait_ok(Duration::from_secs(30)).unwrap();
    // The old primary comes back as a replica of the new one.
    cluster
        .node_mut(RedisCluster::REPLICATED_PRIMARY)
        .restart()
        .unwrap();
    let old = cluster.node(RedisCluster::REPLICATED_PRIMARY);
    wait_until(
        "the old primary to rejoin as a replica",
        Duration::from_secs(30),
        || Ok(role(old) == "slave"),
    )
    .unwrap();

    drop(cluster);
    assert!(ports.iter().all(|p| !answers(*p)));
}

#[test]
#[ignore = "starts redis-server"]
fn redis_sentinel_knows_the_primary_and_fails_over() {
    let mut setup = RedisSentinel::start().unwrap();
    let primary_port = setup.primary().port();
    let replica_port = setup.replica().port();
    let sentinel_port = setup.sentinel().port();
    assert_eq!(
        setup.url(),
        format!("redis-sentinel://127.0.0.1:{sentinel_port}/flowstore")
    );
    let master = |s: &mut RedisSentinel| -> io::Result<Vec<String>> {
        let reply = s
            .sentinel()
            .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE])?;
        Ok(match reply {
            Reply::Array(Some(a)) => a.iter().map(Reply::text).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
    };
    assert_eq!(
        master(&mut setup).unwrap(),
        ["127.0.0.1".to_string(), primary_port.to_string()]
    );
    assert_eq!(role(setup.replica()), "slave");

    setup.primary().kill();
    wait_until("the sentinel's failover", Duration::from_secs(60), || {
        Ok(master(&mut setup)? == ["127.0.0.1".to_string(), replica_port.to_string()])
    })
    .unwrap();
    assert_eq!(role(setup.replica()), "master");

    drop(setup);
    assert!(
        [primary_port, replica_port, sentinel_port]
            .iter()
            .all(|p| !answers(*p))
    );
}

fn psql(pg: &Postgres, sql: &str) -> io::Result<String> {
    psql_at(&pg.url(), sql)
}

fn psql_at(url: &str, sql: &str) -> io::Result<String> {
    let out = Command::new(postgres_bin_dir().unwrap().join("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// The pids whose parent is `pid` (Linux `/proc`).
fn children_of(pid: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: u32 = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether a process is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat[stat.rfind(')').unwrap() + 1..]
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
#[ignore = "starts PostgreSQL"]
fn postgres_with_tls_serves_verified_tls_and_plain() {
    use std::os::unix::fs::PermissionsExt;

    let plain = Postgres::start().unwrap();
    assert_eq!(plain.tls_url(), None);
    assert_eq!(plain.tls_ca_path(), None);
    drop(plain);

    let mut pg = Postgres::start_with_tls().unwrap();
    let ca = pg.tls_ca_path().unwrap();
    let tls_url = pg.tls_url().unwrap();
    assert_eq!(
        tls_url,
        format!(
            "postgres://flowstore@localhost:{}/flowstore_test?sslmode=verify-full&sslrootcert={}",
            pg.port(),
            ca.display()
        )
    );
    assert!(ca.is_file());
    let key = fs::metadata(pg.data_dir().join("server.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        key.uid(),
        fs::metadata(pg.data_dir()).unwrap().uid(),
        "the key belongs to the server's user"
    );
    let ssl = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";
    // libpq (psql) verifies the chain and the host name with verify-full.
    assert_eq!(psql_at(&tls_url, ssl).unwrap(), "t");
    // Plain connections are still accepted (libpq's default `prefer` would try TLS).
    let plain_url = format!("{}?sslmode=disable", pg.url());
    assert_eq!(psql_at(&plain_url, ssl).unwrap(), "f");
    // TLS survives a restart (the settings are passed on every start).
    pg.restart().unwrap();
    assert_eq!(psql_at(&tls_url, ssl).unwrap(), "t");
}

#[test]
#[ignore = "starts PostgreSQL"]
fn postgres_survives_immediate_stop_and_kill() {
    let mut pg = Postgres::start().unwrap();
    let (port, dir) = (pg.port(), pg.dir().to_path_buf());
    assert_eq!(
        pg.url(),
        format!("postgres://flowstore@127.0.0.1:{port}/flowstore_test")
    );
    assert_eq!(
        psql(&pg, "select current_user || ' ' || current_database()").unwrap(),
        "flowstore flowstore_test"
    );
    psql(&pg, "create table t (x int); insert into t values (1)").unwrap();
    if fs::metadata("/proc/self").unwrap().uid() == 0 {
        let id = Command::new("id")
            .args(["-u", POSTGRES_OS_USER])
            .output()
            .unwrap();
        let uid: u32 = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        assert_eq!(
            fs::metadata(pg.data_dir()).unwrap().uid(),
            uid,
            "runs as {POSTGRES_OS_USER}"
        );
    }

    pg.restart().unwrap();
    assert_eq!(pg.port(), port);
    psql(&pg, "insert into t values (2)").unwrap();

    let postmaster = pg.postmaster_pid().unwrap();
    let children = children_of(postmaster);
    assert!(!children.is_empty(), "the postmaster has children");
    pg.kill();
    assert!(!pg.is_running());
    assert!(psql(&pg, "select 1").is_err());
    wait_until(
        "every server process to die",
        Duration::from_secs(10),
        || Ok(children.iter().chain([&postmaster]).all(|pid| gone(*pid))),
    )
    .unwrap();
    pg.start_again().unwrap();
    assert_eq!(
        psql(&pg, "select string_agg(x::text, ',' order by x) from t").unwrap(),
        "1,2"
    );

    pg.stop().unwrap();
    assert!(psql(&pg, "select 1").is_err());
    pg.start_again().unwrap();
    drop(pg);
    assert!(!dir.exists());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// Not a test on its own: the child process of `guardian_stops_servers_of_a_killed_process`.
#[test]
#[ignore = "helper of guardian_stops_servers_of_a_killed_process"]
fn guardian_helper() {
    if env::var_os("FLOWSTORE_GUARDIAN_HELPER").is_none() {
        return;
    }
    let redis = RedisServer::start(RedisOptions::new()).unwrap();
    println!("PORT={} DIR={}", redis.port(), redis.dir().display());
    io::stdout().flush().unwrap();
    thread::sleep(Duration::from_secs(120));
}

#[test]
#[ignore = "starts redis-server"]
fn guardian_stops_servers_of_a_killed_process() {
    let mut child = Command::new(env::current_exe().unwrap())
        .args([
            "--exact",
            "guardian_helper",
            "--include-ignored",
            "--nocapture",
        ])
        .env("FLOWSTORE_GUARDIAN_HELPER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("PORT=")))
        .unwrap();
    let (port, dir) = line
        .strip_prefix("PORT=")
        .unwrap()
        .split_once(" DIR=")
        .unwrap();
    let (port, dir): (u16, PathBuf) = (port.parse().unwrap(), dir.into());
    assert!(answers(port));
    assert!(dir.exists());

    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    wait_until(
        "the guardian to stop the server",
        Duration::from_secs(10),
        || Ok(!answers(port) && !Path::new(&dir).exists()),
    )
    .unwrap();
}
