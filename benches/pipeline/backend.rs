//! Where a scenario's daemons keep their records: the default embedded store
//! (one daemon on its own data dir), or PostgreSQL, where each scenario gets
//! a database of its own on the local server, dropped when the scenario ends,
//! and `nodes` daemons share it. The figures of one backend must not carry
//! rows left by another scenario, hence a fresh database every time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::harness;
use crate::pg_database::TestDatabase;
use crate::receiver::Receiver;
use crate::BenchResult;

/// How long every node may take to list an endpoint created on node 0.
const LISTED_TIMEOUT: Duration = Duration::from_secs(30);
/// Nodes reload their endpoints every second: past this margin after every
/// node lists the endpoint, every node routes publishes to it.
const RELOAD_MARGIN: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sled,
    Postgres { nodes: usize },
}

impl Backend {
    /// From the command line: `--backend sled|postgres` and `--nodes N`
    /// (only with postgres).
    pub fn from_args(args: &[String]) -> Result<Backend, String> {
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| {
                    args.get(i + 1)
                        .cloned()
                        .ok_or(format!("{flag} needs a value"))
                })
                .transpose()
        };
        let nodes = match value("--nodes")? {
            None => None,
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(format!("--nodes {n:?}: a count of 1 or more")),
            },
        };
        match (value("--backend")?.as_deref(), nodes) {
            (None | Some("sled"), None) => Ok(Backend::Sled),
            (None | Some("sled"), Some(_)) => Err("--nodes needs --backend postgres".into()),
            (Some("postgres"), nodes) => Ok(Backend::Postgres {
                nodes: nodes.unwrap_or(1),
            }),
            (Some(other), _) => Err(format!("unknown backend {other:?}; known: sled,postgres")),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Postgres { .. } => "postgres",
        }
    }

    pub fn nodes(&self) -> usize {
        match self {
            Backend::Sled => 1,
            Backend::Postgres { nodes } => *nodes,
        }
    }
}

/// The daemons of one scenario and, on PostgreSQL, their database.
pub struct Cluster {
    // Declared first so the daemons stop before their database is dropped.
    pub nodes: Vec<Daemon>,
    _database: Option<TestDatabase>,
}

impl Cluster {
    pub async fn start(backend: Backend) -> BenchResult<Cluster> {
        match backend {
            Backend::Sled => Ok(Cluster {
                nodes: vec![harness::start()?],
                _database: None,
            }),
            Backend::Postgres { nodes } => {
                let database = TestDatabase::create("hookd_bench")?;
                let env = [
                    ("HOOKD__STORAGE__BACKEND", "postgres"),
                    ("HOOKD__STORAGE__POSTGRES_URL", database.url.as_str()),
                ];
                let mut started = Vec::with_capacity(nodes);
                for _ in 0..nodes {
                    started.push(harness::start_with(&env)?);
                }
                Ok(Cluster {
                    nodes: started,
                    _database: Some(database),
                })
            }
        }
    }

    /// `path` under every node's admin API (`/api/v1` included), in node order.
    pub fn admin_urls(&self, path: &str) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("{}/api/v1{path}", node.admin))
            .collect()
    }

    /// Resident memory summed over the nodes, in bytes.
    pub fn rss(&self) -> u64 {
        self.nodes.iter().map(|node| node.memory().rss).sum()
    }

    /// Creates one endpoint for `event_type` on the receiver's `/hook` on
    /// node 0, with `fields` added to its body, and returns once every node
    /// routes publishes to it.
    pub async fn subscribe(
        &self,
        receiver: &Receiver,
        event_type: &str,
        fields: Value,
    ) -> BenchResult<Value> {
        let first = self.nodes.first().ok_or("a cluster without nodes")?;
        let mut body = json!({"url": receiver.url("/hook"), "events": [event_type]});
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        let endpoint = first.try_create_endpoint(&body).await?;
        if self.nodes.len() > 1 {
            let id = endpoint["id"].as_str().ok_or("endpoint without id")?;
            self.wait_listed(id).await?;
            wait(RELOAD_MARGIN).await;
        }
        Ok(endpoint)
    }

    /// Polls every node's `GET /webhooks` until all list `id`.
    async fn wait_listed(&self, id: &str) -> BenchResult<()> {
        let deadline = Instant::now() + LISTED_TIMEOUT;
        for (i, node) in self.nodes.iter().enumerate() {
            loop {
                let (status, page) = node.try_api("GET", "/webhooks", None).await?;
                let listed = page["data"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|e| e["id"] == id));
                if status == 200 && listed {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "node {i} did not list endpoint {id} within {LISTED_TIMEOUT:?}"
                    ));
                }
                wait(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

/// The JSON fields every scenario line carries about where it ran.
pub fn labels(backend: Backend) -> Value {
    json!({"backend": backend.name(), "nodes": backend.nodes()})
}

async fn wait(d: Duration) {
    actix_web::rt::time::sleep(d).await;
}
