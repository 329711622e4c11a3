//! `weir.toml`: functions, queues, streams, event buses, rules and event source mappings in
//! one file, written as a CloudFormation / SAM template's `Resources`, so their properties
//! can be pasted from a template.
//!
//! ```toml
//! [Resources.Orders]
//! Type = "AWS::SQS::Queue"
//! Properties = { QueueName = "orders", VisibilityTimeout = 10 }
//! Weir = { Messages = "orders.jsonl" }        # weir's own keys: sample messages to send
//!
//! [Resources.Process]
//! Type = "AWS::Lambda::Function"
//! Properties = { FunctionName = "process", Timeout = 5 }
//! Weir = { Command = ["sh", "-c", "cat"] }     # the handler: a command per invocation
//!
//! [Resources.OrdersToProcess]
//! Type = "AWS::Lambda::EventSourceMapping"
//! Properties = { FunctionName = { Ref = "Process" }, EventSourceArn = { "Fn::GetAtt" = ["Orders", "Arn"] }, BatchSize = 5 }
//! ```
//!
//! `Properties` holds AWS's property names and values exactly; a reference is an ARN, a name,
//! `{ Ref = "LogicalId" }` or `{ "Fn::GetAtt" = ["LogicalId", "Arn"] }`. Numbers may be
//! given as numbers or as strings, as CloudFormation takes them. What AWS has no property
//! for goes in the resource's `Weir` table:
//!
//! | resource | `Weir` key | meaning |
//! |---|---|---|
//! | function | `Command = ["prog", "arg", ...]` | a plain command per invocation (event on stdin, response on stdout) |
//! | function | `RuntimeApi = ["prog", "arg", ...]` | a process speaking the Lambda Runtime API (kept warm between invocations) |
//! | function | `Python = "python3"` | the interpreter for `Runtime = "python3.x"` functions, which run `PYTHON -m awslambdaric HANDLER` in `CodeUri` (default: `$WEIR_PYTHON`, else `python3`) |
//! | function | (none) | `Runtime = "provided.al2023"` (any `provided*`) runs `CodeUri/bootstrap`, a custom runtime such as a `lambda_runtime` binary |
//! | function | `State = "Pending"` | the state it starts in (`Active` by default) |
//! | function | `RetryDelays = [60, 120]` | the seconds before the first and the second retry of a failed asynchronous invocation (Lambda's 1 and 2 minutes by default) |
//! | queue | `Messages = "file.jsonl"` or `["body", {...}]` | messages sent when the run starts (a JSONL line or a table is sent as its JSON text) |
//! | queue | `Output = "file.jsonl"` or `"-"` | at the end, the queue's messages are written there, one per line |
//! | stream | `Records = "file.jsonl"` or `"-"` (stdin) | read as the stream's records, one per line |
//! | stream | `PartitionKey = "field"` | the top-level field giving each record's partition key (default: the line number) |
//! | event bus | `Events = "file.jsonl"` | events put on the bus when the run starts |
//!
//! `Redis = "redis://HOST:PORT/"` on a queue, a stream or a function puts it (a function: its
//! asynchronous invocation queue) on Redis; that key is read by `weir run` and `weir serve`
//! (crate weir-serve, which attaches those queues and streams to the router as destinations)
//! and refused here.
//!
//! A SAM function's `Events` of type `SQS` (`Queue`), `Kinesis` (`Stream`) and
//! `EventBridgeRule` / `CloudWatchEvent` (`Pattern`, `EventBusName`) become the mappings and
//! rules SAM makes of them; their counters are reported as `FunctionIdEventId`.
//!
//! Relative paths are read from the config file's directory, and commands run there.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::{Table, Value};

use crate::bus::RuleConfig;
use crate::error::ValidationError;
use crate::function::{EventInvokeConfig, FunctionConfig, FunctionState, Target};
use crate::handler::Handler;
use crate::mapping::EventSourceMappingConfig;
use crate::process::{CommandHandler, ProcessSpec};
use crate::queue::{QueueConfig, RedrivePolicy};
use crate::router::Router;
use crate::runtime_api::{RuntimeApiConfig, RuntimeApiHandler};
use crate::stream::StreamConfig;

/// A config file that cannot be used, with where in it.
///
/// # Example
/// ```
/// let err = weir_route::config::Config::parse("Resources = 5", ".".as_ref()).unwrap_err();
/// assert_eq!(err.to_string(), "Resources: must be a table of resources");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    fn at(path: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{path}: {message}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The resource types weir reads.
const TYPES: [&str; 8] = [
    "AWS::Lambda::Function",
    "AWS::Serverless::Function",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::SQS::Queue",
    "AWS::Kinesis::Stream",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
];

/// Template properties weir has no use for, accepted so a template's resource can be pasted
/// whole (each is reported once as ignored).
const IGNORED: [&str; 23] = [
    "Architectures",
    "Code",
    "CodeUri",
    "Description",
    "EphemeralStorage",
    "KmsKeyArn",
    "KmsMasterKeyId",
    "Layers",
    "LoggingConfig",
    "PackageType",
    "Policies",
    "Role",
    "Tags",
    "Tracing",
    "TracingConfig",
    "VpcConfig",
    "AutoPublishAlias",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "StreamModeDetails",
    "StreamEncryption",
];

/// One resource as written.
#[derive(Debug, Clone)]
struct Resource {
    /// The logical id (for a SAM function's event: `Fn.Properties.Events.Ev`, so errors name
    /// the place).
    id: String,
    /// The name counters are reported under: the logical id (SAM's `FnEv` for an event).
    label: String,
    kind: String,
    properties: Table,
    weir: Table,
}

/// A parsed `weir.toml`.
///
/// # Example
/// ```
/// use weir_route::config::Config;
/// let config = Config::parse(r#"
/// [Resources.Q]
/// Type = "AWS::SQS::Queue"
/// Properties = { QueueName = "orders" }
/// "#, ".".as_ref())?;
/// assert_eq!(config.resource_ids(), ["Q"]);
/// # Ok::<(), weir_route::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    resources: Vec<Resource>,
    base: PathBuf,
}

/// Something to send when a run starts.
#[derive(Debug, Clone)]
enum Feed {
    QueueFile {
        queue: String,
        path: PathBuf,
    },
    QueueInline {
        queue: String,
        bodies: Vec<String>,
    },
    Stream {
        stream: String,
        path: Option<PathBuf>,
        key: Option<String>,
    },
    Bus {
        bus: String,
        path: PathBuf,
    },
}

/// Where a queue's messages go at the end.
#[derive(Debug, Clone)]
struct Output {
    queue: String,
    path: Option<PathBuf>,
}

