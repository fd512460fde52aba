//! The commands that keep watching: `events tail` follows the log with
//! `after=<the last ID seen>`, which shows each event exactly once;
//! `replay status --wait` follows a job until it ends, as a progress bar on
//! a terminal and as plain lines when piped.

use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::admin::EVENT_COLUMNS;
use super::client::{AdminClient, Call, CliError};
use super::output::{cell, emit, Output};
use crate::clock::now_ms;

/// How long to wait before asking again when there was nothing new.
const POLL: Duration = Duration::from_millis(500);

/// The most events one request asks for.
const TAIL_PAGE: u32 = 1000;

/// Prints events published from now on as they come, until interrupted:
/// one table line each, or one JSON object per line with `--json`.
pub async fn tail(client: &AdminClient, types: &[String], json: bool) -> Result<(), CliError> {
    // To the millisecond: an event published in the same second just
    // before the tail started is not new.
    let start =
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now_ms())).to_string();
    eprintln!("following events from {start} (Ctrl-C to stop)");
    let mut last: Option<String> = None;
    loop {
        // Until the first event is seen there is no ID to go on from, so
        // the first requests ask by time.
        let mut call = match &last {
            Some(id) => Call::get("/events").query("after", Some(id)),
            None => Call::get("/events").query("from", Some(&start)),
        }
        .query("limit", Some(TAIL_PAGE));
        call.query.extend(types.iter().map(|t| ("type", t.clone())));
        let page = client.send(call).await?;
        let events = page["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for event in events {
            let line = if json {
                event.to_string()
            } else {
                let fields: Vec<String> = EVENT_COLUMNS
                    .iter()
                    .map(|(_, field)| cell(&event[*field]))
                    .chain([event["data"].to_string()])
                    .collect();
                fields.join("  ")
            };
            if !emit(&line) {
                return Ok(());
            }
        }
        if let Some(id) = events.last().and_then(|e| e["id"].as_str()) {
            last = Some(id.to_string());
        }
        if page["next_cursor"].is_null() {
            actix_web::rt::time::sleep(POLL).await;
        }
    }
}

/// Follows a replay job until it is no longer running; its last state.
pub async fn replay(client: &AdminClient, id: &str, json: bool) -> Result<Output, CliError> {
    let bar = (std::io::stderr().is_terminal() && !json).then(|| {
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {wide_bar} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last_line = String::new();
    let job = loop {
        let job = client.send(Call::get(format!("/replay/{id}"))).await?;
        let progress = job["progress"].as_f64().unwrap_or(0.0);
        let counts = format!(
            "events_matched={} deliveries_scheduled={} skipped={}",
            job["events_matched"], job["deliveries_scheduled"], job["skipped"],
        );
        let line = format!("{} {:.0}% {counts}", cell(&job["status"]), progress * 100.0);
        match &bar {
            Some(bar) => {
                bar.set_position((progress * 1000.0) as u64);
                bar.set_message(format!("{} {counts}", cell(&job["status"])));
            }
            // Piped: a line whenever something changed, nothing otherwise.
            None if line != last_line && !json => {
                emit(&line);
            }
            None => {}
        }
        last_line = line;
        if job["status"] != "running" {
            break job;
        }
        actix_web::rt::time::sleep(POLL).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if job["status"] == "failed" {
        let reason = job["error"].as_str().unwrap_or("no reason given");
        return Err(CliError::Failed(format!("replay {id} failed: {reason}")));
    }
    Ok(Output::Record(job))
}
