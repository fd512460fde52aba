//! Each admin command as the API call it makes and what it prints. Exit 0
//! on success, 1 when the API refuses or cannot be reached (its message on
//! stderr), 2 on a usage error.

use std::path::Path;
use std::process::ExitCode;

use awc::http::Method;
use serde_json::{json, Map, Value};

use super::args::{
    DeliveriesCommand, EndpointsCommand, EventsCommand, Page, PartnersCommand, ReplayCommand,
};
use super::client::{AdminClient, Call, CliError, Target};
use super::output::Output;
use super::{watch, AdminCommand, AdminOptions};

const ENDPOINT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("URL", "url"),
    ("EVENTS", "events"),
    ("ACTIVE", "active"),
    ("DISABLED", "disabled_reason"),
    ("FORMAT", "payload_format"),
    ("PARTNER", "partner_id"),
];
pub const EVENT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("TYPE", "type"),
    ("CREATED", "created_at"),
    ("SOURCE", "source"),
];
const DELIVERY_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("EVENT", "event_id"),
    ("TYPE", "event_type"),
    ("ENDPOINT", "endpoint_id"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attempts"),
    ("UPDATED", "updated_at"),
    ("NEXT ATTEMPT", "next_attempt_at"),
];
const PARTNER_COLUMNS: &[(&str, &str)] = &[
    ("ID", "partner_id"),
    ("NAME", "partner_name"),
    ("STATUS", "status"),
    ("URL", "webhook_url"),
    ("EVENTS", "events_subscribed"),
    ("ENDPOINT", "endpoint_id"),
];

/// Runs one admin command against the daemon; the process's exit code.
pub fn run(config: &Path, options: &AdminOptions, command: AdminCommand) -> ExitCode {
    let result = Target::resolve(config, options).and_then(|target| {
        let client = AdminClient::new(target);
        actix_web::rt::System::new().block_on(execute(&client, command, options.json))
    });
    match result {
        Ok(output) => {
            output.print(options.json);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("hookd: {error}");
            error.exit_code()
        }
    }
}

async fn execute(
    client: &AdminClient,
    command: AdminCommand,
    json: bool,
) -> Result<Output, CliError> {
    match command {
        AdminCommand::Endpoints(command) => endpoints(client, command).await,
        AdminCommand::Events(command) => events(client, command, json).await,
        AdminCommand::Deliveries(command) => deliveries(client, command).await,
        AdminCommand::Replay(command) => replay(client, command, json).await,
        AdminCommand::Partners(command) => partners(client, command).await,
    }
}

fn paged<'a>(call: Call<'a>, page: &Page) -> Call<'a> {
    call.query("limit", page.limit)
        .query("cursor", page.cursor.as_ref())
}

async fn endpoints(client: &AdminClient, command: EndpointsCommand) -> Result<Output, CliError> {
    let path = |id: &str| format!("/webhooks/{id}");
    let patch = |id: &str, body: Value| Call::new(Method::PATCH, path(id)).body(body);
    let output = match command {
        EndpointsCommand::List { page } => Output::List(
            client.send(paged(Call::get("/webhooks"), &page)).await?,
            ENDPOINT_COLUMNS,
        ),
        EndpointsCommand::Show { id } => Output::Record(client.send(Call::get(path(&id))).await?),
        EndpointsCommand::Create {
            url,
            events,
            description,
        } => {
            let body = given_fields([
                ("url", Some(Value::from(url))),
                ("events", Some(Value::from(events))),
                ("description", description.map(Value::from)),
            ]);
            Output::Record(
                client
                    .send(Call::new(Method::POST, "/webhooks").body(body))
                    .await?,
            )
        }
        EndpointsCommand::Update {
            id,
            url,
            events,
            description,
        } => {
            let body = given_fields([
                ("url", url.map(Value::from)),
                ("events", events.map(Value::from)),
                ("description", description.map(Value::from)),
            ]);
            Output::Record(client.send(patch(&id, body)).await?)
        }
        EndpointsCommand::Delete { id } => {
            let answer = client.send(Call::new(Method::DELETE, path(&id))).await?;
            Output::Message(answer, format!("deleted {id}"))
        }
        EndpointsCommand::Enable { id } => {
            Output::Record(client.send(patch(&id, json!({"active": true}))).await?)
        }
        EndpointsCommand::Disable { id } => {
            Output::Record(client.send(patch(&id, json!({"active": false}))).await?)
        }
        EndpointsCommand::Test { id, event } => {
            let event = match event {
                Some(event) => event,
                None => first_exact_type(&client.send(Call::get(path(&id))).await?)?,
            };
            let call = Call::new(Method::POST, format!("/webhooks/{id}/test"))
                .body(json!({"event": event}));
            let answer = client.send(call).await?;
            let message = format!(
                "sent a test {event} event ({}) as delivery {}",
                answer["event_id"].as_str().unwrap_or("?"),
                answer["delivery_id"].as_str().unwrap_or("?"),
            );
            Output::Message(answer, message)
        }
        EndpointsCommand::RotateSecret { id, grace } => {
            let body = given_fields([("grace", grace.map(Value::from))]);
            let call = Call::new(Method::POST, format!("/webhooks/{id}/secret/rotate")).body(body);
            Output::Record(client.send(call).await?)
        }
    };
    Ok(output)
}

