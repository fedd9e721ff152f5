//! A worker: one OS thread with a single-threaded runtime running its share of the VUs (VU `i`
//! belongs to worker `i mod workers`; an open model's rate is split evenly). VUs share the
//! worker's recorder without locks; once a second the worker reports that second to the
//! coordinator, and at the end its whole summary, which the coordinator merges.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    sync::{Arc, Barrier, OnceLock, mpsc},
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::{task::LocalSet, time::Instant};

use crate::{
    plan::Plan,
    scenario::Model,
    stages::target_at,
    stats::{Recorder, Second, Summary},
    vu::{Aborts, Vu},
};

/// The open model's VU pool when the scenario names none.
const DEFAULT_MAX_VUS: u32 = 1_000;

/// A worker's report of one second.
pub struct Tick {
    pub second: Second,
    pub histogram: Histogram<u64>,
}

/// What a worker hands back at the end.
pub struct WorkerOutput {
    pub summary: Summary,
    pub aborts: Aborts,
}

struct Shared {
    plan: Arc<Plan>,
    recorder: RefCell<Recorder>,
    aborts: RefCell<Aborts>,
    /// VUs busy or queued now.
    busy: Cell<u64>,
    /// The second of the run the recorder's interval counters belong to.
    next_second: Cell<u64>,
}

/// How workers agree on the start: each sets up its VUs (when the scenario asks for it), waits at
/// `ready`, the coordinator notes the start time, and all pass `go` together.
pub struct StartLine {
    pub ready: Barrier,
    pub go: Barrier,
    pub start: OnceLock<std::time::Instant>,
}

/// Runs worker `index` of `count` until the scenario ends.
pub fn run(
    plan: Arc<Plan>,
    index: u64,
    count: u64,
    line: Arc<StartLine>,
    ticks: mpsc::Sender<Tick>,
) -> std::io::Result<WorkerOutput> {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            // Still meet the others at the start line, or they would wait for this worker forever.
            line.ready.wait();
            line.go.wait();
            return Err(e);
        }
    };
    let local = LocalSet::new();
    let shared = Rc::new(Shared {
        recorder: RefCell::new(Recorder::new(&plan.step_names)),
        aborts: RefCell::new(Aborts::new()),
        busy: Cell::new(0),
        next_second: Cell::new(0),
        plan,
    });
    local.block_on(&runtime, async {
        let prepared = if shared.plan.scenario.setup.before_start {
            prelude(&shared, index, count).await
        } else {
            Vec::new()
        };
        // What the prelude recorded belongs to no second of the run.
        let _ = shared.recorder.borrow_mut().take_second(0, 0);
        // Nothing else runs on this thread while it waits, so blocking here costs nothing.
        line.ready.wait();
        line.go.wait();
        let start = Instant::from_std(line.start.get().copied().unwrap_or_else(std::time::Instant::now));
        let ticks_after = ticks.clone();
        let ticker = tokio::task::spawn_local(tick_every_second(shared.clone(), start, ticks));
        match shared.plan.scenario.load.model {
            Model::Closed => closed(shared.clone(), index, count, start, prepared).await,
            Model::Open => open(shared.clone(), index, count, start, prepared).await,
        }
        ticker.abort();
        // The last, partial second (and the graceful stop) belongs in the timeline too.
        report_second(&shared, &ticks_after);
    });
    drop(local);
    let shared = Rc::try_unwrap(shared).map_err(|_| std::io::Error::other("a VU outlived its worker"))?;
    Ok(WorkerOutput {
        summary: shared.recorder.into_inner().into_summary(),
        aborts: shared.aborts.into_inner(),
    })
}

/// The global VU numbers this worker will use: the closed model's up to its peak, the open
/// model's pool.
fn my_vus(shared: &Shared, index: u64, count: u64) -> Vec<u64> {
    let load = &shared.plan.scenario.load;
    let wanted = match load.model {
        Model::Closed => shared.plan.scenario.peak().floor() as u64,
        Model::Open => u64::from(load.max_vus.unwrap_or(DEFAULT_MAX_VUS)),
    };
    (index..wanted).step_by(count as usize).collect()
}

