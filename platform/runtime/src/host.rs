use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_kernel::{
    Caller, CommandId, Decider, DomainError, ErrorBody, EventMetadata, Principal, RecordedEvent,
};
use agora_nats::{CommandEnvelope, CommandReply, RequestContext};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorRuntime, RpcReplyPort, SupervisionEvent};
use tracing::Instrument;

use crate::store::{fold, AppendError, EventStore};

/// How the host runs its actors.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// An actor with no message for this long stops; its aggregate reloads on the next command.
    pub idle_after: Duration,
    /// How many times a command is re-decided after losing a race for its stream.
    pub max_conflict_retries: u32,
    /// How many command ids per stream are remembered for de-duplication when a stream is long.
    /// Every id in the stream's metadata is read on load; only the newest this many are kept.
    pub remembered_commands: usize,
    /// Most commands decided and committed in one transaction (group commit); 1 turns group
    /// commit off.
    pub max_batch: usize,
    /// When set, every commit wakes the feed relay over NATS.
    pub feed_wakeup: Option<async_nats::Client>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            idle_after: Duration::from_secs(60),
            max_conflict_retries: 50,
            remembered_commands: 10_000,
            max_batch: 256,
            feed_wakeup: None,
        }
    }
}

type Reply<A> = Result<CommandReply<<A as Decider>::View>, ErrorBody>;

/// Messages of an aggregate actor.
pub enum Msg<A: Decider> {
    Execute {
        envelope: CommandEnvelope<<A as Decider>::Command>,
        ctx: RequestContext,
        reply: RpcReplyPort<Reply<A>>,
    },
    Read {
        principal: Principal,
        /// Look for events other instances wrote since this actor last did.
        catch_up: bool,
        reply: RpcReplyPort<Result<A::View, ErrorBody>>,
    },
    /// The loaded state and version, if loaded (no IO).
    Snapshot {
        reply: RpcReplyPort<Option<(A, u64)>>,
    },
    /// Decide and commit the commands received so far (sent by the actor to itself).
    Flush,
    /// Periodic idle check.
    Tick,
}

/// Hosts the live aggregates of one type: one actor per aggregate instance.
pub struct AggregateHost<A: Decider + cqrs_es::Aggregate> {
    inner: Arc<Inner<A>>,
    supervisor: Arc<SupervisorGuard>,
}

impl<A: Decider + cqrs_es::Aggregate> Clone for AggregateHost<A> {
    fn clone(&self) -> Self {
        AggregateHost {
            inner: self.inner.clone(),
            supervisor: self.supervisor.clone(),
        }
    }
}

/// Stops the supervisor, and with it every linked aggregate actor, when the last handle to the
/// host is dropped.
struct SupervisorGuard(ActorRef<()>);

impl Drop for SupervisorGuard {
    fn drop(&mut self) {
        self.0.stop(None);
    }
}

struct Inner<A: Decider> {
    store: EventStore,
    config: HostConfig,
    actors: Mutex<HashMap<String, ActorRef<Msg<A>>>>,
}

impl<A: Decider + cqrs_es::Aggregate> AggregateHost<A> {
    pub async fn start(store: EventStore, config: HostConfig) -> anyhow::Result<Self> {
        let inner = Arc::new(Inner {
            store,
            config,
            actors: Mutex::new(HashMap::new()),
        });
        let (supervisor, _) = Actor::spawn(None, Supervisor::<A>(PhantomData), inner.clone())
            .await
            .map_err(|e| anyhow::anyhow!("spawn supervisor: {e}"))?;
        Ok(AggregateHost {
            inner,
            supervisor: Arc::new(SupervisorGuard(supervisor)),
        })
    }

    /// Number of live (not passivated) actors.
    pub fn live_actors(&self) -> usize {
        self.inner.actors.lock().map(|a| a.len()).unwrap_or(0)
    }

    fn actor_for(&self, id: &str) -> Result<ActorRef<Msg<A>>, ErrorBody> {
        let mut actors = self
            .inner
            .actors
            .lock()
            .map_err(|_| ErrorBody::internal("actor registry poisoned"))?;
        if let Some(actor) = actors.get(id) {
            return Ok(actor.clone());
        }
        let (actor, _) = ActorRuntime::spawn_linked_instant(
            None,
            AggregateActor::<A>(PhantomData),
            (id.to_string(), self.inner.clone()),
            self.supervisor.0.get_cell(),
        )
        .map_err(|e| ErrorBody::internal(format!("spawn actor: {e}")))?;
        actors.insert(id.to_string(), actor.clone());
        metrics::gauge!("agora_live_actors", "aggregate" => <A as Decider>::TYPE)
            .set(actors.len() as f64);
        Ok(actor)
    }

