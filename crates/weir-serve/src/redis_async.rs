//! Lambda's asynchronous invocation queue on Redis, so an accepted `Event` invocation
//! survives a restart of weir (and one of Redis as far as Redis's own persistence keeps its
//! data), and several weir processes share the work.
//!
//! An accepted event is a hash entry (its function, payload, age and attempts) and a member
//! of a sorted set of due times. A worker claims due events atomically (moving them to an
//! in-flight set whose score is a lease deadline), invokes the function synchronously, and
//! then deletes the event, or puts it back due later: a function error 1 minute, then 2
//! minutes later, up to `MaximumRetryAttempts`; a throttle, a not-ready function or an
//! invoker's service error (5xx) with a doubling backoff (1 s to 5 min) that does not count as
//! a retry. A worker meeting Redis errors waits 100 ms, doubling to 5 s, between claims. An event whose worker died comes back when its lease passes. An
//! event older than `MaximumEventAgeInSeconds`, or out of retries, is discarded with Lambda's
//! invocation record on the on-failure destination (a Redis stream); a success's record goes
//! to the on-success destination.
//!
//! Each claim writes its own token beside the event (the hash `PREFIX:owners`, id -> token),
//! and only the holder of the current token renews, retries, releases or finishes the event.
//! A worker whose lease passed (stalled, cut off from Redis) and whose event another worker
//! claimed since changes nothing when it comes back: its renewal, retry, release and finish
//! (with its record) are dropped, and the event stays with the new claim, which runs it and
//! ends it (at least once: the event may run twice, it is never lost).
//!
//! Every due time, lease deadline and event age is on Redis's clock: the Lua scripts that
//! store, claim, retry, renew and release events read `TIME` themselves (weir sends them
//! durations, never a time), so weir processes whose clocks disagree share one clock; a process's own clock only timestamps invocation
//! records ([`RedisAsyncQueue::with_clock`]).
//!
//! An event queued through the invocation layer ([`weir_route::EventQueue`], a `weir.toml`
//! function with `Weir.Redis`) carries its function's `EventInvokeConfig` (retries, event
//! age, retry delays), and its end is handed back to the invoker
//! ([`Invoker::complete_event`]: the layer's [`weir_route::Router::complete_event`]), which
//! sends Lambda's record to the function's own destinations: a queue or stream on Redis or in
//! memory, a function or an event bus.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::RedisError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use weir_route::{Attempt, Outcome};

use crate::aws::new_id;
use crate::functions::{InvocationType, Invoker};
use crate::redis_queue::connect;

/// The queue's settings (Lambda's `EventInvokeConfig`, plus where it lives in Redis).
///
/// # Example
/// ```
/// let c = weir_serve::RedisAsyncConfig::new("weir:async");
/// assert_eq!(c.maximum_retry_attempts, 2);
/// assert_eq!(c.retry_delays, [std::time::Duration::from_secs(60), std::time::Duration::from_secs(120)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisAsyncConfig {
    /// The prefix of the queue's Redis keys.
    pub prefix: String,
    /// `MaximumRetryAttempts` (0-2, default 2).
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds` (60 s - 6 h, default 6 h).
    pub maximum_event_age: Duration,
    /// The waits before the first and the second retry (Lambda: 1 and 2 minutes).
    pub retry_delays: [Duration; 2],
    /// How long a claimed event is held before another worker may take it; renewed every
    /// third of it while the event runs.
    pub lease: Duration,
    /// How long [`RedisAsyncQueue::run`], told to stop, lets the events it is running end;
    /// those still running then are put back, due at once, for the next worker.
    pub stop_grace: Duration,
    /// The Redis stream receiving the invocation records of successes.
    pub on_success: Option<String>,
    /// The Redis stream receiving the invocation records of discarded events.
    pub on_failure: Option<String>,
}

impl RedisAsyncConfig {
    /// Lambda's defaults, keys under `prefix`, a 30-second lease, 10 seconds' grace at a stop.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir_serve::RedisAsyncConfig::new("p").lease.as_secs(), 30);
    /// ```
    pub fn new(prefix: impl Into<String>) -> RedisAsyncConfig {
        RedisAsyncConfig {
            prefix: prefix.into(),
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            retry_delays: [Duration::from_secs(60), Duration::from_secs(120)],
            lease: Duration::from_secs(30),
            stop_grace: Duration::from_secs(10),
            on_success: None,
            on_failure: None,
        }
    }
}

