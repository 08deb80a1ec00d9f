//! A small Lambda Runtime API server for testing the real function binaries: it hands out the
//! queued events on `GET /2018-06-01/runtime/invocation/next` and collects what the function
//! posts back (responses, invocation errors, init errors). HTTP/1.1 with keep-alive, as the
//! runtime client speaks it; std only, one thread per connection.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the function posted back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Response { request_id: String, body: String },
    Error { request_id: String, body: String },
    InitError { body: String },
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, String)>,
    posted: Vec<Posted>,
}

/// The server; `address()` goes into `AWS_LAMBDA_RUNTIME_API`.
pub struct RuntimeApi {
    address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    pub fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(RuntimeApi { address, state })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queue an invocation.
    pub fn push_event(&self, request_id: &str, body: &str) {
        let (lock, cvar) = &*self.state;
        if let Ok(mut s) = lock.lock() {
            s.events.push_back((request_id.to_owned(), body.to_owned()));
        }
        cvar.notify_all();
    }

    /// Wait until `n` things were posted back (or the timeout passes); returns them.
    pub fn wait_posted(&self, n: usize, timeout: Duration) -> Vec<Posted> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let Ok(mut s) = lock.lock() else {
            return Vec::new();
        };
        while s.posted.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match cvar.wait_timeout(s, left) {
                Ok((guard, _)) => s = guard,
                Err(_) => return Vec::new(),
            }
        }
        s.posted.clone()
    }
}

fn serve(stream: TcpStream, state: &Arc<(Mutex<State>, Condvar)>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let (lock, cvar) = &**state;
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            // Block until an event is queued: the function long-polls here between invocations.
            let Ok(mut s) = lock.lock() else { return };
            let (id, event) = loop {
                if let Some(e) = s.events.pop_front() {
                    break e;
                }
                s = match cvar.wait(s) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 300_000)
                .unwrap_or_default();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let posted = if path.ends_with("/runtime/init/error") {
                Some(Posted::InitError { body })
            } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                match kind {
                    "response" => Some(Posted::Response {
                        request_id: id.to_owned(),
                        body,
                    }),
                    "error" => Some(Posted::Error {
                        request_id: id.to_owned(),
                        body,
                    }),
                    _ => None,
                }
            } else {
                None
            };
            let status = if posted.is_some() {
                "202 Accepted"
            } else {
                "404 Not Found"
            };
            if let (Some(p), Ok(mut s)) = (posted, lock.lock()) {
                s.posted.push(p);
                cvar.notify_all();
            }
            format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{{\"status\":\"OK\"}}")
        };
        if writer.write_all(reply.as_bytes()).is_err() || writer.flush().is_err() {
            return;
        }
    }
}

/// A function binary running against a [`RuntimeApi`]; killed when dropped.
pub struct FunctionProcess(std::process::Child);

impl FunctionProcess {
    /// Wait for the process to exit (killing it after `timeout`); returns (success, stderr).
    pub fn wait_exit(&mut self, timeout: Duration) -> (bool, String) {
        let child = &mut self.0;
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() <= deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = child.kill();
                    break child.wait().ok();
                }
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.is_some_and(|s| s.success()), stderr)
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RuntimeApi {
    /// Start `binary` (a `CARGO_BIN_EXE_…` path) as Lambda would: an empty environment but
    /// `PATH`, the Runtime API address, the function's name, JSON logs, the test region and
    /// credentials, then `env` (the function's own configuration, `AWS_ENDPOINT_URL` for moto).
    pub fn start_function(
        &self,
        binary: &str,
        name: &str,
        env: &[(&str, &str)],
    ) -> std::io::Result<FunctionProcess> {
        let mut command = std::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().map(FunctionProcess)
    }
}
