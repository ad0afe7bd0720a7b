//! Tables that give each key to one owner for life: a SKU to one product (`sku_claims`), a
//! coupon code to one promotion (`promotion_codes`). A key is claimed before the command that
//! brings it in commits, and given back only when the aggregate certainly refused that command.

use agora_kernel::{ErrorBody, ErrorKind};
use sqlx::PgPool;

/// One claims table: its name and its key and owner columns.
pub(crate) struct Claims {
    pub table: &'static str,
    pub key: &'static str,
    pub owner: &'static str,
}

/// The outcome of a claim: the keys this call claimed for the first time, or the first key
/// another owner holds (then nothing was claimed).
pub(crate) enum Claimed {
    Fresh(Vec<String>),
    Taken(String),
}

impl Claims {
    fn unavailable(&self, e: sqlx::Error) -> ErrorBody {
        ErrorBody::unavailable(format!("{}: {e}", self.table))
    }

    /// Claims `keys` for `owner` in one transaction: all or none.
    pub async fn claim(
        &self,
        pool: &PgPool,
        owner: &str,
        keys: &[String],
    ) -> Result<Claimed, ErrorBody> {
        let Claims {
            table,
            key,
            owner: owner_column,
        } = self;
        let mut tx = pool.begin().await.map_err(|e| self.unavailable(e))?;
        // A row another transaction is inserting makes this insert wait for it; once it
        // commits, the next statement sees it as taken.
        let fresh: Vec<String> = sqlx::query_scalar(&format!(
            "INSERT INTO {table} ({key}, {owner_column}) SELECT k, $1 FROM unnest($2::text[]) AS k
             ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
        ))
        .bind(owner)
        .bind(keys)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        let taken: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {key} FROM {table} WHERE {key} = ANY($2) AND {owner_column} <> $1
             ORDER BY {key} LIMIT 1"
        ))
        .bind(owner)
        .bind(keys)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        if let Some(taken) = taken {
            // Dropping the transaction rolls back this call's fresh claims too.
            return Ok(Claimed::Taken(taken));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        Ok(Claimed::Fresh(fresh))
    }

    /// Gives back `fresh` keys of `owner` after its command was refused (see [`refused`]).
    pub async fn give_back(
        &self,
        pool: &PgPool,
        owner: &str,
        fresh: &[String],
    ) -> Result<(), ErrorBody> {
        if fresh.is_empty() {
            return Ok(());
        }
        let Claims {
            table,
            key,
            owner: owner_column,
        } = self;
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE {owner_column} = $1 AND {key} = ANY($2)"
        ))
        .bind(owner)
        .bind(fresh)
        .execute(pool)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(())
    }
}

/// A refusal after which the command certainly wrote nothing (as opposed to a timeout or an
/// unavailable store, after which it may have).
pub(crate) fn refused(e: &ErrorBody) -> bool {
    matches!(
        e.kind,
        ErrorKind::Invalid | ErrorKind::Forbidden | ErrorKind::NotFound | ErrorKind::Conflict
    )
}
