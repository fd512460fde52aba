//! Baselines without hookd: an actix-web server that parses a publish body
//! and answers 202 without storing anything (`ingest`), and plain awc posts
//! of a delivery's bytes to the receiver (`deliver`, `drain`).

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::bodies::{delivery_body, delivery_headers};
use crate::figures::err;
use crate::load::load_with;
use crate::receiver::Receiver;
use crate::{BenchResult, CLIENTS};

/// A server in the bench process, stopped when dropped.
pub struct Server {
    pub url: String,
    handle: ServerHandle,
}

impl Server {
    /// Runs `server` (already listening on `listener`) on the bench's runtime.
    pub fn spawn(listener: &TcpListener, server: actix_web::dev::Server) -> BenchResult<Server> {
        let addr = listener.local_addr().map_err(err)?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Server {
            url: format!("http://{addr}"),
            handle,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
    }
}

/// Parses a publish body and answers 202 with an answer shaped like hookd's.
pub fn start() -> BenchResult<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(err)?;
    let server = HttpServer::new(move || {
        App::new().route(
            "/api/v1/events",
            web::post().to(|body: web::Json<Value>| async move {
                let kind = body["type"].clone();
                HttpResponse::Accepted()
                    .json(json!({"id": "evt_baseline", "type": kind, "deliveries": 1}))
            }),
        )
    })
    .workers(2)
    .disable_signals()
    .listen(listener.try_clone().map_err(err)?)
    .map_err(err)?
    .run();
    Server::spawn(&listener, server)
}

/// Posts per second of plain awc sending `total` deliveries' bodies and
/// headers (the same bytes on the wire as hookd's) to the receiver, with
/// `CLIENTS` in flight, after a short warm-up.
pub async fn plain_posts(receiver: &Receiver, total: usize, what: &str) -> BenchResult<f64> {
    let body = delivery_body();
    let headers = delivery_headers();
    receiver.reset();
    let url = receiver.url("/hook");
    load_with(&url, &headers, &body, 500, CLIENTS)
        .await
        .check(&format!("{what} warm-up"))?;
    let posts = load_with(&url, &headers, &body, total, CLIENTS).await;
    posts.check(what)?;
    Ok(posts.rate())
}
