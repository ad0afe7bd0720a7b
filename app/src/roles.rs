//! The one registry of what a process can run: every service and every projection, each
//! started by one function. `SERVICES`, `PROJECTIONS`, [`start_service`], [`run_projection`]
//! and [`rebuild`] all come from the two lists at the end of this file, so a bounded context
//! cannot be half-registered: adding one is one line in each list it belongs to.

use std::sync::Arc;
use std::time::Duration;

use agora_cart::Cart;
use agora_catalog::{Category, Product};
use agora_identity::{Account, Session};
use agora_inventory::{StockCommand, StockItem};
use agora_kernel::{Contract, Decider};
use agora_nats::{Bus, ServiceSpec};
use agora_order::Order;
use agora_projections::Projection;
use agora_promotion::Promotion;
use agora_runtime::{AggregateHost, AggregateService, EventStore, HostConfig};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{connect_nats, Config};

/// What the roles of one process share while they start.
pub(crate) struct Starter<'a> {
    pub config: &'a Config,
    pub pool: &'a PgPool,
    pub pricing: &'a agora_workflows::Pricing,
    pub shutdown: &'a CancellationToken,
    pub tasks: &'a mut JoinSet<anyhow::Result<()>>,
    /// One host per aggregate type per process: the identity service shares the account and
    /// session services' hosts when they run here too.
    pub accounts: Option<AggregateHost<Account>>,
    pub sessions: Option<AggregateHost<Session>>,
}

/// What one service's start needs beyond the [`Starter`]: its own NATS connection and store.
pub(crate) struct ServiceCtx {
    client: async_nats::Client,
    store: EventStore,
    host_config: HostConfig,
}

/// Resolves when `token` is cancelled (an owned future, for spawned roles).
async fn cancelled(token: CancellationToken) {
    token.cancelled().await
}