/// What [`Config::build`] made: the logical ids of mappings and functions, and what to feed
/// and write out.
///
/// # Example
/// ```
/// use weir_route::{config::Config, Router};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let config = Config::parse(r#"
/// [Resources.Q]
/// Type = "AWS::SQS::Queue"
/// Properties = { QueueName = "q" }
/// Weir = { Messages = ["one", "two"] }
/// "#, ".".as_ref())?;
/// let router = Router::new();
/// let deployment = config.build(&router, true)?;
/// deployment.feed(&router).await?;
/// assert_eq!(router.queue("q").unwrap().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Mappings: (logical id, UUID).
    pub mappings: Vec<(String, String)>,
    /// Functions: (logical id, function name).
    pub functions: Vec<(String, String)>,
    /// Bus rules: (logical id, bus name, rule name).
    pub rules: Vec<(String, String, String)>,
    /// Template properties accepted and ignored (known to templates, unused by weir).
    pub warnings: Vec<String>,
    feeds: Vec<Feed>,
    outputs: Vec<Output>,
}

/// The most reserved concurrency a function may take: an account's default concurrency
/// (1000) less the 100 Lambda keeps unreserved.
const MAX_RESERVED_CONCURRENCY: i64 = 900;

/// Checks a number as written against AWS's range for it, worded as AWS does (`1 validation
/// error detected: Value 'V' at 'name' ...`), before it is converted (so nothing wraps,
/// overflows or is clamped on the way).
fn in_range(id: &str, aws_name: &str, value: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    let mut v = crate::error::Violations::default();
    v.range(aws_name, Some(value), min, max);
    v.finish()
        .map_err(|e| ConfigError::at(&format!("Resources.{id}"), e))
}

fn type_error(path: &str, expected: &str) -> ConfigError {
    ConfigError::at(path, format!("must be {expected}"))
}

/// A property table read key by key, so leftovers can be reported.
struct Props<'a> {
    path: String,
    table: &'a Table,
    used: Vec<&'static str>,
}

impl<'a> Props<'a> {
    fn new(path: String, table: &'a Table) -> Props<'a> {
        Props {
            path,
            table,
            used: Vec::new(),
        }
    }

    fn here(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.table.get(key)
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(type_error(&self.here(key), "a string")),
        }
    }

    fn int(&mut self, key: &'static str) -> Result<Option<i64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) => Ok(Some(*n)),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| type_error(&self.here(key), "an integer")),
            Some(_) => Err(type_error(&self.here(key), "an integer")),
        }
    }

    fn bool(&mut self, key: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(type_error(&self.here(key), "true or false")),
        }
    }

    fn table(&mut self, key: &'static str) -> Result<Option<Props<'a>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(Props::new(self.here(key), t))),
            Some(_) => Err(type_error(&self.here(key), "a table")),
        }
    }

    fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(type_error(&self.here(key), "a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(type_error(&self.here(key), "a list of strings")),
        }
    }

    /// The keys not read, less the ignored ones (those go to `warnings`).
    fn finish(self, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
        for key in self.table.keys() {
            if self.used.contains(&key.as_str()) {
                continue;
            }
            if IGNORED.contains(&key.as_str()) {
                warnings.push(format!("{}: {key} is ignored by weir", self.path));
                continue;
            }
            let mut known = self.used.clone();
            known.sort_unstable();
            return Err(ConfigError::at(
                &self.here(key),
                format!("unknown property (known here: {})", known.join(", ")),
            ));
        }
        Ok(())
    }
}

/// A value naming a resource: an ARN, a name, `{Ref = id}` or `{"Fn::GetAtt" = [id, attr]}`.
enum Reference {
    Text(String),
    Logical(String),
}

fn reference(path: &str, value: &Value) -> Result<Reference, ConfigError> {
    match value {
        Value::String(s) => Ok(Reference::Text(s.clone())),
        Value::Table(t) if t.len() == 1 => {
            if let Some(Value::String(id)) = t.get("Ref") {
                return Ok(Reference::Logical(id.clone()));
            }
            if let Some(Value::Array(parts)) = t.get("Fn::GetAtt") {
                if let [Value::String(id), Value::String(_attr)] = parts.as_slice() {
                    return Ok(Reference::Logical(id.clone()));
                }
            }
            Err(type_error(
                path,
                "an ARN, a name, { Ref = \"Id\" } or { \"Fn::GetAtt\" = [\"Id\", \"Arn\"] }",
            ))
        }
        _ => Err(type_error(
            path,
            "an ARN, a name, { Ref = \"Id\" } or { \"Fn::GetAtt\" = [\"Id\", \"Arn\"] }",
        )),
    }
}

/// A JSON value's text (for patterns and messages written as TOML tables).
fn json_text(value: &Value) -> String {
    fn to_json(value: &Value) -> serde_json::Value {
        match value {
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Integer(n) => serde_json::Value::from(*n),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Boolean(b) => serde_json::Value::Bool(*b),
            Value::Datetime(d) => serde_json::Value::String(d.to_string()),
            Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
            Value::Table(t) => {
                serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
            }
        }
    }
    to_json(value).to_string()
}

