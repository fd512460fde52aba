//! A throwaway database on the local PostgreSQL server (127.0.0.1:5432,
//! user postgres, or `HOOKD_TEST_POSTGRES`), dropped with its value. Shared
//! by the daemon harness (tests/common/daemon.rs), the store tests
//! (tests/pg_support/mod.rs) and benches/pipeline/main.rs, so all of them
//! find the server and name, create and drop databases the same way.

use hookd::store::postgres::redact_url;

/// Why no database could be had. Store tests skip when no server answers,
/// and fail when one answers but refuses.
pub enum DatabaseError {
    Unreachable(String),
    Refused(String),
}

impl From<DatabaseError> for String {
    fn from(error: DatabaseError) -> String {
        match error {
            DatabaseError::Unreachable(message) | DatabaseError::Refused(message) => message,
        }
    }
}

/// A database of its own: a daemon's, when run with
/// `HOOKD_TEST_BACKEND=postgres`, a store test's, or a benchmark scenario's.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// The server, without a database name.
    fn server() -> String {
        std::env::var("HOOKD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
    }

    /// A fresh database named `<prefix>_<random>`.
    pub fn create(prefix: &str) -> Result<TestDatabase, DatabaseError> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        admin_statement(format!("CREATE DATABASE {name}"))?;
        Ok(TestDatabase {
            url: format!("{}/{name}", Self::server()),
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = admin_statement(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        if let Err(error) = dropped {
            let error = String::from(error);
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// Runs one statement on the server's `postgres` database, on a thread and
/// runtime of its own (callers may be inside a runtime or not).
fn admin_statement(statement: String) -> Result<(), DatabaseError> {
    let url = format!("{}/postgres", TestDatabase::server());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DatabaseError::Refused(e.to_string()))?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| {
                DatabaseError::Unreachable(format!(
                    "no PostgreSQL server answers at {}: {e}",
                    redact_url(&url)
                ))
            })?;
            tokio::spawn(connection);
            client
                .batch_execute(&statement)
                .await
                .map_err(|e| DatabaseError::Refused(e.to_string()))
        })
    })
    .join()
    .map_err(|_| DatabaseError::Refused("the database thread panicked".to_string()))?
}