    fn forget(&self, id: &str, actor: &ActorRef<Msg<A>>) {
        if let Ok(mut actors) = self.inner.actors.lock() {
            if actors.get(id).map(|a| a.get_id()) == Some(actor.get_id()) {
                actors.remove(id);
            }
        }
    }

    /// Runs a command on its aggregate's actor and returns the outcome.
    pub async fn execute(
        &self,
        envelope: CommandEnvelope<<A as Decider>::Command>,
        ctx: RequestContext,
    ) -> Reply<A> {
        let started = Instant::now();
        let id = envelope.aggregate_id.clone();
        let mut result = Err(ErrorBody::internal("command not run"));
        // A message can reach an actor that is stopping (idle) or has just failed; the
        // command did not run there, so run it on a fresh actor. The command id makes a
        // second run harmless even if the first did run.
        for _ in 0..3 {
            let actor = self.actor_for(&id)?;
            let env = envelope.clone();
            let call = actor
                .call(
                    |reply| Msg::Execute {
                        envelope: env,
                        ctx: ctx.clone(),
                        reply,
                    },
                    Some(ctx.remaining().max(Duration::from_millis(1))),
                )
                .await;
            match call {
                Ok(ractor::rpc::CallResult::Success(r)) => {
                    result = r;
                    break;
                }
                Ok(ractor::rpc::CallResult::Timeout) => {
                    result = Err(command_timeout());
                    break;
                }
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) if ctx.expired() => {
                    // Out of time, not a failed actor: keep it.
                    result = Err(command_timeout());
                    break;
                }
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                    self.forget(&id, &actor);
                    result = Err(ErrorBody::internal(
                        "the aggregate failed while handling the command",
                    ));
                }
            }
        }
        let outcome = match &result {
            Ok(r) if r.duplicate => "duplicate",
            Ok(_) => "ok",
            Err(_) => "rejected",
        };
        metrics::counter!("agora_commands_total", "aggregate" => <A as Decider>::TYPE, "outcome" => outcome).increment(1);
        metrics::histogram!("agora_command_seconds", "aggregate" => <A as Decider>::TYPE)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Reads the current view of an aggregate on `principal`'s authority.
    pub async fn read(
        &self,
        id: &str,
        principal: Principal,
        ctx: &RequestContext,
    ) -> Result<A::View, ErrorBody> {
        self.read_with(id, principal, ctx, true).await
    }

    /// Reads the view this instance holds, without looking for events other instances wrote
    /// since (no query when the aggregate is live). Only for a service that acts on its own
    /// aggregate next with an idempotent step, where a stale view repeats that step at worst;
    /// callers that show the view read with [`AggregateHost::read`].
    pub async fn read_local(
        &self,
        id: &str,
        principal: Principal,
        ctx: &RequestContext,
    ) -> Result<A::View, ErrorBody> {
        self.read_with(id, principal, ctx, false).await
    }

    /// The state and version a live actor of this instance holds, without any IO: `None`
    /// when no actor is live or it has not loaded its aggregate. Newer events another instance
    /// wrote are not in it; a caller that knows a version (an event the feed delivered) checks
    /// it against the one returned.
    pub async fn snapshot(&self, id: &str) -> Option<(A, u64)> {
        let actor = self.inner.actors.lock().ok()?.get(id).cloned()?;
        match actor
            .call(
                |reply| Msg::Snapshot { reply },
                Some(Duration::from_secs(5)),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(snapshot)) => snapshot,
            _ => None,
        }
    }

    async fn read_with(
        &self,
        id: &str,
        principal: Principal,
        ctx: &RequestContext,
        catch_up: bool,
    ) -> Result<A::View, ErrorBody> {
        for _ in 0..3 {
            let actor = self.actor_for(id)?;
            let p = principal.clone();
            match actor
                .call(
                    |reply| Msg::Read {
                        principal: p,
                        catch_up,
                        reply,
                    },
                    Some(ctx.remaining().max(Duration::from_millis(1))),
                )
                .await
            {
                Ok(ractor::rpc::CallResult::Success(r)) => return r,
                Ok(ractor::rpc::CallResult::Timeout) => {
                    return Err(ErrorBody::new(
                        agora_kernel::ErrorKind::Unavailable,
                        "service.timeout",
                        "read timed out",
                    ))
                }
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) if ctx.expired() => {
                    return Err(command_timeout())
                }
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) => self.forget(id, &actor),
            }
        }
        Err(ErrorBody::internal("the aggregate failed while reading"))
    }
}

