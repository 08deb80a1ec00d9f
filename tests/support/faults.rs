//! Fault injection for the end-to-end tests: [`Faulty<T>`] wraps a port adapter (an
//! [`ObjectStore`], [`Queue`], [`StreamReader`] or [`Warehouse`]) and delegates every call to it,
//! except the calls a shared, seeded [`FaultPlan`] picks.
//!
//! Flow: a test builds one plan per scenario from [`FaultSpec`]s (an I/O [`Step`], which calls it
//! counts — [`Target`] —, the n-th of those, and a [`FaultKind`]), wraps every adapter the stages
//! use with that plan, runs the pipeline, then waits for delayed effects ([`FaultPlan::settle`])
//! and reads which faults fired ([`FaultPlan::fired`]; a fault whose call never came did not test
//! anything). A fault fires once, or on `times` calls in a row (a lasting failure, until the
//! test says its cause is fixed: [`FaultPlan::heal`]).
//!
//! The kinds:
//!
//! - [`FaultKind::Before`]: fail before the effect — a `Transient` error, the adapter not called;
//! - [`FaultKind::After`]: fail after the effect, before the acknowledgement — the adapter is
//!   called (the object is written, the message sent, received or deleted, the load committed)
//!   and its answer replaced by a `Transient` error;
//! - [`FaultKind::Delay`]: the request lands late — the effect happens [`FaultPlan::delay`]
//!   later on a task of its own and the caller waits as long. At the steps a handler makes under
//!   the function's deadline (PutObject, GetObject, SendMessage, Load; the end-to-end test runs
//!   each handler under an emulated Lambda timeout shorter than the delay) the caller gives up
//!   first and the effect lands after the invocation failed. The steps the event source mapping
//!   or a tool makes (ReceiveMessage, DeleteMessage, ChangeVisibility, List, GetRecords) have no
//!   deadline to pass: there a delay is modelled as [`FaultKind::After`] (the answer is lost), and
//!   [`Fired::note`] says so;
//! - [`FaultKind::DataApi`] (Load only): a fault of the Redshift Data API test server
//!   ([`crate::data_api`]) queued for the load's `BatchExecuteStatement` — FAILED with a given
//!   error (`1023` serialization conflict), ABORTED, a statement that hangs past the
//!   `RedshiftWarehouse` budget (cancelled at the deadline when its config says so; nothing
//!   committed), or throttled submissions or polls. Without a server in the plan it acts as
//!   `Before`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_core::spec::Pipeline;
use loglift_core::storage::{LoadBatch, LoadReport};
use loglift_ports::{
    Ledger, LedgerSource, LedgerTable, ListPage, Object, ObjectMeta, ObjectStore, OutgoingMessage,
    PortError, PortResult, Queue, QueueDepth, ReceivedMessage, ShardPosition, ShardRead,
    StreamReader, Warehouse,
};

use crate::data_api::{DataApiServer, Fault as ServerFault};

/// An I/O step of the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    PutObject,
    GetObject,
    List,
    SendMessage,
    DeleteMessage,
    ReceiveMessage,
    ChangeVisibility,
    /// Kinesis GetRecords (the event source mapping's read).
    GetRecords,
    /// A warehouse load: COPY, dedupe, apply and commit in one transaction.
    Load,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::PutObject,
        Step::GetObject,
        Step::List,
        Step::SendMessage,
        Step::DeleteMessage,
        Step::ReceiveMessage,
        Step::ChangeVisibility,
        Step::GetRecords,
        Step::Load,
    ];

    /// Whether a handler makes this call under the function's deadline (so a delay can pass
    /// it); the others are made by the event source mapping or a tool.
    pub fn under_deadline(self) -> bool {
        matches!(
            self,
            Step::PutObject | Step::GetObject | Step::SendMessage | Step::Load
        )
    }
}

/// A fault of the Data API test server (see [`FaultKind::DataApi`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataApiFault {
    /// The statement ends FAILED with this error text.
    Fail(String),
    /// The statement ends ABORTED.
    Abort,
    /// The statement never runs (STARTED until cancelled).
    Hang,
    /// The next `times` requests of `operation` (`BatchExecuteStatement`, `DescribeStatement`)
    /// are answered `ThrottlingException`.
    Throttle { operation: &'static str, times: u32 },
}