/// What `endpoints test` sends without `--event`: the first type the
/// endpoint subscribes to by exact name.
fn first_exact_type(endpoint: &Value) -> Result<String, CliError> {
    endpoint["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|entry| !entry.contains('*'))
        .map(str::to_string)
        .ok_or_else(|| {
            CliError::Usage(
                "the endpoint subscribes only to categories: name the type with --event".into(),
            )
        })
}

async fn events(
    client: &AdminClient,
    command: EventsCommand,
    json: bool,
) -> Result<Output, CliError> {
    let output = match command {
        EventsCommand::Publish {
            event_type,
            data,
            idempotency_key,
        } => {
            let data: Value = match data {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| CliError::Usage(format!("--data is not JSON: {e}")))?,
                None => json!({}),
            };
            if !data.is_object() {
                return Err(CliError::Usage("--data must be a JSON object".into()));
            }
            let mut call =
                Call::new(Method::POST, "/events").body(json!({"type": event_type, "data": data}));
            if let Some(key) = idempotency_key {
                call.headers.push(("Idempotency-Key", key));
            }
            let answer = client.send(call).await?;
            let message = format!(
                "published {} ({}, {} deliveries)",
                answer["id"].as_str().unwrap_or("?"),
                event_type,
                answer["deliveries"]
            );
            Output::Message(answer, message)
        }
        EventsCommand::List {
            from,
            to,
            types,
            after,
            page,
        } => {
            let mut call = Call::get("/events")
                .query("from", from)
                .query("to", to)
                .query("after", after);
            call.query.extend(types.into_iter().map(|t| ("type", t)));
            Output::List(client.send(paged(call, &page)).await?, EVENT_COLUMNS)
        }
        EventsCommand::Show { id } => {
            Output::Record(client.send(Call::get(format!("/events/{id}"))).await?)
        }
        EventsCommand::Tail { types } => {
            watch::tail(client, &types, json).await?;
            Output::Printed
        }
    };
    Ok(output)
}

async fn deliveries(client: &AdminClient, command: DeliveriesCommand) -> Result<Output, CliError> {
    let output = match command {
        DeliveriesCommand::List {
            status,
            endpoint_id,
            event_type,
            from,
            to,
            page,
        } => {
            let call = Call::get("/deliveries")
                .query("status", status)
                .query("endpoint_id", endpoint_id)
                .query("event_type", event_type)
                .query("from", from)
                .query("to", to);
            Output::List(client.send(paged(call, &page)).await?, DELIVERY_COLUMNS)
        }
        DeliveriesCommand::Show { id } => {
            Output::Record(client.send(Call::get(format!("/deliveries/{id}"))).await?)
        }
        DeliveriesCommand::Retry { id } => {
            let call = Call::new(Method::POST, format!("/deliveries/{id}/retry"));
            let answer = client.send(call).await?;
            Output::Message(answer, format!("{id} will be attempted again now"))
        }
    };
    Ok(output)
}

async fn replay(
    client: &AdminClient,
    command: ReplayCommand,
    json: bool,
) -> Result<Output, CliError> {
    let output = match command {
        ReplayCommand::Start {
            from,
            to,
            event_ids,
            types,
            endpoint_ids,
            only_failed,
        } => {
            let body = given_fields([
                ("from", from.map(Value::from)),
                ("to", to.map(Value::from)),
                ("event_ids", non_empty(event_ids)),
                ("types", non_empty(types)),
                ("endpoint_ids", non_empty(endpoint_ids)),
                ("only_failed", only_failed.then_some(Value::Bool(true))),
            ]);
            let call = Call::new(Method::POST, "/replay").body(body);
            Output::Record(client.send(call).await?)
        }
        ReplayCommand::Status { id, wait: true } => watch::replay(client, &id, json).await?,
        ReplayCommand::Status { id, wait: false } => {
            Output::Record(client.send(Call::get(format!("/replay/{id}"))).await?)
        }
    };
    Ok(output)
}

/// A JSON object of the fields that were given: a flag left out stays out
/// of the body, so the API applies its own default (or, for a PATCH, keeps
/// the current value).
fn given_fields<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let object: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect();
    Value::Object(object)
}

fn non_empty(list: Vec<String>) -> Option<Value> {
    (!list.is_empty()).then(|| Value::from(list))
}

async fn partners(client: &AdminClient, command: PartnersCommand) -> Result<Output, CliError> {
    let set_status = |id: &str, status: &str| {
        Call::new(Method::PATCH, format!("/partners/{id}")).body(json!({"status": status}))
    };
    let output = match command {
        PartnersCommand::List { page } => Output::List(
            client.send(paged(Call::get("/partners"), &page)).await?,
            PARTNER_COLUMNS,
        ),
        PartnersCommand::Show { id } => {
            Output::Record(client.send(Call::get(format!("/partners/{id}"))).await?)
        }
        PartnersCommand::Suspend { id } => {
            Output::Record(client.send(set_status(&id, "suspended")).await?)
        }
        PartnersCommand::Activate { id } => {
            Output::Record(client.send(set_status(&id, "active")).await?)
        }
    };
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_send_defaults_to_the_first_exact_type() {
        let endpoint = json!({"events": ["payment.*", "user.created", "user.deleted"]});
        assert_eq!(first_exact_type(&endpoint).unwrap(), "user.created");
        let categories = json!({"events": ["payment.*", "*"]});
        assert!(matches!(
            first_exact_type(&categories),
            Err(CliError::Usage(_))
        ));
    }
}