/// The reply to a command whose id another caller already used: it says nothing of that
/// caller's command or of the aggregate.
fn command_id_reused() -> ErrorBody {
    ErrorBody::new(
        agora_kernel::ErrorKind::Conflict,
        "command.id_reused",
        "this command id was already used by another caller; send a new one",
    )
}

/// The command id and the caller recorded in an event's metadata.
fn recorded_command(e: &RecordedEvent) -> Option<(CommandId, Caller)> {
    let id = e
        .metadata
        .get("command_id")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok())?;
    let caller = e
        .metadata
        .get("actor")
        .map_or(Caller::Unknown, Caller::from_label);
    Some((id, caller))
}

/// The reply to a command that ran out of its caller's time before it could run or finish.
fn command_timeout() -> ErrorBody {
    ErrorBody::new(
        agora_kernel::ErrorKind::Unavailable,
        "service.timeout",
        "the command did not finish in time; retry with the same command id",
    )
}

/// Supervises aggregate actors: when one stops (idle) or fails (panic), it is removed from the
/// registry so the next command spawns a fresh actor that reloads from the store.
struct Supervisor<A: Decider>(PhantomData<fn() -> A>);

impl<A: Decider + cqrs_es::Aggregate> Actor for Supervisor<A> {
    type Msg = ();
    type State = Arc<Inner<A>>;
    type Arguments = Arc<Inner<A>>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        inner: Arc<Inner<A>>,
    ) -> Result<Arc<Inner<A>>, ActorProcessingErr> {
        Ok(inner)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        inner: &mut Arc<Inner<A>>,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match event {
            SupervisionEvent::ActorTerminated(cell, ..) => cell,
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(aggregate = <A as Decider>::TYPE, %error, "aggregate actor failed; it will be replaced on the next command");
                metrics::counter!("agora_actor_failures_total", "aggregate" => <A as Decider>::TYPE).increment(1);
                cell
            }
            _ => return Ok(()),
        };
        if let Ok(mut actors) = inner.actors.lock() {
            actors.retain(|_, a| a.get_id() != cell.get_id());
            metrics::gauge!("agora_live_actors", "aggregate" => <A as Decider>::TYPE)
                .set(actors.len() as f64);
        }
        Ok(())
    }
}

/// The actor around one aggregate instance.
struct AggregateActor<A: Decider>(PhantomData<fn() -> A>);

/// The actor's state: the aggregate, loaded lazily on the first message so spawning does no IO.
struct Live<A: Decider> {
    id: String,
    inner: Arc<Inner<A>>,
    loaded: Option<Loaded<A>>,
    last_active: Instant,
    /// Commands received since the last flush: the next group commit.
    pending: Vec<Pending<A>>,
    /// Whether a `Flush` is already in the mailbox.
    flush_queued: bool,
}

struct Loaded<A> {
    state: A,
    version: u64,
    head_hash: String,
    /// Command id → stream version right after that command's events, and who sent it.
    commands: HashMap<CommandId, (u64, Caller)>,
    command_order: VecDeque<CommandId>,
}

impl<A: Decider> Loaded<A> {
    fn remember(&mut self, command: CommandId, version: u64, caller: Caller, limit: usize) {
        if self.commands.insert(command, (version, caller)).is_none() {
            self.command_order.push_back(command);
            while self.command_order.len() > limit {
                if let Some(old) = self.command_order.pop_front() {
                    self.commands.remove(&old);
                }
            }
        }
    }
}

impl<A: Decider + cqrs_es::Aggregate> Live<A> {
    /// The loaded aggregate brought up to the newest committed event. Another instance may have
    /// written this stream since this actor last did; a read must not answer from stale memory.
    /// Costs one indexed query when nothing changed (none when the aggregate is loaded by it).
    async fn catch_up(&mut self) -> Result<&mut Loaded<A>, ErrorBody> {
        let remembered = self.inner.config.remembered_commands;
        let store = self.inner.store.clone();
        let id = self.id.clone();
        let fresh = self.loaded.is_none();
        let loaded = self.load().await?;
        if fresh {
            // Just read from the store: nothing newer to look for.
            return Ok(loaded);
        }
        let newer = store
            .range(<A as Decider>::TYPE, &id, loaded.version, u64::MAX)
            .await
            .map_err(|e| ErrorBody::unavailable(format!("event store: {e}")))?;
        for e in &newer {
            let event: <A as Decider>::Event = serde::Deserialize::deserialize(&e.payload)
                .map_err(|err| {
                    ErrorBody::internal(format!("cannot read {id} #{}: {err}", e.sequence))
                })?;
            loaded.state.evolve(&event);
            loaded.version = e.sequence;
            if let Some(h) = e.recorded_hash() {
                loaded.head_hash = h.to_string();
            }
            if let Some((c, caller)) = recorded_command(e) {
                loaded.remember(c, e.sequence, caller, remembered);
            }
        }
        Ok(loaded)
    }