impl Starter<'_> {
    /// Starts a host for aggregate `A` in this process.
    async fn host<A: Decider + cqrs_es::Aggregate>(
        &self,
        ctx: &ServiceCtx,
    ) -> anyhow::Result<AggregateHost<A>> {
        AggregateHost::<A>::start(ctx.store.clone(), ctx.host_config.clone()).await
    }

    /// Hosts aggregate `A` and serves its contract as a micro service.
    async fn serve<A>(&mut self, ctx: &ServiceCtx) -> anyhow::Result<AggregateHost<A>>
    where
        A: Decider + cqrs_es::Aggregate + Contract<Command = <A as Decider>::Command>,
        <A as Decider>::Command: agora_kernel::Command<Contract = A>,
    {
        let host = self.host::<A>(ctx).await?;
        let handler = AggregateService { host: host.clone() };
        self.serve_handler(ctx, ServiceSpec::of::<A>(), handler)
            .await?;
        Ok(host)
    }

    /// Serves a hand-written handler (not a plain aggregate) as a micro service. Subscribes
    /// the service's endpoints (so that once `start` returns, requests find them) and spawns
    /// the loop that serves them until shutdown.
    async fn serve_handler<H: agora_nats::Handler>(
        &mut self,
        ctx: &ServiceCtx,
        spec: ServiceSpec,
        handler: H,
    ) -> anyhow::Result<()> {
        let token = self.shutdown.clone();
        let serving =
            agora_nats::serve_endpoints(ctx.client.clone(), spec, Arc::new(handler), async move {
                token.cancelled().await
            })
            .await?;
        self.tasks.spawn(serving);
        Ok(())
    }

    /// Spawns a background loop of a role that stops with the process.
    fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks.spawn(task(self.shutdown.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// Services: one function each.

async fn cart(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<Cart>(ctx).await?;
    Ok(())
}

async fn catalog(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let host = s.host::<Product>(ctx).await?;
    let service = agora_workflows::ProductService::new(AggregateService { host }, s.pool);
    s.serve_handler(ctx, ServiceSpec::of::<Product>(), service)
        .await?;
    s.serve::<Category>(ctx).await?;
    Ok(())
}

async fn inventory(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let host = s.host::<StockItem>(ctx).await?;
    let service = agora_workflows::StockService {
        inner: AggregateService { host: host.clone() },
        pool: s.pool.clone(),
    };
    s.serve_handler(ctx, ServiceSpec::of::<StockItem>(), service)
        .await?;
    let pool = s.pool.clone();
    s.spawn(|token| expire_reservations(pool, host, cancelled(token)));
    Ok(())
}

async fn order(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<Order>(ctx).await?;
    Ok(())
}

async fn payment(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let gateway = crate::payment_gateway(s.config, s.pool).await?;
    let host = s.host::<agora_payment::Payment>(ctx).await?;
    let service = agora_workflows::PaymentService { host, gateway };
    s.serve_handler(ctx, ServiceSpec::of::<agora_payment::Payment>(), service)
        .await?;
    // The provider's statement against our payments, nightly (one process at a time).
    if s.config.reconcile_every_secs > 0 {
        let statement = crate::provider_statement(s.config, s.pool).await?;
        let fees = crate::provider_fees(s.config)?;
        let pool = s.pool.clone();
        let provider = s.config.payment_gateway.clone();
        let every = Duration::from_secs(s.config.reconcile_every_secs);
        let window = chrono::Duration::days(i64::from(s.config.reconcile_window_days));
        s.spawn(move |token| {
            crate::reconcile::nightly(
                pool,
                statement,
                provider,
                fees,
                every,
                window,
                cancelled(token),
            )
        });
    }
    Ok(())
}

async fn checkout(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let host = s.host::<agora_checkout::Checkout>(ctx).await?;
    let bus = Bus::new(ctx.client.clone());
    let crash_after = s.config.fault_crash_after.clone();
    let service = agora_workflows::CheckoutService {
        host: host.clone(),
        bus: bus.clone(),
        pool: s.pool.clone(),
        pricing: s.pricing.clone(),
        promotions: agora_workflows::PromotionBook::new(s.pool.clone()),
        shipping: agora_workflows::ShippingBook::new(s.pool.clone()),
        crash_after: crash_after.clone(),
    };
    s.serve_handler(ctx, ServiceSpec::of::<agora_checkout::Checkout>(), service)
        .await?;
    let runner = Arc::new(agora_workflows::runner::Runner::new(
        host,
        bus,
        s.pool.clone(),
        crash_after,
    ));
    let js = async_nats::jetstream::new(ctx.client.clone());
    let sweeper = runner.clone();
    s.spawn(|token| agora_workflows::runner::run(runner, js, cancelled(token)));
    s.spawn(|token| agora_workflows::runner::sweep(sweeper, cancelled(token)));
    Ok(())
}

async fn account(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.accounts = Some(s.serve::<Account>(ctx).await?);
    Ok(())
}

async fn session(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.sessions = Some(s.serve::<Session>(ctx).await?);
    Ok(())
}

async fn identity(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let accounts = match &s.accounts {
        Some(host) => host.clone(),
        None => s.host::<Account>(ctx).await?,
    };
    let sessions = match &s.sessions {
        Some(host) => host.clone(),
        None => s.host::<Session>(ctx).await?,
    };
    let service = agora_workflows::IdentityService::new(
        accounts,
        sessions,
        s.pool.clone(),
        Arc::new(crate::token_keys(s.config)?),
        Arc::new(crate::password_hasher(s.config)?),
        crate::identity_settings(s.config)?,
    );
    s.serve_handler(ctx, ServiceSpec::of::<agora_workflows::Identity>(), service)
        .await
}

async fn promotion(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let host = s.host::<Promotion>(ctx).await?;
    let service = agora_workflows::PromotionService {
        inner: AggregateService { host: host.clone() },
        pool: s.pool.clone(),
    };
    s.serve_handler(ctx, ServiceSpec::of::<Promotion>(), service)
        .await?;
    let pool = s.pool.clone();
    let hold = Duration::from_secs(s.config.promotion_hold_secs);
    s.spawn(|token| release_abandoned_redemptions(pool, host, hold, cancelled(token)));
    Ok(())
}

async fn shipping(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<agora_shipping::ShippingProfile>(ctx).await?;
    Ok(())
}

/// The shipment and return services, and the runner that keeps orders, shipments and returns
/// in step and finishes received returns.
async fn fulfilment(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<agora_fulfilment::Shipment>(ctx).await?;
    s.serve::<agora_returns::Return>(ctx).await?;
    let runner = Arc::new(agora_workflows::fulfilment::Fulfilment {
        bus: Bus::new(ctx.client.clone()),
        pool: s.pool.clone(),
        return_window_days: s.config.return_window_days,
        crash_after: s.config.fault_crash_after.clone(),
    });
    let js = async_nats::jetstream::new(ctx.client.clone());
    let sweeper = runner.clone();
    s.spawn(|token| agora_workflows::fulfilment::run(runner, js, cancelled(token)));
    s.spawn(|token| agora_workflows::fulfilment::sweep(sweeper, cancelled(token)));
    Ok(())
}

/// The vendor service, and the marketplace runner beside it (vendors' users bound to their
/// vendor, payouts sent and recorded, scheduled payouts).
async fn review(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<agora_review::Review>(ctx).await?;
    Ok(())
}

async fn vendor(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    s.serve::<agora_vendor::Vendor>(ctx).await?;
    let runner = Arc::new(agora_workflows::marketplace::Marketplace {
        bus: Bus::new(ctx.client.clone()),
        pool: s.pool.clone(),
        payouts: crate::payout_gateway(s.config, s.pool).await?,
        schedule: (s.config.payout_schedule_secs > 0)
            .then(|| Duration::from_secs(s.config.payout_schedule_secs)),
        minimum_minor: s.config.payout_minimum_minor,
        crash_after: s.config.fault_crash_after.clone(),
    });
    let js = async_nats::jetstream::new(ctx.client.clone());
    let sweeper = runner.clone();
    s.spawn(|token| agora_workflows::marketplace::run(runner, js, cancelled(token)));
    s.spawn(|token| agora_workflows::marketplace::sweep(sweeper, cancelled(token)));
    Ok(())
}

/// Not a NATS micro service: signs a checkpoint of every stream's head on a timer (one process
/// at a time), when a signing key is configured.
async fn audit(s: &mut Starter<'_>, _ctx: &ServiceCtx) -> anyhow::Result<()> {
    let (Some(path), every) = (&s.config.audit_key_file, s.config.audit_checkpoint_secs) else {
        tracing::info!("no AGORA_AUDIT_KEY_FILE: no audit checkpoints are taken");
        return Ok(());
    };
    if every == 0 {
        return Ok(());
    }
    let key = agora_audit::AuditKey::load_or_create(path)?;
    let pool = s.pool.clone();
    let publish = s.config.audit_publish_dir.clone();
    s.spawn(move |token| {
        crate::audit::checkpoints(
            pool,
            key,
            Duration::from_secs(every),
            publish,
            cancelled(token),
        )
    });
    Ok(())
}

/// Not a NATS micro service: a feed consumer, the identity outbox and the sender loop. Any
/// number of instances share the consumer and the queue.
async fn notifier(s: &mut Starter<'_>, ctx: &ServiceCtx) -> anyhow::Result<()> {
    let notifier = Arc::new(agora_notifier::Notifier::new(
        s.pool.clone(),
        crate::notifier_config(s.config)?,
    )?);
    let client = ctx.client.clone();
    s.spawn(|token| agora_notifier::run(notifier, client, token.child_token()));
    Ok(())
}

/// Every few seconds, returns the stock of reservations past their expiry: finds SKUs with
/// due reservations in the read model and sends each an `expire_due` command. Every inventory
/// instance runs it; a repeated `expire_due` finds nothing due and writes nothing.
async fn expire_reservations(
    pool: PgPool,
    host: AggregateHost<StockItem>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let skus: Vec<String> = match sqlx::query_scalar(
            "SELECT DISTINCT sku FROM stock_reservations WHERE expires_at <= now() LIMIT 1000",
        )
        .fetch_all(&pool)
        .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "expiry scan failed");
                continue;
            }
        };
        for sku in skus {
            let envelope = agora_nats::CommandEnvelope {
                aggregate_id: sku.clone(),
                command_id: agora_kernel::CommandId::new_random(),
                principal: agora_kernel::Principal::system("reservation-expiry"),
                command: StockCommand::ExpireDue {
                    now: chrono::Utc::now(),
                },
            };
            if let Err(e) = host
                .execute(
                    envelope,
                    agora_nats::RequestContext::new(Duration::from_secs(10)),
                )
                .await
            {
                tracing::warn!(%sku, error = %e, "expiring reservations failed");
            }
        }
    }
}