impl DataApiFault {
    /// A Redshift serialization conflict (error 1023), which is retryable.
    pub fn serialization_conflict() -> DataApiFault {
        DataApiFault::Fail(
            "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100167, transactions forming the cycle are: 55705701, 55705754 (pid:16606)".to_owned(),
        )
    }
}

/// What a fault does (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    Before,
    After,
    Delay,
    DataApi(DataApiFault),
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Before => f.write_str("fail before the effect"),
            FaultKind::After => f.write_str("fail after the effect"),
            FaultKind::Delay => f.write_str("delay past the deadline"),
            FaultKind::DataApi(DataApiFault::Fail(e)) => {
                write!(
                    f,
                    "Data API FAILED ({})",
                    e.chars().take(24).collect::<String>()
                )
            }
            FaultKind::DataApi(DataApiFault::Abort) => f.write_str("Data API ABORTED"),
            FaultKind::DataApi(DataApiFault::Hang) => f.write_str("Data API hang"),
            FaultKind::DataApi(DataApiFault::Throttle { operation, times }) => {
                write!(f, "Data API throttles {times} {operation}")
            }
        }
    }
}

/// Which calls of a step a fault counts: the call's target is `bucket/key` (objects), the queue
/// URL (messages), `stream shard` (GetRecords) or the table (Load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Any,
    /// The target contains every one of these.
    Contains(Vec<String>),
    /// The target is exactly this (a queue URL, not its DLQ's).
    Is(String),
}

impl Target {
    pub fn contains(parts: &[&str]) -> Target {
        Target::Contains(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    fn matches(&self, target: &str) -> bool {
        match self {
            Target::Any => true,
            Target::Contains(parts) => parts.iter().all(|p| target.contains(p.as_str())),
            Target::Is(t) => t == target,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Any => f.write_str("*"),
            Target::Contains(parts) => write!(f, "*{}*", parts.join("*")),
            Target::Is(t) => f.write_str(t.rsplit('/').next().unwrap_or(t)),
        }
    }
}

/// One planned fault: the `nth` (1-based) call of `step` whose target matches fails as `kind`,
/// and so do the next `times - 1` matching calls (a lasting failure; [`u32::MAX`]: until
/// [`FaultPlan::heal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    pub step: Step,
    pub target: Target,
    pub nth: u32,
    pub kind: FaultKind,
    pub times: u32,
}

impl FaultSpec {
    pub fn new(step: Step, target: Target, nth: u32, kind: FaultKind) -> FaultSpec {
        FaultSpec {
            step,
            target,
            nth: nth.max(1),
            kind,
            times: 1,
        }
    }

    /// A fault that lasts until the plan is healed.
    pub fn until_healed(mut self) -> FaultSpec {
        self.times = u32::MAX;
        self
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}[{}]#{}: {}",
            self.step, self.target, self.nth, self.kind
        )?;
        match self.times {
            1 => Ok(()),
            u32::MAX => f.write_str(" until healed"),
            n => write!(f, " ×{n}"),
        }
    }
}

/// A fault that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub spec: FaultSpec,
    /// The call's actual target.
    pub target: String,
    /// How the kind was applied where it differs from its name (a delay without a deadline).
    pub note: &'static str,
}