impl Config {
    /// Reads a config file.
    ///
    /// # Example
    /// ```
    /// let err = weir_route::config::Config::load("/nonexistent/weir.toml".as_ref()).unwrap_err();
    /// assert!(err.to_string().starts_with("/nonexistent/weir.toml: cannot read"));
    /// ```
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::at(&path.display().to_string(), format!("cannot read: {e}"))
        })?;
        let base = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        Config::parse(&text, &base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses config text; relative paths in it are read from `base`.
    ///
    /// # Example
    /// ```
    /// use weir_route::config::Config;
    /// let err = Config::parse(r#"
    /// [Resources.Q]
    /// Type = "AWS::SNS::Topic"
    /// "#, ".".as_ref()).unwrap_err();
    /// assert!(err.to_string().starts_with("Resources.Q.Type: weir does not run AWS::SNS::Topic"), "{err}");
    /// # Ok::<(), weir_route::config::ConfigError>(())
    /// ```
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let doc: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(format!("not valid TOML: {e}")))?;
        for key in doc.keys() {
            if key != "Resources" && key != "AWSTemplateFormatVersion" && key != "Transform" {
                return Err(ConfigError::at(
                    key,
                    "unknown top-level key (expected Resources)",
                ));
            }
        }
        let resources = match doc.get("Resources") {
            None => return Err(ConfigError::at("Resources", "missing")),
            Some(Value::Table(t)) => t,
            Some(_) => return Err(type_error("Resources", "a table of resources")),
        };
        let mut out = Vec::new();
        for (id, value) in resources {
            let path = format!("Resources.{id}");
            let Value::Table(resource) = value else {
                return Err(type_error(&path, "a table with Type and Properties"));
            };
            let kind = match resource.get("Type") {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(type_error(&format!("{path}.Type"), "a string")),
                None => return Err(ConfigError::at(&format!("{path}.Type"), "missing")),
            };
            if !TYPES.contains(&kind.as_str()) {
                return Err(ConfigError::at(
                    &format!("{path}.Type"),
                    format!("weir does not run {kind} (it runs {})", TYPES.join(", ")),
                ));
            }
            let table_at = |key: &str| match resource.get(key) {
                None => Ok(Table::new()),
                Some(Value::Table(t)) => Ok(t.clone()),
                Some(_) => Err(type_error(&format!("{path}.{key}"), "a table")),
            };
            for key in resource.keys() {
                if ![
                    "Type",
                    "Properties",
                    "Weir",
                    "DependsOn",
                    "Metadata",
                    "Condition",
                ]
                .contains(&key.as_str())
                {
                    return Err(ConfigError::at(
                        &format!("{path}.{key}"),
                        "unknown key (expected Type, Properties, Weir)",
                    ));
                }
            }
            out.push(Resource {
                id: id.clone(),
                label: id.clone(),
                kind,
                properties: table_at("Properties")?,
                weir: table_at("Weir")?,
            });
        }
        Ok(Config {
            resources: out,
            base: base.to_path_buf(),
        })
    }

    /// The logical ids, in file order (sorted, as TOML tables are).
    ///
    /// # Example
    /// ```
    /// let c = weir_route::config::Config::parse("[Resources]", ".".as_ref())?;
    /// assert!(c.resource_ids().is_empty());
    /// # Ok::<(), weir_route::config::ConfigError>(())
    /// ```
    pub fn resource_ids(&self) -> Vec<&str> {
        self.resources.iter().map(|r| r.id.as_str()).collect()
    }

    fn by_id(&self, id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// The name a resource gets: its name property, else its logical id.
    fn name_of(&self, r: &Resource) -> String {
        let key = match r.kind.as_str() {
            "AWS::SQS::Queue" => "QueueName",
            "AWS::Kinesis::Stream" | "AWS::Events::EventBus" | "AWS::Events::Rule" => "Name",
            _ => "FunctionName",
        };
        match r.properties.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => r.id.clone(),
        }
    }

    /// Resolves a reference to a resource name, checking its kind when it is a logical id.
    fn resolve(&self, path: &str, value: &Value, kinds: &[&str]) -> Result<Reference, ConfigError> {
        match reference(path, value)? {
            Reference::Logical(id) => {
                let r = self
                    .by_id(&id)
                    .ok_or_else(|| ConfigError::at(path, format!("no resource {id}")))?;
                if !kinds.contains(&r.kind.as_str()) {
                    return Err(ConfigError::at(
                        path,
                        format!("{id} is a {}, not a {}", r.kind, kinds.join(" or ")),
                    ));
                }
                Ok(Reference::Logical(self.name_of(r)))
            }
            text => Ok(text),
        }
    }

    /// A destination or event source: an ARN, or a logical id's resource.
    fn target(&self, path: &str, value: &Value) -> Result<Target, ConfigError> {
        match self.resolve(path, value, &TYPES)? {
            Reference::Text(arn) => arn
                .parse::<Target>()
                .map_err(|e| ConfigError::at(path, e.message())),
            Reference::Logical(name) => {
                let Reference::Logical(id) = reference(path, value)? else {
                    unreachable!("resolve keeps the reference's form")
                };
                let kind = self.by_id(&id).map(|r| r.kind.as_str()).unwrap_or_default();
                Ok(match kind {
                    "AWS::SQS::Queue" => Target::Queue(name),
                    "AWS::Kinesis::Stream" => Target::Stream(name),
                    "AWS::Events::EventBus" => Target::Bus(name),
                    _ => Target::Function(name),
                })
            }
        }
    }

    fn arn_of(&self, target: &Target, router: &Router) -> String {
        match target {
            Target::Function(n) => router.function_arn(n),
            Target::Queue(n) => router.queue_arn(n),
            Target::Stream(n) => router.stream_arn(n),
            Target::Bus(n) => router.bus_arn(n),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Creates every resource in `router` (queues, streams and buses first, then functions,
    /// rules and, when `start_mappings`, the event source mappings, which start polling),
    /// then checks that every destination exists. Must be called inside a tokio runtime.
    ///
    /// # Example
    /// ```
    /// use weir_route::{config::Config, Router};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let config = Config::parse(r#"
    /// [Resources.M]
    /// Type = "AWS::Lambda::EventSourceMapping"
    /// Properties = { FunctionName = "f", EventSourceArn = "arn:aws:sqs:us-east-1:000000000000:q", BatchSize = 0 }
    /// "#, ".".as_ref())?;
    /// let err = config.build(&Router::new(), true).unwrap_err();
    /// assert!(err.to_string().starts_with("Resources.M: ValidationException: 1 validation error detected: Value '0' at 'batchSize'"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(&self, router: &Router, start_mappings: bool) -> Result<Deployment, ConfigError> {
        let mut warnings = Vec::new();
        let mut d = self.build_inner(router, start_mappings, &mut warnings)?;
        d.warnings = warnings;
        Ok(d)
    }

    fn build_inner(
        &self,
        router: &Router,
        start_mappings: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Deployment, ConfigError> {
        let mut d = Deployment::default();
        let order = |kinds: &[&str]| -> Vec<&Resource> {
            self.resources
                .iter()
                .filter(|r| kinds.contains(&r.kind.as_str()))
                .collect()
        };
        // Queues: those without a redrive policy first, so dead-letter queues exist.
        let mut queues = order(&["AWS::SQS::Queue"]);
        queues.sort_by_key(|r| r.properties.contains_key("RedrivePolicy"));
        let mut pending = queues;
        let mut guard = 0;
        while !pending.is_empty() {
            guard += 1;
            let mut next = Vec::new();
            for r in pending {
                match self.queue(r, router, &mut d, warnings) {
                    Ok(()) => {}
                    Err(QueueBuild::WaitsFor) if guard < 64 => next.push(r),
                    Err(QueueBuild::WaitsFor) => {
                        return Err(ConfigError::at(
                            &format!("Resources.{}.Properties.RedrivePolicy", r.id),
                            "the dead-letter queue does not exist",
                        ))
                    }
                    Err(QueueBuild::Error(e)) => return Err(e),
                }
            }
            pending = next;
        }
        for r in order(&["AWS::Kinesis::Stream"]) {
            self.stream(r, router, &mut d, warnings)?;
        }
        for r in order(&["AWS::Events::EventBus"]) {
            self.bus(r, router, &mut d, warnings)?;
        }
        let invoke_configs: Vec<&Resource> = order(&["AWS::Lambda::EventInvokeConfig"]);
        // The destinations functions name, with where: checked once everything exists.
        let mut refs: Vec<(String, Target)> = Vec::new();
        for r in order(&["AWS::Lambda::Function", "AWS::Serverless::Function"]) {
            let name = self.function(r, router, &invoke_configs, warnings, &mut refs)?;
            d.functions.push((r.id.clone(), name));
        }
        for r in &invoke_configs {
            let path = format!("Resources.{}.Properties", r.id);
            let fname = match r.properties.get("FunctionName") {
                Some(v) => self.resolve(
                    &format!("{path}.FunctionName"),
                    v,
                    &["AWS::Lambda::Function", "AWS::Serverless::Function"],
                )?,
                None => return Err(ConfigError::at(&format!("{path}.FunctionName"), "missing")),
            };
            let name = match fname {
                Reference::Text(t) | Reference::Logical(t) => t,
            };
            if router.function(&name).is_none() {
                return Err(ConfigError::at(
                    &format!("{path}.FunctionName"),
                    format!("no function {name}"),
                ));
            }
        }
        let (sam_rules, sam_mappings) = self.sam_events()?;
        for r in order(&["AWS::Events::Rule"]).into_iter().chain(&sam_rules) {
            let (bus, name) = self.rule(r, router, warnings)?;
            d.rules.push((r.label.clone(), bus, name));
        }
        for (at, target) in &refs {
            check_exists(router, at, target)?;
        }
        router
            .check_targets()
            .map_err(|e| ConfigError(e.to_string()))?;
        for r in order(&["AWS::Lambda::EventSourceMapping"])
            .into_iter()
            .chain(&sam_mappings)
        {
            let config = self.mapping(r, router, warnings)?;
            if start_mappings {
                let uuid = router
                    .create_event_source_mapping(config)
                    .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
                d.mappings.push((r.label.clone(), uuid));
            }
        }
        Ok(d)
    }

    /// A SAM function's `Events` of type `SQS`, `Kinesis` and `EventBridgeRule` (or
    /// `CloudWatchEvent`), as the mappings and rules SAM makes of them.
    fn sam_events(&self) -> Result<(Vec<Resource>, Vec<Resource>), ConfigError> {
        let mut rules = Vec::new();
        let mut mappings = Vec::new();
        for f in self
            .resources
            .iter()
            .filter(|r| r.kind == "AWS::Serverless::Function")
        {
            let Some(events) = f.properties.get("Events") else {
                continue;
            };
            let path = format!("Resources.{}.Properties.Events", f.id);
            let Value::Table(events) = events else {
                return Err(type_error(&path, "a table of events"));
            };
            for (event_id, event) in events {
                let at = format!("{path}.{event_id}");
                let Value::Table(event) = event else {
                    return Err(type_error(&at, "a table with Type and Properties"));
                };
                let kind = match event.get("Type") {
                    Some(Value::String(k)) => k.as_str(),
                    _ => return Err(ConfigError::at(&format!("{at}.Type"), "missing")),
                };
                let mut props = match event.get("Properties") {
                    Some(Value::Table(t)) => t.clone(),
                    None => Table::new(),
                    Some(_) => return Err(type_error(&format!("{at}.Properties"), "a table")),
                };
                let function_ref = || {
                    let mut t = Table::new();
                    t.insert("Ref".into(), Value::String(f.id.clone()));
                    Value::Table(t)
                };
                let id = format!("{}.Properties.Events.{event_id}", f.id);
                let label = format!("{}{event_id}", f.id);
                match kind {
                    "SQS" | "Kinesis" => {
                        let source_key = if kind == "SQS" { "Queue" } else { "Stream" };
                        let source = props.remove(source_key).ok_or_else(|| {
                            ConfigError::at(&format!("{at}.Properties.{source_key}"), "missing")
                        })?;
                        props.insert("EventSourceArn".into(), source);
                        props.insert("FunctionName".into(), function_ref());
                        mappings.push(Resource {
                            id,
                            label,
                            kind: "AWS::Lambda::EventSourceMapping".into(),
                            properties: props,
                            weir: Table::new(),
                        });
                    }
                    "EventBridgeRule" | "CloudWatchEvent" => {
                        let mut rule = Table::new();
                        if let Some(p) = props.remove("Pattern") {
                            rule.insert("EventPattern".into(), p);
                        }
                        for key in ["EventBusName", "State"] {
                            if let Some(v) = props.remove(key) {
                                rule.insert(key.into(), v);
                            }
                        }
                        rule.insert(
                            "Name".into(),
                            props
                                .remove("RuleName")
                                .unwrap_or(Value::String(label.clone())),
                        );
                        if let Some(key) = props.keys().next() {
                            return Err(ConfigError::at(
                                &format!("{at}.Properties.{key}"),
                                "not supported by weir (it takes Pattern, EventBusName, RuleName, State)",
                            ));
                        }
                        let mut target = Table::new();
                        target.insert("Id".into(), Value::String(f.id.clone()));
                        target.insert("Arn".into(), function_ref());
                        rule.insert("Targets".into(), Value::Array(vec![Value::Table(target)]));
                        rules.push(Resource {
                            id,
                            label,
                            kind: "AWS::Events::Rule".into(),
                            properties: rule,
                            weir: Table::new(),
                        });
                    }
                    other => {
                        return Err(ConfigError::at(
                            &format!("{at}.Type"),
                            format!(
                                "weir does not run {other} events (it runs SQS, Kinesis, \
                                 EventBridgeRule and CloudWatchEvent)"
                            ),
                        ))
                    }
                }
            }
        }
        Ok((rules, mappings))
    }

    fn queue(
        &self,
        r: &Resource,
        router: &Router,
        d: &mut Deployment,
        warnings: &mut Vec<String>,
    ) -> Result<(), QueueBuild> {
        let path = format!("Resources.{}.Properties", r.id);
        let mut p = Props::new(path.clone(), &r.properties);
        let name = p.string("QueueName")?.unwrap_or_else(|| r.id.clone());
        let mut config = QueueConfig::new(name.clone());
        if let Some(v) = p.int("VisibilityTimeout")? {
            in_range(&r.id, "visibilityTimeout", v, 0, 43_200)?;
            config.visibility_timeout = std::time::Duration::from_secs(v as u64);
        }
        if let Some(v) = p.int("MessageRetentionPeriod")? {
            in_range(&r.id, "messageRetentionPeriod", v, 60, 1_209_600)?;
            config.message_retention = std::time::Duration::from_secs(v as u64);
        }
        if let Some(mut redrive) = p.table("RedrivePolicy")? {
            let target = match redrive.get("deadLetterTargetArn") {
                Some(v) => self.target(&redrive.here("deadLetterTargetArn"), v)?,
                None => {
                    return Err(
                        ConfigError::at(&redrive.here("deadLetterTargetArn"), "missing").into(),
                    )
                }
            };
            let Target::Queue(dlq) = target else {
                return Err(ConfigError::at(
                    &redrive.here("deadLetterTargetArn"),
                    "must be a queue",
                )
                .into());
            };
            let count = redrive
                .int("maxReceiveCount")?
                .ok_or_else(|| ConfigError::at(&redrive.here("maxReceiveCount"), "missing"))?;
            redrive.finish(warnings)?;
            if router.queue(&dlq).is_none() {
                return Err(QueueBuild::WaitsFor);
            }
            in_range(&r.id, "redrivePolicy.maxReceiveCount", count, 1, 1000)?;
            config.redrive_policy = Some(RedrivePolicy::new(dlq, count as u32));
        }
        p.finish(warnings)?;
        let mut w = Props::new(format!("Resources.{}.Weir", r.id), &r.weir);
        match w.get("Messages") {
            None => {}
            Some(Value::String(file)) => d.feeds.push(Feed::QueueFile {
                queue: name.clone(),
                path: self.path(file),
            }),
            Some(Value::Array(items)) => d.feeds.push(Feed::QueueInline {
                queue: name.clone(),
                bodies: items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => json_text(other),
                    })
                    .collect(),
            }),
            Some(_) => {
                return Err(type_error(
                    &w.here("Messages"),
                    "a JSONL file's path or a list of messages",
                )
                .into())
            }
        }
        if let Some(out) = w.string("Output")? {
            d.outputs.push(Output {
                queue: name.clone(),
                path: (out != "-").then(|| self.path(&out)),
            });
        }
        w.finish(&mut Vec::new()).map_err(QueueBuild::Error)?;
        router
            .create_queue(config)
            .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
        Ok(())
    }

    fn stream(
        &self,
        r: &Resource,
        router: &Router,
        d: &mut Deployment,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let mut p = Props::new(format!("Resources.{}.Properties", r.id), &r.properties);
        let name = p.string("Name")?.unwrap_or_else(|| r.id.clone());
        let mut config = StreamConfig::new(name.clone());
        if let Some(n) = p.int("ShardCount")? {
            in_range(&r.id, "shardCount", n, 1, 1000)?;
            config.shard_count = n as u32;
        }
        if let Some(h) = p.int("RetentionPeriodHours")? {
            in_range(&r.id, "retentionPeriodHours", h, 24, 8760)?;
            config.retention = std::time::Duration::from_secs(h as u64 * 3600);
        }
        p.finish(warnings)?;
        let mut w = Props::new(format!("Resources.{}.Weir", r.id), &r.weir);
        let records = w.string("Records")?;
        let key = w.string("PartitionKey")?;
        w.finish(&mut Vec::new())?;
        if let Some(records) = records {
            d.feeds.push(Feed::Stream {
                stream: name,
                path: (records != "-").then(|| self.path(&records)),
                key,
            });
        }
        router
            .create_stream(config)
            .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
        Ok(())
    }

    fn bus(
        &self,
        r: &Resource,
        router: &Router,
        d: &mut Deployment,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let mut p = Props::new(format!("Resources.{}.Properties", r.id), &r.properties);
        let name = p.string("Name")?.unwrap_or_else(|| r.id.clone());
        p.finish(warnings)?;
        let mut w = Props::new(format!("Resources.{}.Weir", r.id), &r.weir);
        if let Some(events) = w.string("Events")? {
            d.feeds.push(Feed::Bus {
                bus: name.clone(),
                path: self.path(&events),
            });
        }
        w.finish(&mut Vec::new())?;
        if name != "default" {
            router
                .create_event_bus(&name)
                .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
        }
        Ok(())
    }

    fn destination(
        &self,
        parent: &mut Props<'_>,
        key: &'static str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<(String, Target)>, ConfigError> {
        let Some(mut t) = parent.table(key)? else {
            return Ok(None);
        };
        let at = t.here("Destination");
        let target = match t.get("Destination") {
            Some(v) => Some((at.clone(), self.target(&at, v)?)),
            None => None,
        };
        // SAM's `Type` (SQS, SNS, Lambda, EventBridge) is implied by the ARN here.
        let _ = t.string("Type")?;
        t.finish(warnings)?;
        Ok(target)
    }

    fn event_invoke(
        &self,
        p: &mut Props<'_>,
        config: &mut EventInvokeConfig,
        warnings: &mut Vec<String>,
        refs: &mut Vec<(String, Target)>,
    ) -> Result<(), ConfigError> {
        if let Some(n) = p.int("MaximumRetryAttempts")? {
            if !(0..=2).contains(&n) {
                return Err(ConfigError::at(
                    &p.here("MaximumRetryAttempts"),
                    format!("1 validation error detected: Value '{n}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value {}", if n < 0 { "greater than or equal to 0" } else { "less than or equal to 2" }),
                ));
            }
            config.maximum_retry_attempts = n as u32;
        }
        if let Some(n) = p.int("MaximumEventAgeInSeconds")? {
            if !(60..=21_600).contains(&n) {
                return Err(ConfigError::at(
                    &p.here("MaximumEventAgeInSeconds"),
                    format!("1 validation error detected: Value '{n}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value {}", if n < 60 { "greater than or equal to 60" } else { "less than or equal to 21600" }),
                ));
            }
            config.maximum_event_age = std::time::Duration::from_secs(n as u64);
        }
        if let Some(mut dc) = p.table("DestinationConfig")? {
            if let Some((at, t)) = self.destination(&mut dc, "OnSuccess", warnings)? {
                config.on_success = Some(t.clone());
                refs.push((at, t));
            }
            if let Some((at, t)) = self.destination(&mut dc, "OnFailure", warnings)? {
                config.on_failure = Some(t.clone());
                refs.push((at, t));
            }
            dc.finish(warnings)?;
        }
        Ok(())
    }

    fn function(
        &self,
        r: &Resource,
        router: &Router,
        invoke_configs: &[&Resource],
        warnings: &mut Vec<String>,
        refs: &mut Vec<(String, Target)>,
    ) -> Result<String, ConfigError> {
        let path = format!("Resources.{}.Properties", r.id);
        let mut p = Props::new(path.clone(), &r.properties);
        let name = p.string("FunctionName")?.unwrap_or_else(|| r.id.clone());
        let mut config = FunctionConfig::new(name.clone());
        if let Some(t) = p.int("Timeout")? {
            if t < 1 {
                // A negative value cannot reach the function's configuration; word it here.
                return Err(ConfigError::at(
                    &format!("Resources.{}", r.id),
                    format!(
                        "ValidationException: 1 validation error detected: Value '{t}' at \
                         'timeout' failed to satisfy constraint: Member must have value greater \
                         than or equal to 1"
                    ),
                ));
            }
            config.timeout = std::time::Duration::from_secs(t as u64);
        }
        if let Some(n) = p.int("ReservedConcurrentExecutions")? {
            in_range(&r.id, "reservedConcurrentExecutions", n, 0, i64::MAX)?;
            // An account runs 1000 at once by default and keeps 100 unreserved.
            if n > MAX_RESERVED_CONCURRENCY {
                return Err(ConfigError::at(
                    &format!("Resources.{}", r.id),
                    ValidationError::invalid_parameter(
                        "Specified ReservedConcurrentExecutions for function decreases \
                         account's UnreservedConcurrentExecution below its minimum value of [100].",
                    ),
                ));
            }
            config.reserved_concurrency = Some(n as u32);
        }
        let mut env: Vec<(String, String)> = Vec::new();
        if let Some(mut e) = p.table("Environment")? {
            if let Some(vars) = e.get("Variables") {
                let Value::Table(vars) = vars else {
                    return Err(type_error(&e.here("Variables"), "a table"));
                };
                for (k, v) in vars {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    env.push((k.clone(), text));
                }
            }
            e.finish(warnings)?;
        }
        if let Some(mut dlc) = p.table("DeadLetterConfig")? {
            if let Some(v) = dlc.get("TargetArn") {
                let at = dlc.here("TargetArn");
                let target = self.target(&at, v)?;
                config.dead_letter = Some(target.clone());
                refs.push((at, target));
            }
            dlc.finish(warnings)?;
        }
        if let Some(mut dlq) = p.table("DeadLetterQueue")? {
            if let Some(v) = dlq.get("TargetArn") {
                let at = dlq.here("TargetArn");
                let target = self.target(&at, v)?;
                config.dead_letter = Some(target.clone());
                refs.push((at, target));
            }
            let _ = dlq.string("Type")?;
            dlq.finish(warnings)?;
        }
        if let Some(mut eic) = p.table("EventInvokeConfig")? {
            self.event_invoke(&mut eic, &mut config.event_invoke, warnings, refs)?;
            eic.finish(warnings)?;
        }
        for ic in invoke_configs {
            let target = match ic.properties.get("FunctionName") {
                Some(v) => match reference("", v) {
                    Ok(Reference::Logical(id)) => id == r.id,
                    Ok(Reference::Text(t)) => {
                        t == name || t.parse::<Target>().ok().is_some_and(|x| x.name() == name)
                    }
                    Err(_) => false,
                },
                None => false,
            };
            if target {
                let mut ip = Props::new(format!("Resources.{}.Properties", ic.id), &ic.properties);
                let _ = ip.get("FunctionName");
                let _ = ip.string("Qualifier")?;
                self.event_invoke(&mut ip, &mut config.event_invoke, warnings, refs)?;
                ip.finish(warnings)?;
            }
        }
        // SAM's event sources (read by `sam_events`).
        if r.kind == "AWS::Serverless::Function" {
            let _ = p.get("Events");
        }
        let handler_str = p.string("Handler")?;
        let runtime = p.string("Runtime")?;
        let memory = p.int("MemorySize")?;
        if let Some(m) = memory {
            in_range(&r.id, "memorySize", m, 128, 10_240)?;
        }
        let code_uri = match p.get("CodeUri") {
            Some(Value::String(s)) => Some(self.path(s)),
            _ => None,
        };
        p.finish(warnings)?;

        let wpath = format!("Resources.{}.Weir", r.id);
        let mut w = Props::new(wpath.clone(), &r.weir);
        if let Some(state) = w.string("State")? {
            config.state = state
                .parse::<FunctionState>()
                .map_err(|e| ConfigError::at(&w.here("State"), e.message()))?;
        }
        if let Some(v) = w.get("RetryDelays") {
            let at = w.here("RetryDelays");
            let seconds: Vec<i64> = match v {
                Value::Array(items) => items.iter().filter_map(Value::as_integer).collect(),
                _ => Vec::new(),
            };
            match (v.as_array().map(Vec::len), seconds.as_slice()) {
                (Some(2), [first, second])
                    if (0..=21_600).contains(first) && (0..=21_600).contains(second) =>
                {
                    config.event_invoke.retry_delays = [
                        std::time::Duration::from_secs(*first as u64),
                        std::time::Duration::from_secs(*second as u64),
                    ];
                }
                _ => {
                    return Err(type_error(
                        &at,
                        "two whole numbers of seconds (0 to 21600): the waits before the first and the second retry",
                    ))
                }
            }
        }
        let command = w.strings("Command")?;
        let runtime_api = w.strings("RuntimeApi")?;
        let python = w.string("Python")?;
        w.finish(&mut Vec::new())?;
        let cwd = code_uri.clone().unwrap_or_else(|| self.base.clone());
        let spec = |argv: &[String], at: &str| -> Result<ProcessSpec, ConfigError> {
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| ConfigError::at(at, "must name a program"))?;
            let mut spec = ProcessSpec::new(program.clone());
            spec.args = args.to_vec();
            spec.env = env.clone();
            spec.cwd = Some(cwd.clone());
            Ok(spec)
        };
        // A Runtime API function: its environments get the function's name, handler and
        // memory setting; as many may run as its reserved concurrency allows (10 without).
        let runtime_api_handler = |process: ProcessSpec| -> Arc<dyn Handler> {
            let mut c = RuntimeApiConfig::new(name.clone(), process)
                .task_root(cwd.clone())
                .region(router.region());
            if let Some(h) = &handler_str {
                c = c.handler(h.clone());
            }
            if let Some(m) = memory {
                c = c.memory_size_mb(m as u32);
            }
            if let Some(n) = config.reserved_concurrency {
                c = c.max_environments(n as usize);
            }
            Arc::new(RuntimeApiHandler::new(c))
        };
        let handler: Arc<dyn Handler> = match (command, runtime_api) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::at(
                    &wpath,
                    "give Command or RuntimeApi, not both",
                ))
            }
            (Some(argv), None) => Arc::new(CommandHandler::new(spec(
                &argv,
                &format!("{wpath}.Command"),
            )?)),
            (None, Some(argv)) => runtime_api_handler(spec(&argv, &format!("{wpath}.RuntimeApi"))?),
            (None, None) => match (runtime.as_deref(), handler_str.as_deref()) {
                (Some(rt), Some(h)) if rt.starts_with("python") => {
                    // The interpreter: Weir.Python, else $WEIR_PYTHON, else python3.
                    let python = match python {
                        Some(p) if p.contains('/') => self.path(&p).display().to_string(),
                        Some(p) => p,
                        None => std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into()),
                    };
                    runtime_api_handler(spec(
                        &[python, "-m".into(), "awslambdaric".into(), h.to_string()],
                        &path,
                    )?)
                }
                (Some(rt), _) if rt.starts_with("provided") => runtime_api_handler(spec(
                    &[cwd.join("bootstrap").display().to_string()],
                    &path,
                )?),
                _ => {
                    return Err(ConfigError::at(
                        &wpath,
                        "the function needs a handler: Weir.Command (a command per invocation), \
                         Weir.RuntimeApi (a Runtime API process), or Runtime python* / provided* \
                         with Handler (and CodeUri, the code's directory)",
                    ))
                }
            },
        };
        router
            .create_function_arc(config, handler)
            .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
        Ok(name)
    }

    fn rule(
        &self,
        r: &Resource,
        router: &Router,
        warnings: &mut Vec<String>,
    ) -> Result<(String, String), ConfigError> {
        let path = format!("Resources.{}.Properties", r.id);
        let mut p = Props::new(path.clone(), &r.properties);
        let name = p.string("Name")?.unwrap_or_else(|| r.id.clone());
        let bus = match p.get("EventBusName") {
            None => "default".to_string(),
            Some(v) => {
                match self.resolve(&p.here("EventBusName"), v, &["AWS::Events::EventBus"])? {
                    Reference::Logical(n) => n,
                    Reference::Text(t) => {
                        t.parse::<Target>().ok().map_or(t, |x| x.name().to_string())
                    }
                }
            }
        };
        let pattern = match p.get("EventPattern") {
            Some(Value::String(s)) => s.clone(),
            Some(v @ Value::Table(_)) => json_text(v),
            Some(_) => {
                return Err(type_error(
                    &p.here("EventPattern"),
                    "a table or a JSON string",
                ))
            }
            None => return Err(ConfigError::at(&p.here("EventPattern"), "missing")),
        };
        let mut rule = RuleConfig::new(name.clone(), pattern);
        if let Some(state) = p.string("State")? {
            rule.enabled = match state.as_str() {
                "ENABLED" => true,
                "DISABLED" => false,
                _ => {
                    return Err(ConfigError::at(
                        &p.here("State"),
                        "must be ENABLED or DISABLED",
                    ))
                }
            };
        }
        match p.get("Targets") {
            None => {}
            Some(Value::Array(targets)) => {
                for (i, t) in targets.iter().enumerate() {
                    let Value::Table(t) = t else {
                        return Err(type_error(
                            &format!("{path}.Targets[{i}]"),
                            "a table with Id and Arn",
                        ));
                    };
                    let mut tp = Props::new(format!("{path}.Targets[{i}]"), t);
                    let _ = tp.string("Id")?;
                    let arn = tp.get("Arn").ok_or_else(|| {
                        ConfigError::at(&format!("{path}.Targets[{i}].Arn"), "missing")
                    })?;
                    let target = self.target(&format!("{path}.Targets[{i}].Arn"), arn)?;
                    tp.finish(warnings)?;
                    rule.targets.push(target);
                }
            }
            Some(_) => return Err(type_error(&p.here("Targets"), "a list of targets")),
        }
        p.finish(warnings)?;
        router
            .put_rule(&bus, rule)
            .map_err(|e| ConfigError::at(&format!("Resources.{}", r.id), e))?;
        Ok((bus, name))
    }

    fn mapping(
        &self,
        r: &Resource,
        router: &Router,
        warnings: &mut Vec<String>,
    ) -> Result<EventSourceMappingConfig, ConfigError> {
        let path = format!("Resources.{}.Properties", r.id);
        let mut p = Props::new(path.clone(), &r.properties);
        let function = match p.get("FunctionName") {
            Some(v) => match self.resolve(
                &p.here("FunctionName"),
                v,
                &["AWS::Lambda::Function", "AWS::Serverless::Function"],
            )? {
                Reference::Logical(n) | Reference::Text(n) => n,
            },
            None => return Err(ConfigError::at(&p.here("FunctionName"), "missing")),
        };
        let source = match p.get("EventSourceArn") {
            Some(v) => {
                let t = self.target(&p.here("EventSourceArn"), v)?;
                self.arn_of(&t, router)
            }
            None => return Err(ConfigError::at(&p.here("EventSourceArn"), "missing")),
        };
        let mut c = EventSourceMappingConfig::new(function, source);
        c.enabled = p.bool("Enabled")?.unwrap_or(true);
        c.batch_size = p.int("BatchSize")?;
        c.maximum_batching_window_in_seconds = p.int("MaximumBatchingWindowInSeconds")?;
        c.bisect_batch_on_function_error = p.bool("BisectBatchOnFunctionError")?;
        c.maximum_retry_attempts = p.int("MaximumRetryAttempts")?;
        c.maximum_record_age_in_seconds = p.int("MaximumRecordAgeInSeconds")?;
        c.parallelization_factor = p.int("ParallelizationFactor")?;
        c.starting_position = p.string("StartingPosition")?;
        c.function_response_types = p.strings("FunctionResponseTypes")?.unwrap_or_default();
        if let Some(mut sc) = p.table("ScalingConfig")? {
            c.maximum_concurrency = sc.int("MaximumConcurrency")?;
            sc.finish(warnings)?;
        }
        if let Some(mut dc) = p.table("DestinationConfig")? {
            if let Some((at, t)) = self.destination(&mut dc, "OnFailure", warnings)? {
                check_exists(router, &at, &t)?;
                c.on_failure = Some(self.arn_of(&t, router));
            }
            dc.finish(warnings)?;
        }
        if let Some(fc) = p.get("FilterCriteria") {
            let at = p.here("FilterCriteria");
            let Value::Table(fc) = fc else {
                return Err(type_error(&at, "a table with Filters"));
            };
            // Patterns are strings in templates; a TOML table is taken as the pattern's JSON.
            let mut filters = Vec::new();
            match fc.get("Filters") {
                None => {}
                Some(Value::Array(items)) => {
                    for (i, f) in items.iter().enumerate() {
                        let pattern = match f.as_table().and_then(|t| t.get("Pattern")) {
                            Some(Value::String(s)) => s.clone(),
                            Some(v @ Value::Table(_)) => json_text(v),
                            _ => {
                                return Err(type_error(
                                    &format!("{at}.Filters[{i}]"),
                                    "a table with Pattern (a JSON string or a table)",
                                ))
                            }
                        };
                        filters.push(serde_json::json!({ "Pattern": pattern }));
                    }
                }
                Some(_) => return Err(type_error(&format!("{at}.Filters"), "a list")),
            }
            c.filter_criteria = Some(serde_json::json!({ "Filters": filters }).to_string());
        }
        p.finish(warnings)?;
        Ok(c)
    }
}

