//! The receiver every delivery goes to: answers 200 at once and only counts
//! (a million deliveries must not be kept in memory), recording arrival times
//! by sequence number while `latency` asks for them, and the distinct event
//! IDs while a scenario with several nodes asks for them (a node may deliver
//! an event another node already did, and those must not count twice).

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;

use crate::figures::epoch;
use crate::BenchResult;

#[derive(Clone)]
pub struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    count: AtomicUsize,
    track: AtomicBool,
    first: Mutex<Option<Duration>>,
    /// (sequence number from the event data, arrival since the bench epoch).
    arrivals: Mutex<Vec<(usize, Duration)>>,
    track_ids: AtomicBool,
    ids: Mutex<HashSet<String>>,
}

/// The one field of a delivery's body the receiver reads.
#[derive(serde::Deserialize)]
struct EventId<'a> {
    #[serde(borrow)]
    id: &'a str,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(ReceiverState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .default_service(web::to(receive))
        })
        .workers(2)
        .backlog(4096)
        .max_connection_rate(4096)
        .disable_signals()
        .listen(listener)
        .expect("receiver listen")
        .run();
        actix_web::rt::spawn(server);
        Receiver {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn reset(&self) {
        self.state.count.store(0, Ordering::SeqCst);
        *self.state.first.lock().unwrap() = None;
        self.state.arrivals.lock().unwrap().clear();
        self.state.ids.lock().unwrap().clear();
    }

    /// Requests received, duplicates included.
    pub fn count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Counts deliveries by distinct event ID from now on (until turned off).
    pub fn track_ids(&self, on: bool) {
        self.state.track_ids.store(on, Ordering::SeqCst);
    }

    /// Distinct event IDs received while tracking them.
    pub fn distinct(&self) -> usize {
        self.state.ids.lock().unwrap().len()
    }

    /// What `wait_for` counts: distinct events while tracking IDs, else
    /// requests.
    fn delivered(&self) -> usize {
        if self.state.track_ids.load(Ordering::SeqCst) {
            self.distinct()
        } else {
            self.count()
        }
    }

    pub fn track_sequence(&self, on: bool) {
        self.state.track.store(on, Ordering::SeqCst);
    }

    pub fn arrivals(&self) -> Vec<(usize, Duration)> {
        self.state.arrivals.lock().unwrap().clone()
    }

    pub fn first_arrival(&self) -> Option<Duration> {
        *self.state.first.lock().unwrap()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration, what: &str) -> BenchResult<()> {
        let deadline = Instant::now() + timeout;
        while self.delivered() < n {
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: {} of {n} after {timeout:?}",
                    self.delivered()
                ));
            }
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

async fn receive(state: web::Data<ReceiverState>, body: web::Bytes) -> HttpResponse {
    let at = epoch().elapsed();
    if state.track.load(Ordering::Relaxed) {
        let seq = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["data"]["seq"].as_u64());
        if let Some(seq) = seq {
            state.arrivals.lock().unwrap().push((seq as usize, at));
        }
    }
    if state.track_ids.load(Ordering::Relaxed) {
        if let Ok(event) = serde_json::from_slice::<EventId>(&body) {
            state.ids.lock().unwrap().insert(event.id.to_string());
        }
    }
    if state.count.fetch_add(1, Ordering::SeqCst) == 0 {
        state.first.lock().unwrap().get_or_insert(at);
    }
    HttpResponse::Ok().finish()
}
