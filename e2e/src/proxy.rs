//! A TCP proxy on a fixed loopback port that can pass traffic, be cut (port closed, every
//! connection reset: a network partition) or stall (connections accepted, nothing forwarded —
//! a peer that hangs mid-request), and pass again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Stall,
}

#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            mode: watch::channel(Mode::Pass).0,
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        let mode = self.mode.subscribe();
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task (on `cut`): every connection is aborted.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut mode = mode.clone();
                connections.spawn(async move {
                    if *mode.borrow_and_update() == Mode::Stall {
                        // Hold the connection without a byte forwarded until the mode changes;
                        // then drop it (the client sees a reset and retries).
                        let _ = mode.changed().await;
                        return;
                    }
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// Closes the port and resets every open connection.
    pub async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// New connections are accepted and held; nothing is forwarded.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Traffic passes again (listening again on the same port after `cut`; held connections
    /// are dropped).
    pub async fn pass(&mut self) {
        self.mode.send_replace(Mode::Pass);
        if self.task.is_none() {
            let listener = loop {
                match TcpListener::bind(self.addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            };
            self.serve(listener);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
