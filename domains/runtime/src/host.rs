use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_kernel::{
    CommandId, Decider, DomainError, ErrorBody, EventMetadata, Principal, RecordedEvent,
};
use agora_nats::{CommandEnvelope, CommandReply, RequestContext};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorRuntime, RpcReplyPort, SupervisionEvent};

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
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            idle_after: Duration::from_secs(60),
            max_conflict_retries: 50,
            remembered_commands: 10_000,
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
        reply: RpcReplyPort<Result<A::View, ErrorBody>>,
    },
    /// Periodic idle check.
    Tick,
}

/// Hosts the live aggregates of one type: one actor per aggregate instance.
pub struct AggregateHost<A: Decider + cqrs_es::Aggregate> {
    inner: Arc<Inner<A>>,
    supervisor: ActorRef<()>,
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
        Ok(AggregateHost { inner, supervisor })
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
            self.supervisor.get_cell(),
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
                    result = Err(ErrorBody::new(
                        agora_kernel::ErrorKind::Unavailable,
                        "service.timeout",
                        "the command did not finish in time; retry with the same command id",
                    ));
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
        for _ in 0..3 {
            let actor = self.actor_for(id)?;
            let p = principal.clone();
            match actor
                .call(
                    |reply| Msg::Read {
                        principal: p,
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
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) => self.forget(id, &actor),
            }
        }
        Err(ErrorBody::internal("the aggregate failed while reading"))
    }
}

impl<A: Decider + cqrs_es::Aggregate> Drop for AggregateHost<A> {
    fn drop(&mut self) {
        // Stops the supervisor and with it every linked aggregate actor.
        self.supervisor.stop(None);
    }
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
}

struct Loaded<A> {
    state: A,
    version: u64,
    head_hash: String,
    /// Command id → stream version right after that command's events.
    commands: HashMap<CommandId, u64>,
    command_order: VecDeque<CommandId>,
}

impl<A: Decider> Loaded<A> {
    fn remember(&mut self, command: CommandId, version: u64, limit: usize) {
        if self.commands.insert(command, version).is_none() {
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
                if let Some(c) = e
                    .metadata
                    .get("command_id")
                    .and_then(|c| c.as_str())
                    .and_then(|c| c.parse().ok())
                {
                    loaded.remember(c, e.sequence, self.inner.config.remembered_commands);
                }
            }
            self.loaded = Some(loaded);
        }
        // Just set above when it was empty.
        self.loaded
            .as_mut()
            .ok_or_else(|| ErrorBody::internal("aggregate not loaded"))
    }

    /// The view as it was right after `version`, for replying to a repeated command.
    async fn view_at(&mut self, version: u64) -> Result<A::View, ErrorBody> {
        let id = self.id.clone();
        let loaded = self.load().await?;
        if loaded.version == version {
            return Ok(loaded.state.view(&id, version));
        }
        let events = self.inner.store.load::<A>(&self.id).await?;
        let upto: Vec<RecordedEvent> = events
            .into_iter()
            .take_while(|e| e.sequence <= version)
            .collect();
        let (state, _, _) = fold::<A>(&upto)?;
        Ok(state.view(&self.id, version))
    }

    async fn execute(
        &mut self,
        envelope: &CommandEnvelope<<A as Decider>::Command>,
        ctx: &RequestContext,
    ) -> Reply<A> {
        let max_retries = self.inner.config.max_conflict_retries;
        let id = self.id.clone();
        for attempt in 0..=max_retries {
            let remembered = self.inner.config.remembered_commands;
            let loaded = self.load().await?;
            if let Some(&version) = loaded.commands.get(&envelope.command_id) {
                let view = self.view_at(version).await?;
                return Ok(CommandReply {
                    version,
                    duplicate: true,
                    view,
                });
            }
            let events = loaded
                .state
                .decide(
                    &envelope.aggregate_id,
                    &envelope.command,
                    &envelope.principal,
                )
                .map_err(|e| e.to_body())?;
            if events.is_empty() {
                return Ok(CommandReply {
                    version: loaded.version,
                    duplicate: false,
                    view: loaded.state.view(&id, loaded.version),
                });
            }
            let recorded = record::<A>(
                &id,
                loaded.version,
                &loaded.head_hash,
                &events,
                envelope,
                ctx,
            );
            match self.inner.store.append::<A>(&recorded).await {
                Ok(()) => {
                    let loaded = self.load().await?;
                    for e in &events {
                        loaded.state.evolve(e);
                    }
                    loaded.version += recorded.len() as u64;
                    if let Some(last) = recorded.last().and_then(|e| e.recorded_hash()) {
                        loaded.head_hash = last.to_string();
                    }
                    loaded.remember(envelope.command_id, loaded.version, remembered);
                    return Ok(CommandReply {
                        version: loaded.version,
                        duplicate: false,
                        view: loaded.state.view(&id, loaded.version),
                    });
                }
                Err(AppendError::Conflict) => {
                    // Another instance wrote this stream: reload, then re-check the command id
                    // (the other writer may have run this very command) and decide again.
                    metrics::counter!("agora_append_conflicts_total", "aggregate" => <A as Decider>::TYPE).increment(1);
                    self.loaded = None;
                    if attempt > 2 {
                        // Back off a little so contending instances interleave.
                        tokio::time::sleep(Duration::from_micros(200 * attempt.min(20) as u64))
                            .await;
                    }
                }
                Err(AppendError::Unavailable(e)) => {
                    // The commit may have happened: forget the state, reload next time.
                    self.loaded = None;
                    return Err(ErrorBody::unavailable(format!("event store: {e}")));
                }
            }
        }
        Err(ErrorBody::new(
            agora_kernel::ErrorKind::Conflict,
            "aggregate.contention",
            "too many concurrent changes to this object; retry",
        ))
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
                if reply.is_closed() || ctx.expired() {
                    // The caller gave up while this waited in the mailbox.
                    return Ok(());
                }
                let span = tracing::info_span!("command", aggregate = <A as Decider>::TYPE, id = %live.id, command_id = %envelope.command_id);
                let _guard = span.enter();
                let result = live.execute(&envelope, &ctx).await;
                let _ = reply.send(result);
            }
            Msg::Read { principal, reply } => {
                live.last_active = Instant::now();
                let id = live.id.clone();
                let result = match live.load().await {
                    Ok(loaded) => loaded
                        .state
                        .authorize_read(&principal)
                        .map(|()| loaded.state.view(&id, loaded.version))
                        .map_err(|e| e.to_body()),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
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