/// Sets up (logs in) this worker's VUs before the run, a few at a time.
async fn prelude(shared: &Rc<Shared>, index: u64, count: u64) -> Vec<Vu> {
    let at_once = (shared.plan.scenario.setup.concurrency as u64 / count).max(1) as usize;
    let limit = Rc::new(tokio::sync::Semaphore::new(at_once));
    let tasks: Vec<_> = my_vus(shared, index, count)
        .into_iter()
        .map(|g| {
            let (shared, limit) = (shared.clone(), limit.clone());
            tokio::task::spawn_local(async move {
                let _slot = limit.acquire().await;
                let mut vu = Vu::new(&shared.plan, g);
                vu.set_up(&shared.plan, &shared.recorder, &shared.aborts).await;
                vu
            })
        })
        .collect();
    let mut vus = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(vu) = task.await {
            vus.push(vu);
        }
    }
    vus
}

async fn tick_every_second(shared: Rc<Shared>, start: Instant, ticks: mpsc::Sender<Tick>) {
    loop {
        let t = shared.next_second.get();
        tokio::time::sleep_until(start + Duration::from_secs(t + 1)).await;
        if !report_second(&shared, &ticks) {
            return;
        }
    }
}

/// Sends the current second to the coordinator and moves on to the next; false once it is gone.
fn report_second(shared: &Shared, ticks: &mpsc::Sender<Tick>) -> bool {
    let t = shared.next_second.get();
    let mut recorder = shared.recorder.borrow_mut();
    let (second, histogram) = recorder.take_second(t, shared.busy.get());
    if t + 1 == shared.plan.warmup.as_secs() {
        recorder.discard_totals();
    }
    drop(recorder);
    shared.next_second.set(t + 1);
    ticks.send(Tick { second, histogram }).is_ok()
}