    async fn load(&mut self) -> Result<&mut Loaded<A>, ErrorBody> {
        if self.loaded.is_none() {
            let events = self.inner.store.load::<A>(&self.id).await?;
            let (state, version, head_hash) = fold::<A>(&events)?;
            let mut loaded = Loaded {
                state,
                version,
                head_hash,
                commands: HashMap::new(),
                command_order: VecDeque::new(),
            };
            for e in &events {
                if let Some((c, caller)) = recorded_command(e) {
                    loaded.remember(c, e.sequence, caller, self.inner.config.remembered_commands);
                }
            }
            self.loaded = Some(loaded);
        }
        // Just set above when it was empty.
        self.loaded
            .as_mut()
            .ok_or_else(|| ErrorBody::internal("aggregate not loaded"))
    }

    /// The command view as it was right after `version`, for replying to a repeated command
    /// with what the first run replied.
    async fn command_view_at(
        &mut self,
        version: u64,
        by: &Principal,
    ) -> Result<A::View, ErrorBody> {
        let id = self.id.clone();
        let loaded = self.load().await?;
        if loaded.version == version {
            return Ok(loaded.state.command_view_for(&id, version, by));
        }
        let events = self.inner.store.load::<A>(&self.id).await?;
        let upto: Vec<RecordedEvent> = events
            .into_iter()
            .take_while(|e| e.sequence <= version)
            .collect();
        let (state, _, _) = fold::<A>(&upto)?;
        Ok(state.command_view_for(&self.id, version, by))
    }

