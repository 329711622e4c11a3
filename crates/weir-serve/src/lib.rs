//! weir as a service: AWS-compatible endpoints that the AWS CLI and the AWS SDKs talk to
//! unchanged.
//!
//! [`router`] answers, on one HTTP endpoint:
//! - EventBridge's JSON 1.1 protocol (`X-Amz-Target: AWSEvents.<Operation>`):
//!   `TestEventPattern`; `CreateEventBus`, `DeleteEventBus`, `DescribeEventBus`,
//!   `ListEventBuses`; `PutRule`, `DescribeRule`, `DeleteRule`, `ListRules`, `PutTargets`,
//!   `RemoveTargets`, `ListTargetsByRule` (each on the bus `EventBusName` names) and
//!   `PutEvents`, with buses and rules kept in memory (or on Redis,
//!   [`Service::rules_on_redis`]). Matched events go to their rules' targets: the functions of
//!   an [`Invoker`], SQS queues and Kinesis streams (the invocation layer's,
//!   [`Service::event_buses`], else Redis ones), or another bus (one hop); shaped by `Input`,
//!   `InputPath` or `InputTransformer`; retried per `RetryPolicy` (exponential backoff with
//!   jitter) and dead-lettered to a `DeadLetterConfig` queue with EventBridge's attributes;
//! - Lambda's REST-JSON `Invoke` (`POST /2015-03-31/functions/{name}/invocations`).
//!
//! On Redis: queues ([`RedisQueue`]), streams ([`RedisStream`]), their event source mappings,
//! and Lambda's asynchronous invocation queue ([`RedisAsyncQueue`]), which also serve the
//! invocation layer ([`weir_route::Router`]) as destinations and as a function's `Event`
//! queue; [`redis_config`] reads them from a `weir.toml` (`Weir.Redis`).
//!
//! Requests are accepted with any credentials: signatures are not checked. Bodies are bounded
//! at [`MAX_REQUEST_BYTES`]. Errors have AWS's shapes, so clients raise the exceptions they
//! model.
#![deny(missing_docs)]

mod aws;
mod destinations;
mod events;
pub mod functions;
mod lambda;
mod mappings;
pub mod redis_async;
pub mod redis_config;
pub mod redis_mapping;
pub mod redis_queue;
pub mod redis_stream;
mod targets;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use aws::MAX_REQUEST_BYTES;
pub use functions::{
    AttemptFuture, InvocationType, InvokeError, InvokeFuture, Invoker, LocalFunctions,
};
pub use mappings::RedisMappings;
pub use redis_async::{DurableInvoker, RedisAsyncConfig, RedisAsyncQueue};
pub use redis_mapping::{MappingCounters, Poll, QueueConsumer, QueueMappingConfig};
pub use redis_queue::{QueueMessage, Received, RedisQueue, RedisQueueConfig};
pub use redis_stream::{
    RedisStream, RedisStreamConfig, ShardRecord, StreamConsumer, StreamMappingConfig,
};

use aws::{ApiError, Protocol};
use events::EventBridge;

struct Shared {
    events: EventBridge,
    invoker: Arc<dyn Invoker>,
    mappings: Option<RedisMappings>,
}

/// The HTTP routes of `weir serve` over the functions of `invoker`, in `region`.
///
/// # Example
/// ```
/// let functions = weir_serve::LocalFunctions::new("us-east-1");
/// let app = weir_serve::router(std::sync::Arc::new(functions), "us-east-1");
/// # let _ = app;
/// ```
pub fn router(invoker: Arc<dyn Invoker>, region: &str) -> Router {
    Service::new(invoker, region).router()
}

/// [`router`], with Lambda's event source mapping operations over `mappings` (without them,
/// those operations answer that weir serves them only with Redis).
///
/// # Example
/// ```
/// let functions = weir_serve::LocalFunctions::new("us-east-1");
/// let app = weir_serve::router_with(std::sync::Arc::new(functions), "us-east-1", None);
/// # let _ = app;
/// ```
pub fn router_with(
    invoker: Arc<dyn Invoker>,
    region: &str,
    mappings: Option<RedisMappings>,
) -> Router {
    let mut service = Service::new(invoker, region);
    if let Some(mappings) = mappings {
        service = service.mappings(mappings);
    }
    service.router()
}

/// What `weir serve` serves: the functions of an [`Invoker`], and optionally event source
/// mappings on Redis and the invocation layer's event buses.
///
/// # Example
/// ```
/// let layer = weir_route::Router::new();
/// let app = weir_serve::Service::new(std::sync::Arc::new(layer.clone()), "us-east-1")
///     .event_buses(layer)
///     .router();
/// # let _ = app;
/// ```
pub struct Service {
    invoker: Arc<dyn Invoker>,
    region: String,
    mappings: Option<RedisMappings>,
    layer: Option<weir_route::Router>,
    rules: Option<events::RuleStore>,
}

impl Service {
    /// The functions of `invoker`, ARNs and events in `region`.
    ///
    /// # Example
    /// ```
    /// let s = weir_serve::Service::new(std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1")), "us-east-1");
    /// # let _ = s.router();
    /// ```
    pub fn new(invoker: Arc<dyn Invoker>, region: &str) -> Service {
        Service {
            invoker,
            region: region.to_string(),
            mappings: None,
            layer: None,
            rules: None,
        }
    }