/// One queued event, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    /// When Redis took the event (its clock); first, so the store script can set it.
    received_ms: u64,
    function: String,
    payload: String,
    invokes: u32,
    failures: u32,
    throttles: u32,
    last_error: Option<String>,
    /// The last function error's `errorType` and `errorMessage` (with `last_error`, its
    /// payload): an event discarded for its age after a failed attempt still carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error_kind: Option<(String, String)>,
    /// The function's settings when the event was accepted (the queue's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settings: Option<Settings>,
}

impl Item {
    /// The last attempt's function error, as stored (none before any failed attempt).
    fn last_outcome(&self) -> Option<Outcome> {
        let payload = self.last_error.as_ref()?;
        let (error_type, message) = self.last_error_kind.clone().unwrap_or_default();
        Some(Outcome::Error(weir_route::FunctionError::with_payload(
            error_type,
            message,
            payload.clone().into_bytes(),
        )))
    }
}

/// An event's own `EventInvokeConfig`; its end goes to the invoker's destinations.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Settings {
    maximum_retry_attempts: u32,
    maximum_event_age_ms: u64,
    retry_delays_ms: [u64; 2],
}

/// Redis's clock in milliseconds, in a script: every due time and lease deadline is on it,
/// whichever process (and whatever its clock) writes or reads them.
const NOW: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// Claims up to ARGV[2] due events under the claim's token ARGV[3]: expired in-flight leases
/// come back first (their claims' tokens dropped). Answers Redis's time, then each event's id
/// and stored text.
/// KEYS: due, inflight, items, owners. ARGV: lease (ms), count, token.
const CLAIM: &str = r"
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
local out = {tostring(now)}
local deadline = now + tonumber(ARGV[1])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local item = redis.call('HGET', KEYS[3], id)
  if item then
    redis.call('ZADD', KEYS[2], deadline, id)
    redis.call('HSET', KEYS[4], id, ARGV[3])
    table.insert(out, id)
    table.insert(out, item)
  end
end
return out
";

/// Stores an accepted event, due now: its text is ARGV[2] with `received_ms` (written by
/// weir as the placeholder 0, the item's first field) set to Redis's time.
/// KEYS: items, due. ARGV: id, text.
const STORE: &str = r#"
local text = string.gsub(ARGV[2], '^{"received_ms":0,', '{"received_ms":' .. tostring(now) .. ',', 1)
redis.call('HSET', KEYS[1], ARGV[1], text)
redis.call('ZADD', KEYS[2], now, ARGV[1])
return tostring(now)
"#;

/// Puts an event back due ARGV[3] ms from now (never past the end of its age: its
/// `received_ms`, read from its new text ARGV[2], plus ARGV[4] ms), with that text, if it is
/// still claimed under token ARGV[5]; answers 1, or 0 (nothing changed) when another claim
/// holds it now. No argument is a time: weir sends only durations.
/// KEYS: items, inflight, due, owners. ARGV: id, text, delay, maximum age, token.
const RETRY: &str = r#"
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[5] then
  return 0
end
local received = tonumber(string.match(ARGV[2], '^{"received_ms":(%d+),')) or now
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], math.min(now + tonumber(ARGV[3]), received + tonumber(ARGV[4])), ARGV[1])
return 1
"#;

/// Pushes a running event's lease to ARGV[2] ms from now, if it is still in flight under
/// token ARGV[3]. KEYS: inflight, owners. ARGV: id, lease, token.
const RENEW: &str = r"
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then
  return 0
end
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
";

/// Deletes an event claimed under token ARGV[2], and adds its record ARGV[3] (when given) to
/// the stream KEYS[4] in the same step; answers 1, or 0 (nothing changed, no record) when
/// another claim holds the event now.
/// KEYS: inflight, items, owners, [stream]. ARGV: id, token, [record].
const FINISH: &str = r"
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if KEYS[4] then
  redis.call('XADD', KEYS[4], '*', 'record', ARGV[3])
end
return 1
";

/// A script on Redis's clock (`now`).
fn timed(body: &str) -> redis::Script {
    redis::Script::new(&format!("{NOW}{body}"))
}

/// Puts claimed events still in flight under token ARGV[1] back, due at once; events already
/// finished (or claimed again by another worker after their lease) are left alone.
/// KEYS: inflight, due, owners. ARGV: token, ids...
const RELEASE: &str = r"
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
    if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
      redis.call('ZADD', KEYS[2], now, ARGV[i])
    end
  end
end
return 0
";