    /// Decides a batch of commands one after the other and commits all their events in one
    /// transaction (group commit): while one batch is being committed, the commands that arrive
    /// queue up and form the next batch. Replies go out only after the commit.
    async fn execute_batch(&mut self, batch: Vec<Pending<A>>) {
        let max_retries = self.inner.config.max_conflict_retries;
        let remembered = self.inner.config.remembered_commands;
        let id = self.id.clone();
        metrics::histogram!("agora_command_batch_size", "aggregate" => <A as Decider>::TYPE)
            .record(batch.len() as f64);
        // An aggregate not loaded yet is first assumed new: most first commands create their
        // aggregate (an order, a payment, a cart), and reading an empty stream costs a query.
        // The assumption is checked by the append itself, which claims the stream's first
        // sequences: if the stream has events, it conflicts and the batch is decided again on
        // the loaded aggregate, command ids included. A batch that does not create (a refusal,
        // nothing to record, a repeated command id) is decided on the loaded aggregate instead.
        let mut blind = self.loaded.is_none();
        for attempt in 0..=max_retries {
            if blind {
                self.loaded = Some(Loaded {
                    state: A::default(),
                    version: 0,
                    head_hash: agora_kernel::GENESIS_HASH.to_string(),
                    commands: HashMap::new(),
                    command_order: VecDeque::new(),
                });
            } else if let Err(e) = self.load().await {
                return reply_all(batch, &e);
            }
            // The batch evolves the loaded aggregate itself, taken out of the actor rather than
            // copied (a copy costs as much as the state is large, on every batch). It goes back
            // only once the batch is committed or recorded nothing; any other way out of this
            // attempt (a lost race, an unknown outcome, a panic) leaves nothing loaded, and the
            // next message reloads from the store.
            let Some(mut loaded) = self.loaded.take() else {
                return reply_all(batch, &ErrorBody::internal("aggregate not loaded"));
            };
            let mut version = loaded.version;
            let mut head = loaded.head_hash.clone();
            let mut in_batch: HashMap<CommandId, (u64, Caller)> = HashMap::new();
            let mut outcomes: Vec<Outcome<A>> = Vec::with_capacity(batch.len());
            let mut recorded = Vec::new();
            for p in &batch {
                let cid = p.envelope.command_id;
                if let Some((v, first)) = loaded.commands.get(&cid).or(in_batch.get(&cid)) {
                    // A duplicate is answered only to the caller that sent the command first,
                    // and only with what that caller may read now: a command id is no
                    // credential (the platform's ids are derivable, and clients choose theirs).
                    let caller = p.envelope.principal.caller();
                    outcomes.push(if *first != caller {
                        Outcome::Rejected(command_id_reused())
                    } else {
                        match loaded.state.authorize_read_of(&id, &p.envelope.principal) {
                            Ok(()) => Outcome::Duplicate(*v),
                            Err(e) => Outcome::Rejected(e.to_body()),
                        }
                    });
                    continue;
                }
                match loaded
                    .state
                    .decide(&id, &p.envelope.command, &p.envelope.principal)
                {
                    Err(e) => outcomes.push(Outcome::Rejected(e.to_body())),
                    Ok(events) => {
                        if !events.is_empty() {
                            let new =
                                record::<A>(&id, version, &head, &events, &p.envelope, &p.ctx);
                            for e in &events {
                                loaded.state.evolve(e);
                            }
                            version += new.len() as u64;
                            if let Some(h) = new.last().and_then(|e| e.recorded_hash()) {
                                head = h.to_string();
                            }
                            in_batch.insert(cid, (version, p.envelope.principal.caller()));
                            recorded.extend(new);
                        }
                        outcomes.push(Outcome::Done(CommandReply {
                            version,
                            duplicate: false,
                            view: loaded.state.command_view_for(
                                &id,
                                version,
                                &p.envelope.principal,
                            ),
                        }));
                    }
                }
            }
            if blind {
                blind = false;
                let creates = outcomes.iter().all(|o| matches!(o, Outcome::Done(_)))
                    && in_batch.len() == batch.len();
                if !creates {
                    // Not a creation: nothing was written; decide it on the stored aggregate.
                    self.loaded = None;
                    continue;
                }
            }
            if !recorded.is_empty() {
                match self.inner.store.append::<A>(&recorded).await {
                    Ok(()) => {
                        if let Some(client) = &self.inner.config.feed_wakeup {
                            crate::feed::wake(client);
                        }
                        loaded.version = version;
                        loaded.head_hash = head;
                        for (cid, (v, caller)) in in_batch {
                            loaded.remember(cid, v, caller, remembered);
                        }
                        self.loaded = Some(loaded);
                    }
                    Err(AppendError::Conflict) => {
                        // Another instance wrote this stream: reload (nothing is loaded now),
                        // then re-check the command ids (the other writer may have run these
                        // very commands) and decide the whole batch again.
                        metrics::counter!("agora_append_conflicts_total", "aggregate" => <A as Decider>::TYPE).increment(1);
                        if attempt > 2 {
                            // Back off a little so contending instances interleave.
                            tokio::time::sleep(Duration::from_micros(
                                200 * u64::from(attempt.min(20)),
                            ))
                            .await;
                        }
                        continue;
                    }
                    Err(AppendError::Unavailable(e)) => {
                        // The commit may have happened: the state stays forgotten (nothing is
                        // loaded now) and the next message reloads it.
                        return reply_all(
                            batch,
                            &ErrorBody::unavailable(format!("event store: {e}")),
                        );
                    }
                }
            } else {
                // Nothing recorded: no event was evolved, the state is as it was loaded.
                self.loaded = Some(loaded);
            }
            for (p, outcome) in batch.into_iter().zip(outcomes) {
                let result = match outcome {
                    Outcome::Done(r) => Ok(r),
                    Outcome::Rejected(e) => Err(e),
                    Outcome::Duplicate(v) => {
                        let by = &p.envelope.principal;
                        self.command_view_at(v, by).await.map(|view| CommandReply {
                            version: v,
                            duplicate: true,
                            view,
                        })
                    }
                };
                let _ = p.reply.send(result);
            }
            return;
        }
        reply_all(
            batch,
            &ErrorBody::new(
                agora_kernel::ErrorKind::Conflict,
                "aggregate.contention",
                "too many concurrent changes to this object; retry",
            ),
        )
    }
}

/// A command waiting in an actor's current batch.
struct Pending<A: Decider> {
    envelope: CommandEnvelope<<A as Decider>::Command>,
    ctx: RequestContext,
    reply: RpcReplyPort<Reply<A>>,
}

enum Outcome<A: Decider> {
    Done(CommandReply<A::View>),
    Rejected(ErrorBody),
    /// Already handled: the stream version right after it.
    Duplicate(u64),
}

