//! An event bus: rules with event patterns, compiled together into one [`weir::Matcher`], and
//! their targets. Putting an event delivers it to the targets of every matching rule, each
//! target once per rule, functions invoked asynchronously.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use weir::Matcher;

use crate::error::ValidationError;
use crate::function::Target;

/// A rule (`AWS::Events::Rule`): an event pattern and the targets of the events it matches.
///
/// # Example
/// ```
/// use weir_route::{RuleConfig, Target};
/// let rule = RuleConfig::new("big-orders", r#"{"detail": {"total": [{"numeric": [">", 100]}]}}"#)
///     .target(Target::Function("audit".into()));
/// assert_eq!(rule.targets.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleConfig {
    /// The rule's name (unique on its bus).
    pub name: String,
    /// The event pattern (JSON text).
    pub event_pattern: String,
    /// Where matching events go (at most 5, as EventBridge allows).
    pub targets: Vec<Target>,
    /// `State = ENABLED` (default) or `DISABLED`: a disabled rule matches nothing.
    pub enabled: bool,
}

impl RuleConfig {
    /// An enabled rule with no targets yet.
    ///
    /// # Example
    /// ```
    /// assert!(weir_route::RuleConfig::new("r", "{}").enabled);
    /// ```
    pub fn new(name: impl Into<String>, event_pattern: impl Into<String>) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            event_pattern: event_pattern.into(),
            targets: Vec::new(),
            enabled: true,
        }
    }

    /// Adds a target.
    ///
    /// # Example
    /// ```
    /// use weir_route::{RuleConfig, Target};
    /// let r = RuleConfig::new("r", "{}").target(Target::Queue("q".into()));
    /// assert_eq!(r.targets, [Target::Queue("q".into())]);
    /// ```
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Sets whether the rule is enabled.
    ///
    /// # Example
    /// ```
    /// assert!(!weir_route::RuleConfig::new("r", "{}").enabled(false).enabled);
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

struct Rules {
    matcher: Arc<Matcher>,
    rules: BTreeMap<String, RuleConfig>,
}

pub(crate) struct BusInner {
    pub(crate) name: String,
    rules: RwLock<Rules>,
}

/// An event bus (cheap to clone).
#[derive(Clone)]
pub(crate) struct Bus(pub(crate) Arc<BusInner>);

impl Bus {
    pub(crate) fn new(name: String) -> Bus {
        Bus(Arc::new(BusInner {
            name,
            rules: RwLock::new(Rules {
                matcher: Arc::new(Matcher::new()),
                rules: BTreeMap::new(),
            }),
        }))
    }

    /// Adds or replaces a rule; the matcher is rebuilt from every enabled rule.
    pub(crate) fn put_rule(
        &self,
        rule: RuleConfig,
        options: &weir::Options,
    ) -> Result<(), ValidationError> {
        if rule.name.is_empty()
            || rule.name.len() > 64
            || !rule
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ValidationError::invalid_parameter(format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
                rule.name
            )));
        }
        if rule.targets.len() > 5 {
            return Err(ValidationError::invalid_parameter(format!(
                "rule {}: at most 5 targets, not {}",
                rule.name,
                rule.targets.len()
            )));
        }
        // Check the pattern on its own, so the error is this rule's.
        weir::Pattern::parse_with(&rule.event_pattern, options).map_err(|e| {
            ValidationError::invalid_parameter(format!(
                "Event pattern is not valid. Reason: {}",
                e.reason()
            ))
            .with_type("InvalidEventPatternException")
        })?;
        let mut rules = self.0.rules.write().unwrap_or_else(|e| e.into_inner());
        rules.rules.insert(rule.name.clone(), rule);
        let mut matcher = Matcher::with_options(options.clone());
        for r in rules.rules.values().filter(|r| r.enabled) {
            // Each pattern parsed above; a failure here would be a weir bug, reported.
            matcher
                .add_rule(r.name.as_str(), &r.event_pattern)
                .map_err(|e| {
                    ValidationError::invalid_parameter(format!("rule {}: {}", r.name, e.reason()))
                })?;
        }
        rules.matcher = Arc::new(matcher);
        Ok(())
    }

    /// The names of the rules matching `event` and their targets.
    pub(crate) fn route(
        &self,
        event: &[u8],
    ) -> Result<Vec<(String, Vec<Target>)>, weir::EventError> {
        let rules = self.0.rules.read().unwrap_or_else(|e| e.into_inner());
        let names = rules.matcher.matching_rules(event)?;
        Ok(names
            .into_iter()
            .filter_map(|n| {
                rules
                    .rules
                    .get(n)
                    .map(|r| (n.to_string(), r.targets.clone()))
            })
            .collect())
    }

    pub(crate) fn targets(&self) -> Vec<Target> {
        let rules = self.0.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .rules
            .values()
            .flat_map(|r| r.targets.clone())
            .collect()
    }
}
