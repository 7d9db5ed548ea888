//! moto's server mode: a real local SQS and SNS (from the Python tools' environment, see
//! `trailproof_testkit::prereq::moto_server`) for the queue and alert tests.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// moto's server on 127.0.0.1, on a port of its choosing, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Moto {
    /// Starts the server; panics, naming what is missing, when moto is not installed.
    pub fn start() -> Moto {
        let server = trailproof_testkit::prereq::moto_server();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", server.display()));
        // Port 0: the server binds a free port and names it in its banner, so no port is
        // guessed and none can be taken by another process in between.
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait().expect("moto_server's status");
                panic!("moto_server ended ({status}) before it listened");
            };
            if let Some(at) = line.find("Running on http://") {
                let url: String = line[at + "Running on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
                    .collect();
                break url;
            }
        };
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Moto { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