fn reply_all<A: Decider>(batch: Vec<Pending<A>>, error: &ErrorBody) {
    for p in batch {
        let _ = p.reply.send(Err(error.clone()));
    }
}

/// Builds the recorded form of new events: metadata and the hash chain.
fn record<A: Decider>(
    id: &str,
    version: u64,
    head_hash: &str,
    events: &[A::Event],
    envelope: &CommandEnvelope<<A as Decider>::Command>,
    ctx: &RequestContext,
) -> Vec<RecordedEvent> {
    let now = chrono::Utc::now();
    let mut prev = head_hash.to_string();
    let mut out = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let mut e = RecordedEvent {
            aggregate_type: <A as Decider>::TYPE.to_string(),
            aggregate_id: id.to_string(),
            sequence: version + 1 + i as u64,
            event_type: A::event_type(event).to_string(),
            event_version: A::event_version(event).to_string(),
            payload: serde_json::to_value(event).unwrap_or(serde_json::Value::Null),
            metadata: serde_json::Value::Null,
        };
        let mut metadata = EventMetadata {
            command_id: envelope.command_id,
            correlation_id: ctx.correlation_id,
            causation_id: ctx.causation_id.clone(),
            actor: envelope.principal.audit_label(),
            recorded_at: now,
            traceparent: ctx.traceparent.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        e.metadata = serde_json::to_value(&metadata).unwrap_or(serde_json::Value::Null);
        metadata.hash = e.compute_hash(&prev);
        e.metadata = serde_json::to_value(&metadata).unwrap_or(serde_json::Value::Null);
        prev = metadata.hash;
        out.push(e);
    }
    out
}

impl<A: Decider + cqrs_es::Aggregate> Actor for AggregateActor<A> {
    type Msg = Msg<A>;
    type State = Live<A>;
    type Arguments = (String, Arc<Inner<A>>);

    async fn pre_start(
        &self,
        myself: ActorRef<Msg<A>>,
        (id, inner): (String, Arc<Inner<A>>),
    ) -> Result<Live<A>, ActorProcessingErr> {
        let period = (inner.config.idle_after / 2).max(Duration::from_millis(10));
        myself.send_interval(period, || Msg::Tick);
        Ok(Live {
            id,
            inner,
            loaded: None,
            last_active: Instant::now(),
            pending: Vec::new(),
            flush_queued: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Msg<A>>,
        msg: Msg<A>,
        live: &mut Live<A>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Execute {
                envelope,
                ctx,
                reply,
            } => {
                live.last_active = Instant::now();
                if reply.is_closed() {
                    // The caller gave up while this waited in the mailbox.
                    return Ok(());
                }
                if ctx.expired() {
                    // Too late to run: say so, rather than dropping the reply port (which the
                    // caller would take for a failed actor).
                    let _ = reply.send(Err(command_timeout()));
                    return Ok(());
                }
                live.pending.push(Pending {
                    envelope,
                    ctx,
                    reply,
                });
                // The flush goes to the back of the mailbox: every command already queued
                // behind this one joins the same batch.
                if !live.flush_queued {
                    live.flush_queued = true;
                    myself.send_message(Msg::Flush)?;
                }
            }
            Msg::Flush => {
                live.flush_queued = false;
                let take = live.pending.len().min(live.inner.config.max_batch.max(1));
                let batch: Vec<Pending<A>> = live.pending.drain(..take).collect();
                if !live.pending.is_empty() {
                    live.flush_queued = true;
                    myself.send_message(Msg::Flush)?;
                }
                let span = tracing::info_span!("batch", aggregate = <A as Decider>::TYPE, id = %live.id, size = batch.len());
                live.execute_batch(batch).instrument(span).await;
            }
            Msg::Read {
                principal,
                catch_up,
                reply,
            } => {
                live.last_active = Instant::now();
                let id = live.id.clone();
                let current = if catch_up {
                    live.catch_up().await
                } else {
                    live.load().await
                };
                let result = match current {
                    Ok(loaded) => loaded
                        .state
                        .authorize_read_of(&id, &principal)
                        .map(|()| loaded.state.view_for(&id, loaded.version, &principal))
                        .map_err(|e| e.to_body()),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Msg::Snapshot { reply } => {
                let snapshot = live.loaded.as_ref().map(|l| (l.state.clone(), l.version));
                let _ = reply.send(snapshot);
            }
            Msg::Tick => {
                if live.last_active.elapsed() >= live.inner.config.idle_after {
                    myself.stop(Some("idle".into()));
                }
            }
        }
        Ok(())
    }
}