/// Waits for in-flight iterations up to the graceful stop; the rest are cancelled with the runtime.
async fn drain(shared: &Shared) {
    let deadline = Instant::now() + shared.plan.scenario.load.graceful_stop;
    while shared.busy.get() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Closed model: VU `g` runs while `g` < the target, looping iterations back to back.
async fn closed(shared: Rc<Shared>, index: u64, count: u64, start: Instant, prepared: Vec<Vu>) {
    let load = &shared.plan.scenario.load;
    let end = start + shared.plan.scenario.duration();
    let target = Rc::new(Cell::new(0.0));
    let stopping = Rc::new(Cell::new(false));
    let running_flags: Rc<RefCell<Vec<bool>>> = Rc::new(RefCell::new(Vec::new()));
    // Prepared VUs, by slot (global number / workers); a slot's VU is taken when it first starts.
    let prepared: Rc<RefCell<Vec<Option<Vu>>>> = Rc::new(RefCell::new(prepared.into_iter().map(Some).collect()));
    while Instant::now() < end {
        target.set(target_at(load.start, &load.stages, Instant::now() - start));
        start_vus(&shared, &running_flags, &prepared, &target, &stopping, index, count);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stopping.set(true);
    drain(&shared).await;
}

/// Starts this worker's VUs below the target that are not running yet.
fn start_vus(
    shared: &Rc<Shared>,
    flags: &Rc<RefCell<Vec<bool>>>,
    prepared: &Rc<RefCell<Vec<Option<Vu>>>>,
    target: &Rc<Cell<f64>>,
    stopping: &Rc<Cell<bool>>,
    index: u64,
    count: u64,
) {
    let wanted = target.get().floor() as u64;
    let mut running = flags.borrow_mut();
    let mut g = index;
    while g < wanted {
        let slot = (g / count) as usize;
        if running.len() <= slot {
            running.resize(slot + 1, false);
        }
        if !running[slot] {
            running[slot] = true;
            let vu = prepared
                .borrow_mut()
                .get_mut(slot)
                .and_then(Option::take)
                .unwrap_or_else(|| Vu::new(&shared.plan, g));
            tokio::task::spawn_local(closed_vu(
                vu,
                shared.clone(),
                g,
                slot,
                target.clone(),
                stopping.clone(),
                flags.clone(),
            ));
        }
        g += count;
    }
}

async fn closed_vu(
    mut vu: Vu,
    shared: Rc<Shared>,
    g: u64,
    slot: usize,
    target: Rc<Cell<f64>>,
    stopping: Rc<Cell<bool>>,
    flags: Rc<RefCell<Vec<bool>>>,
) {
    while !stopping.get() && (g as f64) < target.get().floor() {
        shared.busy.set(shared.busy.get() + 1);
        let sent = vu
            .iteration(&shared.plan, &shared.recorder, &shared.aborts, Instant::now())
            .await;
        shared.busy.set(shared.busy.get() - 1);
        if !sent {
            // An iteration that failed before sending anything (a variable a failed login never
            // set) would otherwise spin without yielding and starve this worker; back off.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if let Some(flag) = flags.borrow_mut().get_mut(slot) {
        *flag = false;
    }
}

/// The open model's state: idle VUs, VUs created, and arrivals waiting for a VU.
struct Pool {
    idle: Vec<Vu>,
    created: u64,
    max: u64,
    max_waiting: u64,
    /// Intended start times of arrivals that found every VU busy; they start late and their
    /// latency shows it (wrk2's correction). When `max_waiting` are waiting, arrivals are dropped.
    waiting: VecDeque<Instant>,
}

/// Open model: arrivals at the target rate (this worker's share), each an iteration on a free VU.
async fn open(shared: Rc<Shared>, index: u64, count: u64, start: Instant, prepared: Vec<Vu>) {
    let load = &shared.plan.scenario.load;
    let end = start + shared.plan.scenario.duration();
    let max_vus = u64::from(load.max_vus.unwrap_or(DEFAULT_MAX_VUS));
    let share = |total: u64| (total / count + u64::from(index < total % count)).max(1);
    let max_waiting = share(u64::from(load.max_waiting));
    let created = prepared.len() as u64;
    let pool = Rc::new(RefCell::new(Pool {
        idle: prepared,
        created,
        max: share(max_vus),
        max_waiting,
        waiting: VecDeque::new(),
    }));
    let mut next = start;
    while next < end {
        tokio::time::sleep_until(next).await;
        dispatch(&shared, &pool, index, count, next);
        let rate = target_at(load.start, &load.stages, next - start) / count as f64;
        // With no arrivals due, look again shortly: the rate may ramp up.
        next += if rate > 0.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            Duration::from_millis(10)
        };
    }
    let abandoned = pool.borrow_mut().waiting.drain(..).count();
    for _ in 0..abandoned {
        shared.recorder.borrow_mut().iteration_dropped();
    }
    drain(&shared).await;
}

fn dispatch(shared: &Rc<Shared>, pool: &Rc<RefCell<Pool>>, index: u64, count: u64, intended: Instant) {
    let mut p = pool.borrow_mut();
    let vu = match p.idle.pop() {
        Some(vu) => Some(vu),
        None if p.created < p.max => {
            p.created += 1;
            Some(Vu::new(&shared.plan, index + (p.created - 1) * count))
        }
        None => None,
    };
    match vu {
        Some(vu) => {
            drop(p);
            shared.busy.set(shared.busy.get() + 1);
            tokio::task::spawn_local(open_vu(shared.clone(), pool.clone(), vu, intended));
        }
        None if (p.waiting.len() as u64) < p.max_waiting => p.waiting.push_back(intended),
        None => shared.recorder.borrow_mut().iteration_dropped(),
    }
}

async fn open_vu(shared: Rc<Shared>, pool: Rc<RefCell<Pool>>, mut vu: Vu, mut intended: Instant) {
    loop {
        let _sent = vu
            .iteration(&shared.plan, &shared.recorder, &shared.aborts, intended)
            .await;
        let next = pool.borrow_mut().waiting.pop_front();
        match next {
            Some(waiting) => intended = waiting,
            None => break,
        }
    }
    shared.busy.set(shared.busy.get() - 1);
    pool.borrow_mut().idle.push(vu);
}