    /// Keeps EventBridge's buses, rules and targets on the Redis at `url` (keys under
    /// `prefix`), so every weir serve on it shares them and they outlive a restart. Queue and
    /// stream targets that the invocation layer ([`Service::event_buses`]) has no queue or
    /// stream for are then the Redis queue (a [`RedisQueue`]'s stream) and the
    /// [`RedisStream`] of that name.
    ///
    /// # Example
    /// ```no_run
    /// # async fn demo() -> Result<(), redis::RedisError> {
    /// let functions = std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1"));
    /// let app = weir_serve::Service::new(functions, "us-east-1")
    ///     .rules_on_redis("redis://127.0.0.1:7000/", "weir")
    ///     .await?
    ///     .router();
    /// # let _ = app; Ok(()) }
    /// ```
    pub async fn rules_on_redis(
        mut self,
        url: &str,
        prefix: &str,
    ) -> Result<Service, redis::RedisError> {
        self.rules = Some(events::RuleStore::connect(url, prefix).await?);
        Ok(self)
    }

    /// Serves `CreateEventSourceMapping` and the rest over `mappings`.
    ///
    /// # Example
    /// ```no_run
    /// # fn demo(m: weir_serve::RedisMappings) {
    /// let s = weir_serve::Service::new(m.invoker(), "us-east-1").mappings(m);
    /// # let _ = s; }
    /// ```
    pub fn mappings(mut self, mappings: RedisMappings) -> Service {
        self.mappings = Some(mappings);
        self
    }

    /// `PutEvents` also puts each event on `layer`'s bus of the same name (the rules and
    /// targets of a weir.toml); `layer`'s buses are listed by `ListEventBuses` and take rules
    /// put over the API (they cannot be deleted over it), and queue and stream targets are
    /// `layer`'s queues and streams of that name.
    ///
    /// # Example
    /// ```
    /// let layer = weir_route::Router::new();
    /// let s = weir_serve::Service::new(std::sync::Arc::new(layer.clone()), "us-east-1").event_buses(layer);
    /// # let _ = s.router();
    /// ```
    pub fn event_buses(mut self, layer: weir_route::Router) -> Service {
        self.layer = Some(layer);
        self
    }

    /// The HTTP routes.
    ///
    /// # Example
    /// ```
    /// let app = weir_serve::Service::new(std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1")), "us-east-1").router();
    /// # let _ = app;
    /// ```
    pub fn router(self) -> Router {
        let shared = Arc::new(Shared {
            events: EventBridge::new(&self.region, self.invoker.clone(), self.layer, self.rules),
            invoker: self.invoker,
            mappings: self.mappings,
        });
        Router::new()
            .route("/", post(json11))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route(
                "/2015-03-31/event-source-mappings/",
                post(create_mapping).get(list_mappings),
            )
            .route(
                "/2015-03-31/event-source-mappings",
                post(create_mapping).get(list_mappings),
            )
            .route(
                "/2015-03-31/event-source-mappings/{uuid}",
                get(get_mapping).delete(delete_mapping),
            )
            .fallback(fallback)
            // Bodies are read with weir's own bound, which answers in AWS's shape.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared)
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
///
/// # Example
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let app = weir_serve::router(std::sync::Arc::new(weir_serve::LocalFunctions::new("us-east-1")), "us-east-1");
/// weir_serve::serve(listener, app, std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn json11(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let result = async {
        let Some(operation) = target.strip_prefix("AWSEvents.") else {
            return Err(ApiError::json11(
                "UnknownOperationException",
                format!(
                    "weir serves EventBridge (X-Amz-Target: AWSEvents.<Operation>), not {target:?}"
                ),
            ));
        };
        let bytes = lambda::read_body(body, MAX_REQUEST_BYTES)
            .await
            .map_err(|limit| {
                ApiError::json11(
                    "RequestEntityTooLargeException",
                    format!("Request must be smaller than {limit} bytes"),
                )
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            })?;
        let request = aws::parse_body(&bytes, Protocol::Json11)?;
        shared.events.call(operation, request).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(serde::Deserialize)]
struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    lambda::invoke(
        shared.invoker.as_ref(),
        &name,
        query.qualifier.as_deref(),
        &headers,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

fn mappings(shared: &Shared) -> Result<&RedisMappings, ApiError> {
    shared.mappings.as_ref().ok_or_else(|| {
        ApiError::rest(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "weir serves event source mappings on Redis sources: start it with --redis URL",
        )
    })
}

/// A REST-JSON success with `status`.
fn rest_ok(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    aws::add_request_id(response.headers_mut());
    response
}

async fn create_mapping(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let result = async {
        let mappings = mappings(&shared)?;
        let bytes = lambda::read_body(body, MAX_REQUEST_BYTES)
            .await
            .map_err(|limit| {
                ApiError::rest(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestTooLargeException",
                    format!("Request must be smaller than {limit} bytes"),
                )
            })?;
        let request = aws::parse_body(&bytes, Protocol::RestJson)?;
        mappings.create(request).await
    }
    .await;
    match result {
        Ok(body) => rest_ok(StatusCode::ACCEPTED, body),
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "EventSourceArn")]
    event_source_arn: Option<String>,
    #[serde(rename = "FunctionName")]
    function_name: Option<String>,
}

async fn list_mappings(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let result = async {
        mappings(&shared)?
            .list(
                query.event_source_arn.as_deref(),
                query.function_name.as_deref(),
            )
            .await
    }
    .await;
    match result {
        Ok(body) => rest_ok(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

async fn get_mapping(State(shared): State<Arc<Shared>>, Path(uuid): Path<String>) -> Response {
    match async { mappings(&shared)?.get(&uuid).await }.await {
        Ok(body) => rest_ok(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

async fn delete_mapping(State(shared): State<Arc<Shared>>, Path(uuid): Path<String>) -> Response {
    match async { mappings(&shared)?.delete(&uuid).await }.await {
        Ok(body) => rest_ok(StatusCode::ACCEPTED, body),
        Err(e) => e.into_response(),
    }
}

async fn fallback(uri: axum::http::Uri) -> Response {
    ApiError::rest(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("weir serves no operation at {}", uri.path()),
    )
    .into_response()
}
