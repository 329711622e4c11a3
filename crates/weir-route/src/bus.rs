//! An event bus: rules with event patterns, compiled together into one [`weir::Matcher`], and
//! their targets. Putting an event delivers it to the targets of every matching rule, each
//! target once per rule, functions invoked asynchronously.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use weir::Matcher;

use crate::error::ValidationError;
use crate::function::Target;
use crate::metrics::RuleCounters;

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
    /// Each rule's counters, kept when the rule is replaced.
    counters: BTreeMap<String, Arc<RuleCounters>>,
}

pub(crate) struct BusInner {
    pub(crate) name: String,
    rules: RwLock<Rules>,
}

/// A rule that matched an event.
pub(crate) struct Route {
    pub(crate) name: String,
    pub(crate) targets: Vec<Target>,
    pub(crate) counters: Arc<RuleCounters>,
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
                counters: BTreeMap::new(),
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
        // An event put on a bus by one of its own rules would match that rule again, and
        // again: EventBridge refuses a rule whose target is its own bus.
        if rule.targets.contains(&Target::Bus(self.0.name.clone())) {
            return Err(ValidationError::invalid_parameter(format!(
                "rule {}: a rule cannot target its own event bus {}",
                rule.name, self.0.name
            ))
            .with_type("ValidationException"));
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
        rules.counters.entry(rule.name.clone()).or_default();
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

    /// The names of the rules matching `event`, their targets and their counters.
    pub(crate) fn route(&self, event: &[u8]) -> Result<Vec<Route>, weir::EventError> {
        let rules = self.0.rules.read().unwrap_or_else(|e| e.into_inner());
        let names = rules.matcher.matching_rules(event)?;
        Ok(names
            .into_iter()
            .filter_map(|n| {
                let rule = rules.rules.get(n)?;
                let counters = rules.counters.get(n)?;
                Some(Route {
                    name: n.to_string(),
                    targets: rule.targets.clone(),
                    counters: counters.clone(),
                })
            })
            .collect())
    }

    /// A rule's counters.
    pub(crate) fn counters(&self, rule: &str) -> Option<Arc<RuleCounters>> {
        let rules = self.0.rules.read().unwrap_or_else(|e| e.into_inner());
        rules.counters.get(rule).cloned()
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
