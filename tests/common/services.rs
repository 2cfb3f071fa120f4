//! Real external services for tests: a Kafka-protocol broker (tansu, sqlite storage) and
//! redis-server, each started on a free loopback port with its data in a temp dir, and
//! stopped (by pid) when dropped. `scripts/test.sh` installs both; a test never assumes
//! one is already running.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn need(bin: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    });
    found
        .unwrap_or_else(|| panic!("{bin} is not installed: run scripts/test.sh, which installs it"))
}

/// A redis-server of this test's own.
pub struct Redis {
    child: Child,
    pub url: String,
}

impl Redis {
    pub fn start(dir: &Path) -> Redis {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new(need("redis-server"))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let addr = format!("127.0.0.1:{port}");
        assert!(
            eventually(Duration::from_secs(10), || TcpStream::connect(&addr)
                .is_ok()),
            "redis-server never listened"
        );
        Redis {
            child,
            url: format!("redis://{addr}/"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu broker of this test's own (sqlite storage: its memory engine loses offsets).
pub struct Broker {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    pub brokers: String,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        let mut b = Broker {
            child: None,
            dir: dir.to_path_buf(),
            port: free_port(),
            brokers: String::new(),
        };
        b.brokers = format!("127.0.0.1:{}", b.port);
        b.restart();
        b
    }

    /// Start (again) on the same port and data: what a broker restart looks like.
    pub fn restart(&mut self) {
        self.stop();
        std::fs::create_dir_all(&self.dir).unwrap();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(need("tansu"))
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let list = || {
            Command::new(need("tansu"))
                .args(["topic", "list", "--broker", &url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(
            eventually(Duration::from_secs(30), list),
            "tansu never answered on {url}"
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
