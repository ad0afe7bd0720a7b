//! Periodic jobs that must run in one process at a time (a checkpoint, a reconciliation):
//! each tick, the process that wins a Postgres advisory lock runs the job, the others skip it.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;

/// Runs `job` every `every` (the first time at once when `at_start`), in the one process that
/// holds advisory lock `lock` for that tick, until `shutdown` resolves. A job's failure is the
/// job's to log; the loop goes on.
pub async fn every<F, Fut>(
    pool: PgPool,
    lock: i64,
    every: Duration,
    at_start: bool,
    mut job: F,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = ()> + Send,
{
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !at_start {
        tick.tick().await;
    }
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tick.tick() => {}
        }
        let mut conn = pool.acquire().await?;
        let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock)
            .fetch_one(&mut *conn)
            .await?;
        if !won {
            continue;
        }
        job().await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(lock)
            .execute(&mut *conn)
            .await;
    }
}