/// The asynchronous invocation queue on Redis (cheap to clone).
///
/// # Example
/// ```no_run
/// # async fn demo(router: weir_route::Router) -> Result<(), redis::RedisError> {
/// let queue = weir_serve::RedisAsyncQueue::connect("redis://127.0.0.1:7000/", weir_serve::RedisAsyncConfig::new("weir:async")).await?;
/// let request_id = queue.enqueue("f", b"{}").await?;
/// queue.work_once(&router, 10).await?;
/// # let _ = request_id; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisAsyncQueue {
    conn: ConnectionManager,
    config: Arc<RedisAsyncConfig>,
    /// This process's clock: only the invocation records' `timestamp` (due times, leases
    /// and ages are on Redis's clock).
    clock: Arc<dyn weir_route::Clock>,
    /// Since when storing events has failed (none stored since), shared by the clones.
    store_failures: Arc<std::sync::Mutex<Option<StoreFailures>>>,
}

/// Stores failing in a row: when the first and the last failed, and the last error.
#[derive(Debug, Clone)]
struct StoreFailures {
    since: std::time::Instant,
    last: std::time::Instant,
    error: String,
}

/// Claimed events: Redis's time at the claim, the claim's token, and each event's id and
/// stored text.
struct Claimed {
    now: u64,
    token: String,
    events: Vec<(String, String)>,
}

/// What happened to one claimed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Done,
    Retry(u64),
    Discarded,
}

impl RedisAsyncQueue {
    /// Connects to the queue at `url`.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let q = weir_serve::RedisAsyncQueue::connect("redis://127.0.0.1:7000/", weir_serve::RedisAsyncConfig::new("a")).await?;
    /// # let _ = q; Ok(()) }
    /// ```
    pub async fn connect(
        url: &str,
        config: RedisAsyncConfig,
    ) -> Result<RedisAsyncQueue, RedisError> {
        Ok(RedisAsyncQueue {
            conn: connect(url).await?,
            config: Arc::new(config),
            clock: Arc::new(weir_route::TokioClock::new()),
            store_failures: Arc::default(),
        })
    }