/// A destination that is neither in the file nor attached to the router (a queue or stream
/// kept elsewhere, such as on Redis) is refused where it is named.
fn check_exists(router: &Router, at: &str, target: &Target) -> Result<(), ConfigError> {
    if router.target_exists(target) {
        return Ok(());
    }
    let kind = match target {
        Target::Function(_) => "function",
        Target::Queue(_) => "queue",
        Target::Stream(_) => "stream",
        Target::Bus(_) => "event bus",
    };
    Err(ConfigError::at(
        at,
        format!("the {kind} {} does not exist", target.name()),
    ))
}

enum QueueBuild {
    WaitsFor,
    Error(ConfigError),
}

impl From<ConfigError> for QueueBuild {
    fn from(e: ConfigError) -> Self {
        QueueBuild::Error(e)
    }
}

impl Deployment {
    /// Sends the configured sample messages, stream records and bus events (stdin for a
    /// stream whose `Records` is `-`), then closes the streams fed from files.
    ///
    /// # Example
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// weir_route::config::Deployment::default().feed(&weir_route::Router::new()).await?;
    /// # Ok::<(), std::io::Error>(())
    /// # })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn feed(&self, router: &Router) -> std::io::Result<()> {
        use tokio::io::AsyncBufReadExt;
        for feed in &self.feeds {
            match feed {
                Feed::QueueInline { queue, bodies } => {
                    if let Some(q) = router.queue(queue) {
                        for body in bodies {
                            q.send(body.clone());
                        }
                    }
                }
                Feed::QueueFile { queue, path } => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| with_path(path, e))?;
                    let mut lines = tokio::io::BufReader::new(file).lines();
                    if let Some(q) = router.queue(queue) {
                        while let Some(line) = lines.next_line().await? {
                            if !line.trim().is_empty() {
                                q.send(line);
                            }
                        }
                    }
                }
                Feed::Bus { bus, path } => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| with_path(path, e))?;
                    let mut lines = tokio::io::BufReader::new(file).lines();
                    let mut n = 0;
                    while let Some(line) = lines.next_line().await? {
                        n += 1;
                        if line.trim().is_empty() {
                            continue;
                        }
                        router.put_event(bus, line.as_bytes()).map_err(|e| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("{}:{n}: {e}", path.display()),
                            )
                        })?;
                    }
                }
                Feed::Stream { stream, path, key } => {
                    let Some(s) = router.stream(stream) else {
                        continue;
                    };
                    match path {
                        Some(path) => {
                            let file = tokio::fs::File::open(path)
                                .await
                                .map_err(|e| with_path(path, e))?;
                            s.feed_jsonl(tokio::io::BufReader::new(file), key.as_deref())
                                .await?;
                        }
                        None => {
                            s.feed_jsonl(
                                tokio::io::BufReader::new(tokio::io::stdin()),
                                key.as_deref(),
                            )
                            .await?;
                        }
                    }
                    s.close();
                }
            }
        }
        Ok(())
    }

    /// Writes the messages of the queues with an `Output` (and removes them from the
    /// queues): to their file, or to `stdout` for `-`.
    ///
    /// # Example
    /// ```
    /// let mut out = Vec::new();
    /// weir_route::config::Deployment::default().write_outputs(&weir_route::Router::new(), &mut out)?;
    /// assert!(out.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_outputs(
        &self,
        router: &Router,
        stdout: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        use std::io::Write as _;
        for output in &self.outputs {
            let Some(queue) = router.queue(&output.queue) else {
                continue;
            };
            let messages = queue.drain();
            match &output.path {
                None => {
                    for m in messages {
                        writeln!(stdout, "{m}")?;
                    }
                }
                Some(path) => {
                    let mut file = std::io::BufWriter::new(
                        std::fs::File::create(path).map_err(|e| with_path(path, e))?,
                    );
                    for m in messages {
                        writeln!(file, "{m}")?;
                    }
                    file.flush()?;
                }
            }
        }
        Ok(())
    }

    /// The counters of every mapping (by logical id) and function (by name). Serialized, it
    /// is `{"EventSourceMappings": {id: {"PolledEventCount": n, ...}}, "Functions": {name:
    /// {"Invocations": n, ...}}}`, each object's counters in Lambda's order.
    ///
    /// # Example
    /// ```
    /// let metrics = weir_route::config::Deployment::default().metrics(&weir_route::Router::new());
    /// assert_eq!(serde_json::to_string(&metrics)?, r#"{"EventSourceMappings":{},"Functions":{}}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn metrics(&self, router: &Router) -> RunMetrics {
        let mut metrics = RunMetrics::default();
        for (id, uuid) in &self.mappings {
            if let Some(m) = router.mapping_metrics(uuid) {
                metrics.event_source_mappings.insert(id.clone(), m);
            }
        }
        for (_, name) in &self.functions {
            if let Some(m) = router.function_metrics(name) {
                metrics.functions.insert(name.clone(), m);
            }
        }
        for (id, bus, name) in &self.rules {
            if let Some(m) = router.rule_metrics(bus, name) {
                metrics.rules.insert(id.clone(), m);
            }
        }
        metrics
    }

    /// Whether a stream is fed from stdin (`Records = "-"`).
    ///
    /// # Example
    /// ```
    /// assert!(!weir_route::config::Deployment::default().reads_stdin());
    /// ```
    pub fn reads_stdin(&self) -> bool {
        self.feeds
            .iter()
            .any(|f| matches!(f, Feed::Stream { path: None, .. }))
    }
}