/// Uses of a promotion held (`RedemptionReserved`) longer than `hold` for an order whose
/// checkout never started (no `checkout` stream: the process died between the reservation and
/// the saga's commit point and nobody retried), neither confirmed nor released since, read
/// from the event store.
const ABANDONED_REDEMPTIONS: &str = "
SELECT r.aggregate_id, r.payload->'RedemptionReserved'->>'order_id'
  FROM events r
 WHERE r.aggregate_type = 'promotion'
   AND r.event_type = 'RedemptionReserved'
   AND (r.payload->'RedemptionReserved'->>'reserved_at')::timestamptz < now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM events c
                    WHERE c.aggregate_type = 'checkout'
                      AND c.aggregate_id = r.payload->'RedemptionReserved'->>'order_id')
   AND NOT EXISTS (SELECT 1 FROM events l
                    WHERE l.aggregate_type = 'promotion'
                      AND l.aggregate_id = r.aggregate_id
                      AND l.sequence > r.sequence
                      AND l.event_type IN ('RedemptionConfirmed', 'RedemptionReleased')
                      AND l.payload->(l.event_type)->>'order_id' = r.payload->'RedemptionReserved'->>'order_id')
 LIMIT 500";

/// Gives back the uses of promotions held for checkouts that never started (see
/// [`ABANDONED_REDEMPTIONS`]); each release is the promotion's own idempotent `Release`.
async fn release_abandoned_redemptions(
    pool: PgPool,
    host: AggregateHost<agora_promotion::Promotion>,
    hold: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let every = (hold / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(every) => {}
        }
        let held: Vec<(String, String)> = match sqlx::query_as(ABANDONED_REDEMPTIONS)
            .bind(hold.as_secs_f64())
            .fetch_all(&pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "abandoned redemption scan failed");
                continue;
            }
        };
        for (promotion_id, order_id) in held {
            let Ok(order) = order_id.parse::<agora_promotion::OrderId>() else {
                continue;
            };
            let envelope = agora_nats::CommandEnvelope {
                aggregate_id: promotion_id.clone(),
                command_id: agora_kernel::CommandId::new_random(),
                principal: agora_kernel::Principal::system("promotion-hold-expiry"),
                command: agora_promotion::PromotionCommand::Release {
                    order_id: order,
                    now: chrono::Utc::now(),
                },
            };
            match host
                .execute(
                    envelope,
                    agora_nats::RequestContext::new(Duration::from_secs(10)),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(%promotion_id, %order_id, "released a use held for a checkout that never started");
                    metrics::counter!("agora_promotion_abandoned_releases_total").increment(1);
                }
                Err(e) => {
                    tracing::warn!(%promotion_id, %order_id, error = %e, "releasing an abandoned use failed")
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Projections: plain ones run and rebuild alike; the search index has its own.

async fn run_plain<P: Projection>(
    projection: P,
    s: &mut Starter<'_>,
    js: async_nats::jetstream::Context,
) -> anyhow::Result<()> {
    let pool = s.pool.clone();
    s.spawn(|token| agora_projections::run(Arc::new(projection), pool, js, cancelled(token)));
    Ok(())
}

async fn run_search(s: &mut Starter<'_>, js: async_nats::jetstream::Context) -> anyhow::Result<()> {
    let index = crate::search(s.config, s.pool).await?;
    let (pool, shipping) = (s.pool.clone(), index.clone());
    s.spawn(|token| {
        agora_projections::search::ship_to_meili(
            shipping,
            pool,
            agora_projections::search::Shipping::default(),
            cancelled(token),
        )
    });
    let projection = agora_projections::search::SearchProjection { search: index };
    run_plain(projection, s, js).await
}

fn vendor_sales(config: &Config) -> agora_projections::vendors::VendorSales {
    agora_projections::vendors::VendorSales {
        return_window: chrono::Duration::days(i64::from(config.return_window_days)),
    }
}

async fn run_vendor_sales(
    s: &mut Starter<'_>,
    js: async_nats::jetstream::Context,
) -> anyhow::Result<()> {
    run_plain(vendor_sales(s.config), s, js).await
}

async fn rebuild_vendor_sales(config: &Config, pool: &PgPool) -> anyhow::Result<u64> {
    agora_projections::rebuild(&vendor_sales(config), pool).await
}

async fn rebuild_search(config: &Config, pool: &PgPool) -> anyhow::Result<u64> {
    agora_projections::search::rebuild_search(&crate::search(config, pool).await?, pool).await
}

// ---------------------------------------------------------------------------------------------
// The registry.

macro_rules! services {
    ($($name:literal => $start:ident,)*) => {
        /// The services `agora service <name>` can run.
        pub const SERVICES: &[&str] = &[$($name),*];

        /// Starts service `name` in this process.
        pub(crate) async fn start_service(name: &str, s: &mut Starter<'_>) -> anyhow::Result<()> {
            let client = connect_nats(s.config, &format!("agora-service-{name}")).await?;
            let ctx = ServiceCtx {
                store: EventStore::new(s.pool.clone()),
                host_config: HostConfig {
                    idle_after: Duration::from_secs(s.config.actor_idle_secs),
                    feed_wakeup: Some(client.clone()),
                    ..HostConfig::default()
                },
                client,
            };
            match name {
                $($name => $start(s, &ctx).await,)*
                other => anyhow::bail!("unknown service {other:?}; known: {SERVICES:?}"),
            }
        }
    };
}

macro_rules! projections {
    (
        $($name:literal => $projection:expr,)*
        custom { $($custom:literal => ($run:ident, $rebuild:ident),)* }
    ) => {
        /// The projections `agora project <name>` can run and `agora project rebuild <name>`
        /// can rebuild.
        pub const PROJECTIONS: &[&str] = &[$($name,)* $($custom,)*];

        /// Runs projection `name` in this process.
        pub(crate) async fn run_projection(name: &str, s: &mut Starter<'_>) -> anyhow::Result<()> {
            let client = connect_nats(s.config, &format!("agora-projection-{name}")).await?;
            let js = async_nats::jetstream::new(client);
            match name {
                $($name => run_plain($projection, s, js).await,)*
                $($custom => $run(s, js).await,)*
                other => anyhow::bail!("unknown projection {other:?}; known: {PROJECTIONS:?}"),
            }
        }

        /// Rebuilds projection `name`'s read model from the event store and swaps it in.
        pub async fn rebuild(config: &Config, name: &str) -> anyhow::Result<u64> {
            let pool = crate::connect_db(config).await?;
            crate::migrate(&pool).await?;
            match name {
                $($name => agora_projections::rebuild(&$projection, &pool).await,)*
                $($custom => $rebuild(config, &pool).await,)*
                other => anyhow::bail!("cannot rebuild {other:?}; rebuildable: {PROJECTIONS:?}"),
            }
        }
    };
}

services! {
    "cart" => cart,
    "catalog" => catalog,
    "inventory" => inventory,
    "order" => order,
    "payment" => payment,
    "checkout" => checkout,
    "notifier" => notifier,
    "account" => account,
    "session" => session,
    "identity" => identity,
    "promotion" => promotion,
    "shipping" => shipping,
    "fulfilment" => fulfilment,
    "vendor" => vendor,
    "review" => review,
    "audit" => audit,
}

projections! {
    "carts" => agora_projections::carts::Carts,
    "products" => agora_projections::products::Products,
    "categories" => agora_projections::categories::Categories,
    // The movements ledger and the open reservations beside the levels are keyed by stream
    // position and mirror the folded state, so replaying the levels brings them along.
    "stock" => agora_projections::stock::Stock,
    "orders" => agora_projections::orders::Orders,
    "promotions" => agora_projections::promotions::Promotions,
    "shipments" => agora_projections::fulfilment::Shipments,
    "returns" => agora_projections::fulfilment::Returns,
    "vendors" => agora_projections::vendors::Vendors,
    // Payments by the provider's reference (webhooks that name no order), and disputes.
    "payments" => agora_projections::payments::Payments,
    // Product reviews: the storefront's approved ones, the moderation queue, each vendor's.
    "reviews" => agora_projections::reviews::Reviews,
    // Analytics of sales by day, product, category and vendor, refunds by reason, customers.
    "analytics_orders" => agora_projections::analytics::AnalyticsOrders,
    // Analytics: the funnel's carts created and carts that got a first item, by day.
    "analytics_carts" => agora_projections::analytics::AnalyticsCarts,
    // Analytics: the funnel's checkouts started and paid, by day.
    "analytics_checkouts" => agora_projections::analytics::AnalyticsCheckouts,
    custom {
        "search" => (run_search, rebuild_search),
        // The vendors' ledger: sales, commissions and refunds, pending for the return window.
        "vendor_sales" => (run_vendor_sales, rebuild_vendor_sales),
    }
}