    /// This queue with `clock` for its invocation records' timestamps. Due times, leases and
    /// event ages are on Redis's clock (`TIME`, read in the scripts that write and claim
    /// them), so processes whose clocks disagree still agree on them.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue) {
    /// let q = q.with_clock(std::sync::Arc::new(weir_route::TokioClock::starting_at(0)));
    /// # let _ = q; }
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn weir_route::Clock>) -> RedisAsyncQueue {
        self.clock = clock;
        self
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.config.prefix)
    }

    /// Accepts an event for `function`; answers its request id. Once this returns, Redis has
    /// acknowledged the event: it is in Redis's memory, and on disk only as far as Redis's
    /// persistence settings (`appendonly`, `appendfsync`, `save`) have put it there.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue) -> Result<(), redis::RedisError> {
    /// let id = q.enqueue("f", br#"{"a": 1}"#).await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn enqueue(&self, function: &str, payload: &[u8]) -> Result<String, RedisError> {
        self.store(function, payload, None).await
    }

    /// Accepts an event with its function's settings (retries, event age, retry delays);
    /// its end is handed to the invoker's [`Invoker::complete_event`] (the invocation
    /// layer's destinations) instead of this queue's `on_success` / `on_failure`.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue) -> Result<(), redis::RedisError> {
    /// let mut event = weir_route::QueuedEvent::new("f", br#"{"a": 1}"#.to_vec());
    /// event.maximum_retry_attempts = 0;
    /// let id = q.enqueue_event(&event).await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn enqueue_event(
        &self,
        event: &weir_route::QueuedEvent,
    ) -> Result<String, RedisError> {
        let millis = |d: Duration| d.as_millis() as u64;
        let settings = Settings {
            maximum_retry_attempts: event.maximum_retry_attempts,
            maximum_event_age_ms: millis(event.maximum_event_age),
            retry_delays_ms: [millis(event.retry_delays[0]), millis(event.retry_delays[1])],
        };
        self.store(&event.function, &event.payload, Some(settings))
            .await
    }

    async fn store(
        &self,
        function: &str,
        payload: &[u8],
        settings: Option<Settings>,
    ) -> Result<String, RedisError> {
        let id = new_id();
        // received_ms first, as a placeholder the script sets to Redis's time.
        let item = Item {
            received_ms: 0,
            function: function.to_string(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            invokes: 0,
            failures: 0,
            throttles: 0,
            last_error: None,
            last_error_kind: None,
            settings,
        };
        let text = serde_json::to_string(&item).unwrap_or_default();
        let stored: Result<String, RedisError> = timed(STORE)
            .key(self.key("items"))
            .key(self.key("due"))
            .arg(&id)
            .arg(text)
            .invoke_async(&mut self.conn.clone())
            .await;
        let mut failures = self
            .store_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match stored {
            Ok(_) => {
                *failures = None;
                Ok(id)
            }
            Err(e) => {
                let now = std::time::Instant::now();
                let since = failures.as_ref().map_or(now, |f| f.since);
                *failures = Some(StoreFailures {
                    since,
                    last: now,
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// The last error storing an event, when this queue's stores (its clones' too) have
    /// failed for at least `patience` with none stored since, and one failed within the last
    /// `patience` (someone still tries): a Redis that answers reads but refuses writes
    /// (`MISCONF`, `OOM` under `noeviction`, `READONLY`, `NOREPLICAS`) shows here, where
    /// [`RedisAsyncQueue::pending`] still answers.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(q: weir_serve::RedisAsyncQueue) {
    /// if let Some(error) = q.refusing_events(std::time::Duration::from_secs(10)) {
    ///     eprintln!("Redis refuses events: {error}");
    /// }
    /// # }
    /// ```
    pub fn refusing_events(&self, patience: Duration) -> Option<String> {
        let failures = self
            .store_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let failures = failures.as_ref()?;
        (failures.since.elapsed() >= patience && failures.last.elapsed() < patience)
            .then(|| failures.error.clone())
    }

    /// Events accepted and not yet finished (due, waiting for a retry, or in flight).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue) -> Result<(), redis::RedisError> {
    /// let n = q.pending().await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn pending(&self) -> Result<usize, RedisError> {
        redis::cmd("HLEN")
            .arg(self.key("items"))
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Whether the event `request_id` is still accepted and not finished (due, waiting for a
    /// retry, or running).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue) -> Result<(), redis::RedisError> {
    /// let id = q.enqueue("f", b"{}").await?;
    /// assert!(q.is_pending(&id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn is_pending(&self, request_id: &str) -> Result<bool, RedisError> {
        redis::cmd("HEXISTS")
            .arg(self.key("items"))
            .arg(request_id)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Claims up to `max` due events and runs them (concurrently) through `invoker`;
    /// answers how many were claimed.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue, router: weir_route::Router) -> Result<(), redis::RedisError> {
    /// let n = q.work_once(&router, 10).await?;
    /// # let _ = n; Ok(()) }
    /// ```
    pub async fn work_once(&self, invoker: &dyn Invoker, max: usize) -> Result<usize, RedisError> {
        let claimed = self.claim(max).await?;
        self.run_claimed(invoker, &claimed).await?;
        Ok(claimed.events.len())
    }

    /// Claims up to `max` due events.
    async fn claim(&self, max: usize) -> Result<Claimed, RedisError> {
        let token = new_id();
        let reply: Vec<String> = timed(CLAIM)
            .key(self.key("due"))
            .key(self.key("inflight"))
            .key(self.key("items"))
            .key(self.key("owners"))
            .arg(self.config.lease.as_millis() as u64)
            .arg(max.max(1))
            .arg(&token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let now = reply.first().and_then(|t| t.parse().ok()).unwrap_or(0);
        let events = reply
            .get(1..)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|pair| Some((pair.first()?.clone(), pair.get(1)?.clone())))
            .collect();
        Ok(Claimed { now, token, events })
    }

    /// Runs claimed events (concurrently) through `invoker`.
    async fn run_claimed(
        &self,
        invoker: &dyn Invoker,
        claimed: &Claimed,
    ) -> Result<(), RedisError> {
        let (now, token) = (claimed.now, claimed.token.as_str());
        let runs = claimed.events.iter().map(|(id, text)| async move {
            let run = async {
                match serde_json::from_str::<Item>(text) {
                    Ok(item) => self.run_one(invoker, id, token, item, now).await,
                    // Not an item weir wrote: dropped, so it cannot block the queue.
                    Err(_) => self.finish(id, token, None).await,
                }
            };
            // The lease is renewed while the event runs, so it can be short: a worker
            // that dies (or a claim whose answer was lost) lets the event go again after
            // one lease.
            tokio::select! {
                result = run => result,
                _ = self.renew(id, token) => Ok(()),
            }
        });
        for result in join_all(runs).await {
            result?;
        }
        Ok(())
    }

    /// Puts the events `ids` claimed under `token` that are still in flight under it back,
    /// due now (their attempt was cut short: it does not count).
    async fn release(&self, ids: &[&str], token: &str) -> Result<(), RedisError> {
        let script = timed(RELEASE);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("inflight"))
            .key(self.key("due"))
            .key(self.key("owners"))
            .arg(token);
        for id in ids {
            invocation.arg(*id);
        }
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Pushes `id`'s lease forward every third of a lease, forever (until dropped), while
    /// the claim `token` holds it.
    async fn renew(&self, id: &str, token: &str) {
        loop {
            tokio::time::sleep(self.config.lease / 3).await;
            let _ = self.renew_once(id, token).await;
        }
    }

    /// Pushes `id`'s lease one lease from now, if the claim `token` still holds it.
    async fn renew_once(&self, id: &str, token: &str) -> Result<(), RedisError> {
        let _: i64 = timed(RENEW)
            .key(self.key("inflight"))
            .key(self.key("owners"))
            .arg(id)
            .arg(self.config.lease.as_millis() as u64)
            .arg(token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Puts `id` (claimed under `token`) back with its new text, due `delay` ms from now but
    /// never past `max_age` ms after it was received, if the claim still holds it.
    async fn retry(
        &self,
        id: &str,
        token: &str,
        item: &Item,
        delay: u64,
        max_age: u64,
    ) -> Result<(), RedisError> {
        let _: i64 = timed(RETRY)
            .key(self.key("items"))
            .key(self.key("inflight"))
            .key(self.key("due"))
            .key(self.key("owners"))
            .arg(id)
            .arg(serde_json::to_string(item).unwrap_or_default())
            .arg(delay)
            .arg(max_age)
            .arg(token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn run_one(
        &self,
        invoker: &dyn Invoker,
        id: &str,
        token: &str,
        mut item: Item,
        now: u64,
    ) -> Result<(), RedisError> {
        let config = &self.config;
        let (max_retries, max_age, delays) = match item.settings {
            Some(s) => (
                s.maximum_retry_attempts,
                s.maximum_event_age_ms,
                s.retry_delays_ms,
            ),
            None => (
                config.maximum_retry_attempts,
                config.maximum_event_age.as_millis() as u64,
                config.retry_delays.map(|d| d.as_millis() as u64),
            ),
        };
        // The event's age when claimed, on Redis's clock.
        let age = now.saturating_sub(item.received_ms);
        let (fate, condition, response) = if age >= max_age {
            // The record carries the last attempt's error, when there was one.
            (Fate::Discarded, "EventAgeExceeded", item.last_outcome())
        } else {
            // Every attempt runs with the event's own request id (the one Invoke answered,
            // and its record's requestContext.requestId), as in memory.
            let result = invoker
                .attempt(&item.function, item.payload.clone().into_bytes(), id)
                .await;
            match result {
                Ok(Attempt::Ran(Outcome::Success(body))) => {
                    item.invokes += 1;
                    (Fate::Done, "Success", Some(Outcome::Success(body)))
                }
                Ok(Attempt::Ran(outcome)) => {
                    item.invokes += 1;
                    if let Outcome::Error(e) = &outcome {
                        item.last_error = Some(String::from_utf8_lossy(&e.payload).into_owned());
                        item.last_error_kind =
                            Some((e.error_type.clone(), e.error_message.clone()));
                    }
                    if item.failures >= max_retries {
                        (Fate::Discarded, "RetriesExhausted", Some(outcome))
                    } else {
                        let delay = delays[(item.failures as usize).min(1)];
                        item.failures += 1;
                        (Fate::Retry(delay), "", Some(outcome))
                    }
                }
                Ok(Attempt::Throttled | Attempt::NotReady) => {
                    // Throttled or not ready: a backoff, not a retry.
                    let delay = throttle_backoff(item.throttles);
                    item.throttles += 1;
                    (Fate::Retry(delay), "", None)
                }
                Err(e) if e.status == 429 || e.status == 409 || e.status >= 500 => {
                    // Throttled, not ready, or a service error (5xx, which may pass): a
                    // backoff, not a retry, bounded by the event's age.
                    let delay = throttle_backoff(item.throttles);
                    item.throttles += 1;
                    (Fate::Retry(delay), "", None)
                }
                // The function is gone (or the event is refused): nothing can run it.
                Err(_) => (Fate::Discarded, "RetriesExhausted", None),
            }
        };
        // An event queued by the invocation layer ends at its function's own destinations.
        if !matches!(fate, Fate::Retry(_)) && item.settings.is_some() {
            let result = weir_route::EventResult::new(
                id,
                condition,
                item.invokes,
                item.payload.clone().into_bytes(),
                response.clone(),
            );
            if let Some(sent) = invoker.complete_event(&item.function, result) {
                // The record is written before the event is deleted: a worker that dies in
                // between sends it again (at least once).
                sent.await;
                return self.finish(id, token, None).await;
            }
        }
        match fate {
            Fate::Retry(delay) => {
                // A wait never runs past the event's age limit.
                self.retry(id, token, &item, delay, max_age).await
            }
            Fate::Done => {
                let record = config.on_success.as_ref().map(|to| {
                    (
                        to,
                        self.record(invoker, id, &item, condition, response.as_ref()),
                    )
                });
                self.finish(id, token, record).await
            }
            Fate::Discarded => {
                let record = config.on_failure.as_ref().map(|to| {
                    (
                        to,
                        self.record(invoker, id, &item, condition, response.as_ref()),
                    )
                });
                self.finish(id, token, record).await
            }
        }
    }

    /// Deletes an event claimed under `token`, sending its record to a destination in the
    /// same step. A stale claim (its lease passed and another worker claimed the event since)
    /// changes nothing and sends no record: the event stays with the new claim, which ends it.
    async fn finish(
        &self,
        id: &str,
        token: &str,
        record: Option<(&String, Value)>,
    ) -> Result<(), RedisError> {
        let script = redis::Script::new(FINISH);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key("inflight"))
            .key(self.key("items"))
            .key(self.key("owners"))
            .arg(id)
            .arg(token);
        if let Some((stream, record)) = record {
            invocation.key(stream).arg(record.to_string());
        }
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Lambda's invocation record.
    fn record(
        &self,
        invoker: &dyn Invoker,
        id: &str,
        item: &Item,
        condition: &str,
        response: Option<&Outcome>,
    ) -> Value {
        let payload = |text: &str| {
            serde_json::from_str::<Value>(text).unwrap_or(Value::String(text.to_string()))
        };
        let mut record = json!({
            "version": "1.0",
            "timestamp": weir_route::clock::iso8601(self.clock.now_ms()),
            "requestContext": {
                "requestId": id,
                "functionArn": format!("{}:$LATEST", invoker.function_arn(&item.function)),
                "condition": condition,
                "approximateInvokeCount": item.invokes,
            },
            "requestPayload": payload(&item.payload),
        });
        match response {
            Some(Outcome::Success(body)) => {
                record["responseContext"] =
                    json!({"statusCode": 200, "executedVersion": "$LATEST"});
                if !body.is_empty() {
                    record["responsePayload"] = payload(&String::from_utf8_lossy(body));
                }
            }
            Some(Outcome::Error(e)) => {
                record["responseContext"] = json!({
                    "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled",
                });
                record["responsePayload"] = payload(&String::from_utf8_lossy(&e.payload));
            }
            _ => {}
        }
        record
    }

    /// Works until `stop` completes: claims due events, waits a little when there are none;
    /// Redis errors are waited out (100 ms after the first, doubling to at most 5 s). Once
    /// `stop` completes no event is claimed; the events running then get
    /// [`RedisAsyncConfig::stop_grace`] to end, and those still running after it are cut
    /// short and put back on Redis, due at once, for the next worker (the cut attempt counts
    /// for nothing: neither a retry nor a finished event).
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo(q: weir_serve::RedisAsyncQueue, router: weir_route::Router) {
    /// q.run(&router, tokio::time::sleep(std::time::Duration::from_secs(1))).await;
    /// # }
    /// ```
    pub async fn run(&self, invoker: &dyn Invoker, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut failures = 0u32;
        loop {
            // A claim is never cut short (its events would wait out a lease): it runs to
            // its answer (bounded by the connection's response timeout) once started.
            let stopped = tokio::select! {
                biased;
                _ = &mut stop => true,
                _ = std::future::ready(()) => false,
            };
            if stopped {
                return;
            }
            let claimed = match self.claim(16).await {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(_) => {
                    // Redis down or refusing: a doubling wait, so a worker does not hammer it.
                    let wait = redis_backoff(failures);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            if claimed.events.is_empty() {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
                }
            }
            // Boxed, so cutting the events short drops their attempts at once.
            let mut running = Box::pin(self.run_claimed(invoker, &claimed));
            let ran = tokio::select! {
                ran = &mut running => Some(ran),
                _ = &mut stop => None,
            };
            match ran {
                Some(Ok(())) => continue,
                // Redis failed while events ended: they come back after their lease; the
                // worker waits as after a failed claim.
                Some(Err(_)) => {
                    drop(running);
                    let wait = redis_backoff(failures);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
                None => {}
            }
            if tokio::time::timeout(self.config.stop_grace, &mut running)
                .await
                .is_err()
            {
                drop(running);
                let ids: Vec<&str> = claimed.events.iter().map(|(id, _)| id.as_str()).collect();
                // Unreleased (Redis gone), they come back after their lease.
                let _ = self.release(&ids, &claimed.token).await;
            }
            return;
        }
    }
}

/// The wait (ms) before the next attempt of an event throttled (or not ready, or refused by
/// a 5xx) `throttles` times before: 1 s, doubling, at most 5 minutes.
fn throttle_backoff(throttles: u32) -> u64 {
    (1000u64 << throttles.min(9)).min(300_000)
}

/// How long a worker waits after `failures` Redis errors in a row: 100 ms, doubling, at most
/// 5 s.
fn redis_backoff(failures: u32) -> Duration {
    (Duration::from_millis(100) * (1u32 << failures.min(6))).min(Duration::from_secs(5))
}

/// Runs futures concurrently, answering their outputs in order.
pub(crate) async fn join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..futures.len()).map(|_| None).collect();
    let mut futures: Vec<Option<_>> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// An [`Invoker`] whose `Event` invocations go to a [`RedisAsyncQueue`] (so they survive a
/// restart) after the same checks as a `DryRun`; the rest go to `inner`. Run the queue's
/// workers with [`RedisAsyncQueue::run`] over `inner`.
///
/// # Example
/// ```no_run
/// # async fn demo(q: weir_serve::RedisAsyncQueue) {
/// let durable = weir_serve::DurableInvoker::new(std::sync::Arc::new(weir_route::Router::new()), q);
/// # let _ = durable; }
/// ```
pub struct DurableInvoker {
    inner: Arc<dyn Invoker>,
    queue: RedisAsyncQueue,
}

impl DurableInvoker {
    /// Events of `inner`'s functions queued on `queue`.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(q: weir_serve::RedisAsyncQueue) {
    /// let d = weir_serve::DurableInvoker::new(std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1")), q);
    /// # let _ = d; }
    /// ```
    pub fn new(inner: Arc<dyn Invoker>, queue: RedisAsyncQueue) -> DurableInvoker {
        DurableInvoker { inner, queue }
    }
}

impl Invoker for DurableInvoker {
    fn function_arn(&self, name: &str) -> String {
        self.inner.function_arn(name)
    }

    fn exists(&self, name: &str) -> bool {
        self.inner.exists(name)
    }

    fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    fn timeout(&self, name: &str) -> Option<std::time::Duration> {
        self.inner.timeout(name)
    }

    fn complete_event(
        &self,
        name: &str,
        result: weir_route::EventResult,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
        self.inner.complete_event(name, result)
    }

    fn queues_events(&self, name: &str) -> bool {
        self.inner.queues_events(name)
    }

    fn attempt(&self, name: &str, payload: Vec<u8>, request_id: &str) -> crate::AttemptFuture {
        self.inner.attempt(name, payload, request_id)
    }

    fn invoke(&self, name: &str, kind: InvocationType, payload: Vec<u8>) -> crate::InvokeFuture {
        // A function whose events the inner invoker queues durably itself (with its own
        // settings and destinations) keeps them there.
        if kind != InvocationType::Event || self.inner.queues_events(name) {
            return self.inner.invoke(name, kind, payload);
        }
        let check = self
            .inner
            .invoke(name, InvocationType::DryRun, payload.clone());
        let queue = self.queue.clone();
        let name = name.to_string();
        Box::pin(async move {
            check.await?;
            queue.enqueue(&name, &payload).await.map_err(|e| {
                crate::InvokeError::new(
                    "ServiceException",
                    500,
                    format!("the asynchronous queue is unavailable: {e}"),
                )
            })?;
            Ok(None)
        })
    }
}

/// The invocation layer's `Event` invocations of a function on this queue (a `weir.toml`
/// function with `Weir.Redis`): stored with the function's settings, answered with their
/// request id once in Redis.
impl weir_route::EventQueue for RedisAsyncQueue {
    fn enqueue(&self, event: weir_route::QueuedEvent) -> weir_route::EnqueueFuture {
        let queue = self.clone();
        Box::pin(async move {
            queue
                .enqueue_event(&event)
                .await
                .map_err(|e| format!("Redis: {e}"))
        })
    }
}

/// The tests' own Redis servers.
#[cfg(test)]
#[path = "../tests/support/redis.rs"]
mod test_server;

#[cfg(test)]
mod tests {
    use super::test_server as server;
    use super::*;

    async fn queue(url: &str, lease: Duration) -> RedisAsyncQueue {
        let mut config = RedisAsyncConfig::new("weir:async");
        config.lease = lease;
        RedisAsyncQueue::connect(url, config).await.unwrap()
    }

    async fn query<T: redis::FromRedisValue>(q: &RedisAsyncQueue, cmd: &mut redis::Cmd) -> T {
        cmd.query_async(&mut q.conn.clone()).await.unwrap()
    }

    #[test]
    fn a_throttled_event_backs_off_from_1_s_doubling_to_5_minutes() {
        let delays: Vec<u64> = (0..12).map(throttle_backoff).collect();
        assert_eq!(
            delays,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
                300_000, 300_000
            ]
        );
        assert_eq!(throttle_backoff(u32::MAX), 300_000);
    }

    /// A worker whose lease passed and whose event another worker claimed since cannot
    /// release, renew, retry or finish that event: the second claim stays as it was, and
    /// only it ends the event.
    #[tokio::test]
    async fn a_stale_claim_leaves_the_event_to_the_claim_that_took_it_over() {
        let redis = server::Redis::start();
        let first = queue(&redis.url(), Duration::from_millis(200)).await;
        let second = queue(&redis.url(), Duration::from_secs(60)).await;
        let id = first.enqueue("f", b"{}").await.unwrap();
        let stale = first.claim(1).await.unwrap();
        assert_eq!(stale.events.len(), 1);
        // The first lease passes; the second worker takes the event over.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let current = loop {
            let claimed = second.claim(1).await.unwrap();
            if !claimed.events.is_empty() {
                break claimed;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the lease never passed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(current.events[0].0, id);
        let text = &current.events[0].1;
        let lease: u64 = query(
            &second,
            redis::cmd("ZSCORE").arg("weir:async:inflight").arg(&id),
        )
        .await;
        let unchanged = |first: &RedisAsyncQueue| {
            let (first, id, text) = (first.clone(), id.clone(), text.clone());
            async move {
                let score: Option<u64> = query(
                    &first,
                    redis::cmd("ZSCORE").arg("weir:async:inflight").arg(&id),
                )
                .await;
                assert_eq!(score, Some(lease), "the second claim's lease moved");
                let due: Option<u64> =
                    query(&first, redis::cmd("ZSCORE").arg("weir:async:due").arg(&id)).await;
                assert_eq!(due, None, "the event is due again while it runs");
                let stored: Option<String> =
                    query(&first, redis::cmd("HGET").arg("weir:async:items").arg(&id)).await;
                assert_eq!(
                    stored.as_ref(),
                    Some(&text),
                    "the event was changed or deleted"
                );
            }
        };
        // The stale worker comes back: each of its moves is dropped.
        first.release(&[id.as_str()], &stale.token).await.unwrap();
        unchanged(&first).await;
        first.renew_once(&id, &stale.token).await.unwrap();
        unchanged(&first).await;
        let mut item: Item = serde_json::from_str(&stale.events[0].1).unwrap();
        item.failures += 1;
        first
            .retry(&id, &stale.token, &item, 0, 60_000)
            .await
            .unwrap();
        unchanged(&first).await;
        let stream = "ok".to_string();
        first
            .finish(&id, &stale.token, Some((&stream, json!({"stale": true}))))
            .await
            .unwrap();
        unchanged(&first).await;
        let records: u64 = query(&first, redis::cmd("XLEN").arg("ok")).await;
        assert_eq!(records, 0, "a stale finish sent its record");
        // The current claim still ends it.
        second
            .finish(
                &id,
                &current.token,
                Some((&stream, json!({"current": true}))),
            )
            .await
            .unwrap();
        assert!(!second.is_pending(&id).await.unwrap());
        let records: u64 = query(&second, redis::cmd("XLEN").arg("ok")).await;
        assert_eq!(records, 1);
        let owners: u64 = query(&second, redis::cmd("HLEN").arg("weir:async:owners")).await;
        assert_eq!(owners, 0, "a finished event's token is left behind");
    }
}
