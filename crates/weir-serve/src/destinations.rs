//! Redis queues and streams as the invocation layer's destinations
//! ([`weir_route::Destination`]): attached to a [`weir_route::Router`] with
//! [`weir_route::Router::attach_destination`], they receive the records its functions'
//! on-success / on-failure destinations and dead-letter queues, its mappings' on-failure
//! destinations and its bus rules send them, as an in-memory queue or stream would.

use weir_route::{Destination, DestinationRecord, SendFuture};

use crate::redis_queue::RedisQueue;
use crate::redis_stream::RedisStream;

/// A record becomes a message (its attributes the entry's `attr.NAME` fields).
impl Destination for RedisQueue {
    fn send(&self, record: DestinationRecord) -> SendFuture {
        let queue = self.clone();
        Box::pin(async move {
            let body = String::from_utf8_lossy(&record.body);
            queue
                .send_with_attributes(&body, &record.attributes)
                .await
                .map(|_| ())
                .map_err(|e| format!("Redis queue {}: {e}", queue.config().stream))
        })
    }
}

/// A record goes to its partition key's shard.
impl Destination for RedisStream {
    fn send(&self, record: DestinationRecord) -> SendFuture {
        let stream = self.clone();
        Box::pin(async move {
            stream
                .put_record(&record.partition_key, &record.body)
                .await
                .map(|_| ())
                .map_err(|e| format!("Redis stream {}: {e}", stream.config().name))
        })
    }
}