impl fmt::Display for Fired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.spec, self.target)?;
        if !self.note.is_empty() {
            write!(f, " ({})", self.note)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Armed {
    spec: FaultSpec,
    calls: u32,
    fires: u32,
    healed: bool,
}

impl Armed {
    fn done(&self) -> bool {
        self.healed || self.fires >= self.spec.times
    }
}

#[derive(Debug, Default)]
struct PlanState {
    armed: Vec<Armed>,
    fired: Vec<Fired>,
    calls: BTreeMap<Step, u64>,
    late: Vec<tokio::task::JoinHandle<()>>,
}

/// The faults of one scenario, shared by every [`Faulty`] wrapper of it (clones share the state).
#[derive(Clone)]
pub struct FaultPlan {
    state: Arc<Mutex<PlanState>>,
    delay: Duration,
    data_api: Option<Arc<DataApiServer>>,
}

impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultPlan")
            .field("specs", &self.specs())
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl FaultPlan {
    /// A plan of these faults; a [`FaultKind::Delay`] lands `delay` late.
    pub fn new(specs: Vec<FaultSpec>, delay: Duration) -> FaultPlan {
        let armed = specs
            .into_iter()
            .map(|spec| Armed {
                spec,
                calls: 0,
                fires: 0,
                healed: false,
            })
            .collect();
        FaultPlan {
            state: Arc::new(Mutex::new(PlanState {
                armed,
                ..PlanState::default()
            })),
            delay,
            data_api: None,
        }
    }

    /// No faults: every call goes through.
    pub fn none() -> FaultPlan {
        FaultPlan::new(Vec::new(), Duration::ZERO)
    }

    /// A plan of `(step, target, kind)` faults, each at a call number drawn from `nth` by a
    /// generator seeded with `seed` (the same seed gives the same plan).
    pub fn seeded(
        seed: u64,
        faults: &[(Step, Target, FaultKind)],
        nth: std::ops::RangeInclusive<u32>,
        delay: Duration,
    ) -> FaultPlan {
        FaultPlan::new(seeded_specs(seed, faults, nth), delay)
    }

    /// Queue [`FaultKind::DataApi`] faults on this server.
    pub fn with_data_api(mut self, server: Arc<DataApiServer>) -> FaultPlan {
        self.data_api = Some(server);
        self
    }

    /// How late a delayed effect lands.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    fn lock(&self) -> MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The planned faults, in order.
    pub fn specs(&self) -> Vec<FaultSpec> {
        self.lock().armed.iter().map(|a| a.spec.clone()).collect()
    }

    /// The faults that fired, in the order they fired.
    pub fn fired(&self) -> Vec<Fired> {
        self.lock().fired.clone()
    }

    /// The planned faults whose call has not come (yet).
    pub fn unfired(&self) -> Vec<FaultSpec> {
        self.lock()
            .armed
            .iter()
            .filter(|a| a.fires == 0)
            .map(|a| a.spec.clone())
            .collect()
    }

    /// Calls made per step, faulted or not.
    pub fn calls(&self) -> BTreeMap<Step, u64> {
        self.lock().calls.clone()
    }

    /// The cause of the lasting faults is fixed: they fire no more.
    pub fn heal(&self) {
        for armed in self.lock().armed.iter_mut() {
            if armed.spec.times > 1 {
                armed.healed = true;
            }
        }
    }

    /// Whether delayed effects are still on their way.
    pub fn pending(&self) -> bool {
        self.lock().late.iter().any(|h| !h.is_finished())
    }

    /// Wait until every delayed effect has landed.
    pub async fn settle(&self) {
        loop {
            let late = std::mem::take(&mut self.lock().late);
            if late.is_empty() {
                return;
            }
            for handle in late {
                let _ = handle.await;
            }
        }
    }

    /// Count a call; the fault it trips, if any.
    fn trip(&self, step: Step, target: &str) -> Option<(FaultKind, &'static str)> {
        let mut state = self.lock();
        *state.calls.entry(step).or_default() += 1;
        let mut hit: Option<FaultSpec> = None;
        for armed in state.armed.iter_mut() {
            if armed.done() || armed.spec.step != step || !armed.spec.target.matches(target) {
                continue;
            }
            armed.calls += 1;
            if armed.calls < armed.spec.nth {
                continue;
            }
            if hit.is_none() {
                armed.fires += 1;
                hit = Some(armed.spec.clone());
            } else {
                // Another fault fires on this call: this one takes the next matching call.
                armed.calls -= 1;
            }
        }
        let spec = hit?;
        let (kind, note) = match &spec.kind {
            FaultKind::Delay if !step.under_deadline() => (
                FaultKind::After,
                "no deadline at this step: modelled as a lost answer",
            ),
            FaultKind::DataApi(_) if step != Step::Load || self.data_api.is_none() => (
                FaultKind::Before,
                "no Data API here: failed before the call",
            ),
            kind => (kind.clone(), ""),
        };
        state.fired.push(Fired {
            spec,
            target: target.to_owned(),
            note,
        });
        Some((kind, note))
    }

    /// Run `effect` `delay` late on a task of its own; the answer comes when it lands.
    fn late<R, Fut>(&self, effect: Fut) -> impl Future<Output = PortResult<R>> + Send + 'static
    where
        R: Send + 'static,
        Fut: Future<Output = PortResult<R>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let delay = self.delay;
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(effect.await);
        });
        self.lock().late.push(task);
        async move {
            rx.await.unwrap_or_else(|_| {
                Err(PortError::Transient {
                    op: "injected delay",
                    target: String::new(),
                    message: "the delayed request was lost".to_owned(),
                    source: None,
                })
            })
        }
    }

    fn server_fault(&self, fault: &DataApiFault) {
        let Some(server) = &self.data_api else {
            return;
        };
        match fault {
            DataApiFault::Fail(e) => server.inject(ServerFault::Fail(e.clone())),
            DataApiFault::Abort => server.inject(ServerFault::Abort),
            DataApiFault::Hang => server.inject(ServerFault::Hang),
            DataApiFault::Throttle { operation, times } => server.throttle(operation, *times),
        }
    }
}

