//! Statements prepared once per connection. Given a statement's text,
//! tokio-postgres prepares it on every call: a round trip to the server
//! (parse and describe) before the one that runs it, and a parse there
//! each time. The calls here prepare through the pool's per-connection
//! cache instead, so a text is prepared once per connection and each later
//! call is a single round trip. On the dispatcher's path, where a node
//! spends its time waiting on round trips, that more than doubled the
//! deliveries a node makes (BENCHMARKS.md).
//!
//! Only fixed texts go through here. A text that varies (one naming a day's
//! partition) would grow the cache with every variant, and a statement
//! naming a partition that retention drops would fail when run again. The
//! migrations (`schema.rs`) run once per start, before the tables they
//! create exist, and keep to plain calls.

use std::future::Future;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::PgError;

/// The calls of tokio-postgres that take a statement's text, through the
/// connection's cache of prepared statements; for a pooled connection and
/// a transaction on one alike.
pub(super) trait Prepared {
    fn execute_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, PgError>> + Send;

    fn query_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, PgError>> + Send;

    fn query_one_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, PgError>> + Send;

    fn query_opt_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, PgError>> + Send;
}

impl<C: GenericClient> Prepared for C {
    async fn execute_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.execute(&statement, params).await?)
    }

    async fn query_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.query(&statement, params).await?)
    }

    async fn query_one_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.query_one(&statement, params).await?)
    }

    async fn query_opt_cached(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.query_opt(&statement, params).await?)
    }
}
