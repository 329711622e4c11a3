//! Counters, named as Lambda's CloudWatch metrics are.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($(#[$meta:meta])* $live:ident, $snap:ident { $($(#[$fmeta:meta])* $field:ident => $name:literal),* $(,)? }) => {
        #[derive(Debug, Default)]
        pub(crate) struct $live {
            $(pub(crate) $field: AtomicU64,)*
        }

        impl $live {
            pub(crate) fn snapshot(&self) -> $snap {
                $snap { $($field: self.$field.load(Ordering::Relaxed),)* }
            }
        }

        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
        #[non_exhaustive]
        pub struct $snap {
            $($(#[$fmeta])* #[serde(rename = $name)] pub $field: u64,)*
        }
    };
}

counters! {
    /// An event source mapping's counters (Lambda's event source mapping metrics), as
    /// [`crate::Router::mapping_metrics`] reads them.
    ///
    /// # Example
    /// ```
    /// let m = weir_route::MappingMetrics::default();
    /// assert_eq!(serde_json::to_value(m).unwrap()["PolledEventCount"], 0);
    /// ```
    MappingCounters, MappingMetrics {
        /// Records read from the source.
        polled => "PolledEventCount",
        /// Records no filter let through (and records Lambda's filtering drops as malformed).
        filtered_out => "FilteredOutEventCount",
        /// Records in batches the function was invoked with (counted once per attempt).
        invoked => "InvokedEventCount",
        /// Records in batches whose invocation failed (function error, timeout, throttle, an
        /// invalid partial-batch response), or that a partial-batch response named.
        failed_invoke => "FailedInvokeEventCount",
        /// Records given up on (retries exhausted or too old), whether or not a destination
        /// received them.
        dropped => "DroppedEventCount",
        /// Records whose batch's failure record reached the on-failure destination.
        on_failure_delivered => "OnFailureDestinationDeliveredEventCount",
        /// Queue messages the mapping deleted: processed, or filtered out.
        deleted => "DeletedEventCount",
    }
}

counters! {
    /// A function's counters (Lambda's function metrics), as
    /// [`crate::Router::function_metrics`] reads them.
    ///
    /// # Example
    /// ```
    /// let m = weir_route::FunctionMetrics::default();
    /// assert_eq!(serde_json::to_value(m).unwrap()["Throttles"], 0);
    /// ```
    FunctionCounters, FunctionMetrics {
        /// Invocations that ran the handler.
        invocations => "Invocations",
        /// Invocations that ended in a function error (timeouts and panics included).
        errors => "Errors",
        /// Invocations refused for concurrency.
        throttles => "Throttles",
        /// Events queued by asynchronous invocation.
        async_events_received => "AsyncEventsReceived",
        /// Asynchronous events discarded (retries exhausted or too old).
        async_events_dropped => "AsyncEventsDropped",
        /// Asynchronous events left unprocessed by [`crate::Router::shutdown`]: waiting for a
        /// retry or a backoff when the router stopped (a weir counter; Lambda never stops).
        async_events_unprocessed => "AsyncEventsUnprocessed",
        /// Records that could not be delivered to a destination.
        destination_delivery_failures => "DestinationDeliveryFailures",
        /// Events that could not be sent to the dead-letter queue.
        dead_letter_errors => "DeadLetterErrors",
    }
}

counters! {
    /// An event bus rule's counters (EventBridge's rule metrics), as
    /// [`crate::Router::rule_metrics`] reads them. Each target of a matching rule is one
    /// invocation, counted when its delivery ends: delivered, or failed for good.
    ///
    /// # Example
    /// ```
    /// let m = weir_route::RuleMetrics::default();
    /// assert_eq!(serde_json::to_value(m).unwrap()["FailedInvocations"], 0);
    /// ```
    RuleCounters, RuleMetrics {
        /// Events the rule matched.
        matched_events => "MatchedEvents",
        /// Target invocations that ended (delivered or failed for good).
        invocations => "Invocations",
        /// Target invocations that failed for good: the target does not exist or refused
        /// the event (a function missing, an event over 1 MB or not JSON), its retries ran
        /// out (a function not ready, or throttled, for 185 attempts or 24 hours), the
        /// router stopped while it waited for a retry, or a bus target of an event that
        /// already came from a bus (events travel one bus-to-bus hop).
        failed_invocations => "FailedInvocations",
    }
}

pub(crate) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}