/// `(step, target, kind)` faults, each at a call number drawn from `nth` by a generator seeded
/// with `seed` (the same seed gives the same specs).
pub fn seeded_specs(
    seed: u64,
    faults: &[(Step, Target, FaultKind)],
    nth: std::ops::RangeInclusive<u32>,
) -> Vec<FaultSpec> {
    let mut rng = fastrand::Rng::with_seed(seed);
    faults
        .iter()
        .map(|(step, target, kind)| {
            FaultSpec::new(*step, target.clone(), rng.u32(nth.clone()), kind.clone())
        })
        .collect()
}

fn injected(step: Step, target: &str, what: &str) -> PortError {
    PortError::Transient {
        op: match step {
            Step::PutObject => "PutObject",
            Step::GetObject => "GetObject",
            Step::List => "ListObjectsV2",
            Step::SendMessage => "SendMessage",
            Step::DeleteMessage => "DeleteMessage",
            Step::ReceiveMessage => "ReceiveMessage",
            Step::ChangeVisibility => "ChangeMessageVisibility",
            Step::GetRecords => "GetRecords",
            Step::Load => "Load",
        },
        target: target.to_owned(),
        message: format!("injected fault: {what}"),
        source: None,
    }
}

/// A port adapter with faults (see the module docs). Clones share the adapter and the plan.
pub struct Faulty<T> {
    inner: Arc<T>,
    plan: FaultPlan,
}

impl<T> Clone for Faulty<T> {
    fn clone(&self) -> Self {
        Faulty {
            inner: Arc::clone(&self.inner),
            plan: self.plan.clone(),
        }
    }
}

impl<T> fmt::Debug for Faulty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Faulty<T> {
    pub fn new(inner: T, plan: FaultPlan) -> Faulty<T> {
        Faulty {
            inner: Arc::new(inner),
            plan,
        }
    }

