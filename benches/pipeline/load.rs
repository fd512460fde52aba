//! The load generator: closed-loop publishers on their own threads, each
//! thread with its own actix runtime and awc client because `awc::Client`
//! is `!Send`. With several target URLs (one per node of a cluster), client
//! `i` posts to URL `i % N`, so the load spreads evenly over the nodes.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use serde_json::{json, Value};

use crate::daemon::ADMIN_TOKEN;
use crate::figures::{ms, pick, round};
use crate::BenchResult;

/// Load-generator threads.
const LOAD_THREADS: usize = 2;

pub struct LoadReport {
    pub elapsed: Duration,
    latencies: Vec<Duration>,
    wrong: Vec<String>,
}

impl LoadReport {
    /// Answered requests per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        pick(&self.latencies, p)
    }

    /// The printed figures of a baseline run whose requests carry
    /// `per_request` events: `events_per_s` and the `<latency>_p50_ms` and
    /// `<latency>_p99_ms` of its requests.
    pub fn summary(&self, per_request: usize, latency: &str) -> Value {
        let mut out = serde_json::Map::new();
        out.insert(
            "events_per_s".into(),
            json!(round(self.rate() * per_request as f64)),
        );
        for (name, p) in [("p50", 0.50), ("p99", 0.99)] {
            out.insert(
                format!("{latency}_{name}_ms"),
                json!(ms(self.percentile(p))),
            );
        }
        Value::Object(out)
    }

    pub fn check(&self, what: &str) -> BenchResult<()> {
        match self.wrong.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{what}: {} failed, first: {first}",
                self.wrong.len()
            )),
        }
    }
}

/// A closed-loop warm-up of `warm` requests, then the measured run of
/// `total`, both with the admin token; fails if any request did.
pub async fn measured(
    url: &str,
    body: &[u8],
    runs: (usize, usize),
    concurrency: usize,
    what: &str,
) -> BenchResult<LoadReport> {
    measured_on(&[url.to_string()], body, runs, concurrency, what).await
}

/// As [`measured`], client `i` posting to `urls[i % urls.len()]`.
pub async fn measured_on(
    urls: &[String],
    body: &[u8],
    (warm, total): (usize, usize),
    concurrency: usize,
    what: &str,
) -> BenchResult<LoadReport> {
    load_on(urls, Some(ADMIN_TOKEN), body, warm, concurrency)
        .await
        .check(&format!("{what} warm-up"))?;
    let run = load_on(urls, Some(ADMIN_TOKEN), body, total, concurrency).await;
    run.check(what)?;
    Ok(run)
}

/// A closed loop: `concurrency` clients each post, wait for the answer, and
/// post again, until `total` requests are answered.
pub async fn load(
    url: &str,
    token: Option<&str>,
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    load_on(&[url.to_string()], token, body, total, concurrency).await
}

/// As [`load`], client `i` posting to `urls[i % urls.len()]`.
pub async fn load_on(
    urls: &[String],
    token: Option<&str>,
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(token) = token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    load_with_on(urls, &headers, body, total, concurrency).await
}

pub async fn load_with(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    load_with_on(&[url.to_string()], headers, body, total, concurrency).await
}

async fn load_with_on(
    urls: &[String],
    headers: &[(String, String)],
    body: &[u8],
    total: usize,
    concurrency: usize,
) -> LoadReport {
    if urls.is_empty() {
        return LoadReport {
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            wrong: vec!["no target URL".into()],
        };
    }
    let urls = urls.to_vec();
    let headers = headers.to_vec();
    let body = web::Bytes::copy_from_slice(body);
    actix_web::rt::task::spawn_blocking(move || {
        closed_loop(urls, headers, body, total, concurrency)
    })
    .await
    .unwrap_or_else(|e| LoadReport {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        wrong: vec![format!("load generator panicked: {e}")],
    })
}

fn closed_loop(
    urls: Vec<String>,
    headers: Vec<(String, String)>,
    body: web::Bytes,
    total: usize,
    concurrency: usize,
) -> LoadReport {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(600);
    let started = Instant::now();
    let per_thread =
        |t: usize| concurrency / LOAD_THREADS + usize::from(t < concurrency % LOAD_THREADS);
    let threads: Vec<_> = (0..LOAD_THREADS)
        .map(|t| {
            // The index of this thread's first client among all of them.
            let first: usize = (0..t).map(per_thread).sum();
            let per_thread = per_thread(t);
            let (urls, headers, body, next) =
                (urls.clone(), headers.clone(), body.clone(), next.clone());
            std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let client = Rc::new(client(per_thread.max(1)));
                    let tasks = (0..per_thread).map(|k| {
                        let (client, url, headers, body, next) = (
                            client.clone(),
                            urls[(first + k) % urls.len()].clone(),
                            headers.clone(),
                            body.clone(),
                            next.clone(),
                        );
                        actix_web::rt::spawn(async move {
                            let mut latencies = Vec::new();
                            let mut wrong = Vec::new();
                            while next.fetch_add(1, Ordering::Relaxed) < total
                                && Instant::now() < deadline
                            {
                                let sent = Instant::now();
                                match post(&client, &url, None, &headers, body.clone()).await {
                                    Ok(status) if (200..300).contains(&status) => {
                                        latencies.push(sent.elapsed())
                                    }
                                    Ok(status) => wrong.push(format!("status {status}")),
                                    Err(e) => wrong.push(e),
                                }
                            }
                            (latencies, wrong)
                        })
                    });
                    let mut all = (Vec::new(), Vec::new());
                    for result in futures_util::future::join_all(tasks).await {
                        let (latencies, wrong) = result.unwrap_or_default();
                        all.0.extend(latencies);
                        all.1.extend(wrong);
                    }
                    all
                })
            })
        })
        .collect();
    let mut report = LoadReport {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        wrong: Vec::new(),
    };
    for thread in threads {
        let (latencies, wrong) = thread.join().unwrap_or_default();
        report.latencies.extend(latencies);
        report.wrong.extend(wrong);
    }
    report.elapsed = started.elapsed();
    report.latencies.sort();
    report
}

pub fn client(connections: usize) -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .connector(awc::Connector::new().limit(connections))
        .finish()
}

pub async fn post(
    client: &awc::Client,
    url: &str,
    token: Option<&str>,
    headers: &[(String, String)],
    body: impl Into<web::Bytes>,
) -> Result<u16, String> {
    let mut request = client.post(url);
    if headers.is_empty() {
        request = request.insert_header(("Content-Type", "application/json"));
    }
    for (name, value) in headers {
        request = request.insert_header((name.as_str(), value.as_str()));
    }
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request
        .send_body(body.into())
        .await
        .map_err(|e| e.to_string())?;
    // Reading the body to the end returns the connection to the pool.
    response
        .body()
        .limit(1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}
