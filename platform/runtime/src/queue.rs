//! Tables used as queues: rows go in, are read oldest first, and are deleted once handled.
//!
//! Every delete leaves a dead row version, and a dead index entry at the head of the queue:
//! exactly where the next oldest-first scan starts. Only a vacuum removes them. Until one
//! runs, every scan steps over all of them, so a relay that reads a few hundred rows at a time
//! slows down as it works. Measured: a 100,000-product seed with autovacuum off drove the feed
//! outbox's head scan past 1 s, and 50,000 rows piled up behind it; one `VACUUM` (0.24 s)
//! drained them. Autovacuum may be off, or late to a small hot table, so whoever deletes from a
//! queue also vacuums it, after every so many deleted rows.

use std::time::Instant;

use sqlx::PgPool;

/// Vacuums a queue table after every `every` rows deleted from it.
#[derive(Debug)]
pub struct Sweeper {
    table: &'static str,
    every: u64,
    deleted: u64,
}

impl Sweeper {
    /// `table` is a fixed table name of ours, never input.
    pub const fn new(table: &'static str, every: u64) -> Sweeper {
        Sweeper {
            table,
            every,
            deleted: 0,
        }
    }

    /// Counts `rows` deleted; once `every` have been, vacuums the table. A failed vacuum (a
    /// role that may not vacuum, a connection lost) is logged and tried again after the next
    /// `every` rows: the queue still works, only more slowly.
    pub async fn deleted(&mut self, pool: &PgPool, rows: u64) {
        self.deleted += rows;
        if self.deleted < self.every {
            return;
        }
        self.deleted = 0;
        let started = Instant::now();
        // SKIP_LOCKED: a vacuum already running (autovacuum's) is enough.
        let sql = format!("VACUUM (SKIP_LOCKED) {}", self.table);
        match sqlx::raw_sql(&sql).execute(pool).await {
            Ok(_) => {
                metrics::counter!("agora_queue_vacuums_total", "table" => self.table).increment(1);
                tracing::debug!(table = self.table, elapsed = ?started.elapsed(), "queue vacuumed");
            }
            Err(e) => {
                tracing::warn!(table = self.table, error = %e, "vacuuming a queue table failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The live rows a vacuum counted in `q`, written to the catalog by the vacuum itself (no
    /// statistics delay); -1 before any vacuum or analyze.
    async fn counted(pool: &PgPool) -> anyhow::Result<f32> {
        Ok(
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'q'")
                .fetch_one(pool)
                .await?,
        )
    }

    #[tokio::test]
    async fn a_queue_is_vacuumed_after_every_so_many_deleted_rows() -> anyhow::Result<()> {
        let db = agora_testkit::TestDb::create().await?;
        let pool = PgPool::connect(&db.url()).await?;
        sqlx::raw_sql(
            "CREATE TABLE q (id bigserial PRIMARY KEY, body text);
             INSERT INTO q (body) SELECT 'x' FROM generate_series(1, 1000);
             DELETE FROM q WHERE id <= 600;",
        )
        .execute(&pool)
        .await?;
        let mut sweeper = Sweeper::new("q", 1000);
        sweeper.deleted(&pool, 600).await;
        assert_eq!(counted(&pool).await?, -1.0, "600 of 1000 deleted: not yet");
        sweeper.deleted(&pool, 400).await;
        assert_eq!(counted(&pool).await?, 400.0, "1000 deleted: vacuumed");

        sqlx::query("DELETE FROM q WHERE id <= 900")
            .execute(&pool)
            .await?;
        sweeper.deleted(&pool, 300).await;
        assert_eq!(counted(&pool).await?, 400.0, "the count starts again");
        sweeper.deleted(&pool, 700).await;
        assert_eq!(counted(&pool).await?, 100.0);
        pool.close().await;
        Ok(())
    }
}