    /// The adapter itself (calls through it are not counted).
    pub fn inner(&self) -> &T {
        &self.inner
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Run one call of `step` on `target` under the plan: `call` makes the effect.
    async fn run<R, F, Fut>(&self, step: Step, target: String, call: F) -> PortResult<R>
    where
        R: Send + 'static,
        F: FnOnce(Arc<T>) -> Fut,
        Fut: Future<Output = PortResult<R>> + Send + 'static,
    {
        let Some((kind, _)) = self.plan.trip(step, &target) else {
            return call(Arc::clone(&self.inner)).await;
        };
        match kind {
            FaultKind::Before => Err(injected(step, &target, "failed before the effect")),
            FaultKind::After => {
                call(Arc::clone(&self.inner)).await?;
                Err(injected(
                    step,
                    &target,
                    "the effect happened, its answer was lost",
                ))
            }
            FaultKind::Delay => self.plan.late(call(Arc::clone(&self.inner))).await,
            FaultKind::DataApi(fault) => {
                self.plan.server_fault(&fault);
                call(Arc::clone(&self.inner)).await
            }
        }
    }
}

impl<T: ObjectStore + 'static> ObjectStore for Faulty<T> {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectMeta> {
        let (b, k, ct) = (bucket.to_owned(), key.to_owned(), content_type.to_owned());
        self.run(Step::PutObject, format!("{bucket}/{key}"), |s| async move {
            s.put(&b, &k, body, &ct).await
        })
        .await
    }

    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.run(Step::GetObject, format!("{bucket}/{key}"), |s| async move {
            s.get(&b, &k).await
        })
        .await
    }

    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        self.inner.head(bucket, key).await
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> PortResult<ListPage> {
        let (b, p, c) = (
            bucket.to_owned(),
            prefix.to_owned(),
            continuation.map(str::to_owned),
        );
        self.run(Step::List, format!("{bucket}/{prefix}"), |s| async move {
            s.list(&b, &p, c.as_deref()).await
        })
        .await
    }

    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        self.inner.delete(bucket, key).await
    }
}

impl<T: Queue + 'static> Queue for Faulty<T> {
    async fn send(&self, queue: &str, message: &OutgoingMessage) -> PortResult<String> {
        let (q, m) = (queue.to_owned(), message.clone());
        self.run(Step::SendMessage, queue.to_owned(), |s| async move {
            s.send(&q, &m).await
        })
        .await
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        let q = queue.to_owned();
        self.run(Step::ReceiveMessage, queue.to_owned(), |s| async move {
            s.receive(&q, max, wait, visibility).await
        })
        .await
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()> {
        let (q, h) = (queue.to_owned(), receipt_handle.to_owned());
        self.run(Step::DeleteMessage, queue.to_owned(), |s| async move {
            s.delete(&q, &h).await
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        let (q, h) = (queue.to_owned(), receipt_handle.to_owned());
        self.run(Step::ChangeVisibility, queue.to_owned(), |s| async move {
            s.change_visibility(&q, &h, timeout).await
        })
        .await
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        self.inner.depth(queue).await
    }
}

impl<T: StreamReader + 'static> StreamReader for Faulty<T> {
    async fn shards(&self, stream: &str) -> PortResult<Vec<String>> {
        self.inner.shards(stream).await
    }

    async fn read(
        &self,
        stream: &str,
        shard: &str,
        from: &ShardPosition,
        max_records: u32,
    ) -> PortResult<ShardRead> {
        let (st, sh, f) = (stream.to_owned(), shard.to_owned(), from.clone());
        self.run(
            Step::GetRecords,
            format!("{stream} {shard}"),
            |s| async move { s.read(&st, &sh, &f, max_records).await },
        )
        .await
    }
}

impl<T: Warehouse + 'static> Warehouse for Faulty<T> {
    async fn ensure_table(&self, pipeline: &Pipeline) -> PortResult<()> {
        self.inner.ensure_table(pipeline).await
    }

    async fn load(&self, pipeline: &Pipeline, batch: &LoadBatch) -> PortResult<LoadReport> {
        let (p, b) = (pipeline.clone(), batch.clone());
        self.run(Step::Load, batch.table.clone(), |w| async move {
            w.load(&p, &b).await
        })
        .await
    }
}