/// What [`Deployment::metrics`] reports: each mapping's and each function's counters.
///
/// # Example
/// ```
/// let metrics = weir_route::config::RunMetrics::default();
/// assert!(metrics.event_source_mappings.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RunMetrics {
    /// By the mapping's logical id.
    #[serde(rename = "EventSourceMappings")]
    pub event_source_mappings: std::collections::BTreeMap<String, crate::MappingMetrics>,
    /// By the function's name.
    #[serde(rename = "Functions")]
    pub functions: std::collections::BTreeMap<String, crate::FunctionMetrics>,
    /// Bus rules by logical id (left out when there are none).
    #[serde(
        rename = "Rules",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub rules: std::collections::BTreeMap<String, crate::RuleMetrics>,
}

fn with_path(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Totals of the mapping counters (for a progress line).
///
/// # Example
/// ```
/// let t = weir_route::config::totals(&weir_route::Router::new(), &[]);
/// assert_eq!(t.polled, 0);
/// ```
pub fn totals(router: &Router, mappings: &[(String, String)]) -> crate::MappingMetrics {
    let mut t = crate::MappingMetrics::default();
    for (_, uuid) in mappings {
        if let Some(m) = router.mapping_metrics(uuid) {
            t.polled += m.polled;
            t.filtered_out += m.filtered_out;
            t.invoked += m.invoked;
            t.failed_invoke += m.failed_invoke;
            t.dropped += m.dropped;
            t.on_failure_delivered += m.on_failure_delivered;
            t.deleted += m.deleted;
        }
    }
    t
}