impl<T: Ledger + 'static> Ledger for Faulty<T> {
    async fn prune_ledger(&self, before: DateTime<Utc>) -> PortResult<u64> {
        self.inner.prune_ledger(before).await
    }

    async fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> PortResult<Vec<LedgerSource>> {
        self.inner.ledger_sources(pipeline, from, to).await
    }

    async fn ledger_tables(&self, since: DateTime<Utc>) -> PortResult<Vec<LedgerTable>> {
        self.inner.ledger_tables(since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglift_local::MemoryStore;

    #[tokio::test]
    async fn faults_fire_once_at_their_call_by_kind() {
        let plan = FaultPlan::new(
            vec![
                FaultSpec::new(
                    Step::PutObject,
                    Target::contains(&["curated/"]),
                    2,
                    FaultKind::Before,
                ),
                FaultSpec::new(Step::PutObject, Target::Any, 1, FaultKind::After),
                FaultSpec::new(Step::GetObject, Target::Any, 1, FaultKind::Delay),
            ],
            Duration::from_millis(50),
        );
        let store = Faulty::new(MemoryStore::default(), plan.clone());
        let body = || Bytes::from_static(b"x");
        // Call 1 of every PutObject: after the effect.
        let err = store.put("b", "raw/1", body(), "t").await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(store.inner().head("b", "raw/1").await.unwrap().is_some());
        // curated/ call 1 goes through, call 2 fails before the effect.
        store.put("b", "curated/1", body(), "t").await.unwrap();
        assert!(store.put("b", "curated/2", body(), "t").await.is_err());
        assert!(store
            .inner()
            .head("b", "curated/2")
            .await
            .unwrap()
            .is_none());
        store.put("b", "curated/3", body(), "t").await.unwrap();
        // A delayed get still answers (no deadline here), late.
        let started = std::time::Instant::now();
        store.get("b", "raw/1").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        plan.settle().await;
        assert_eq!(plan.fired().len(), 3, "{:?}", plan.fired());
        assert!(plan.unfired().is_empty());
        assert_eq!(plan.calls()[&Step::PutObject], 4);
    }

    #[tokio::test]
    async fn a_delayed_effect_lands_after_its_caller_gave_up() {
        let plan = FaultPlan::new(
            vec![FaultSpec::new(
                Step::PutObject,
                Target::Any,
                1,
                FaultKind::Delay,
            )],
            Duration::from_millis(200),
        );
        let store = Faulty::new(MemoryStore::default(), plan.clone());
        let put = store.put("b", "k", Bytes::from_static(b"x"), "t");
        assert!(tokio::time::timeout(Duration::from_millis(20), put)
            .await
            .is_err());
        assert!(store.inner().head("b", "k").await.unwrap().is_none());
        assert!(plan.pending());
        plan.settle().await;
        assert!(store.inner().head("b", "k").await.unwrap().is_some());
    }

    #[test]
    fn seeded_plans_repeat_and_faults_on_the_same_call_take_turns() {
        let faults = [
            (Step::Load, Target::Any, FaultKind::Before),
            (Step::Load, Target::Any, FaultKind::After),
        ];
        let a = FaultPlan::seeded(7, &faults, 1..=1, Duration::ZERO);
        assert_eq!(
            a.specs(),
            FaultPlan::seeded(7, &faults, 1..=1, Duration::ZERO).specs()
        );
        assert_eq!(
            a.trip(Step::Load, "t").map(|(k, _)| k),
            Some(FaultKind::Before)
        );
        assert_eq!(
            a.trip(Step::Load, "t").map(|(k, _)| k),
            Some(FaultKind::After)
        );
        assert_eq!(a.trip(Step::Load, "t"), None);
        let d = FaultPlan::new(
            vec![FaultSpec::new(
                Step::DeleteMessage,
                Target::Is("q".into()),
                1,
                FaultKind::Delay,
            )],
            Duration::ZERO,
        );
        assert_eq!(d.trip(Step::DeleteMessage, "q-dlq"), None);
        let (kind, note) = d.trip(Step::DeleteMessage, "q").unwrap();
        assert_eq!(kind, FaultKind::After);
        assert!(!note.is_empty());
        let lasting = FaultPlan::new(
            vec![
                FaultSpec::new(Step::Load, Target::Any, 2, FaultKind::Before).until_healed(),
                FaultSpec::new(Step::List, Target::Any, 1, FaultKind::Before),
            ],
            Duration::ZERO,
        );
        assert_eq!(lasting.trip(Step::Load, "t"), None);
        for _ in 0..5 {
            assert!(lasting.trip(Step::Load, "t").is_some());
        }
        lasting.heal();
        assert_eq!(lasting.trip(Step::Load, "t"), None);
        // Healing ends the lasting faults only.
        assert!(lasting.trip(Step::List, "b/p").is_some());
        assert_eq!(lasting.fired().len(), 6);
    }
}
